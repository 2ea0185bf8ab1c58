//! Wiring: configuration → backend → service → router → listener, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::audit::Audit;
use crate::auth::Auth;
use crate::backend::Backend;
use crate::backend::instrumented::Instrumented;
use crate::backend::kubernetes::KubernetesBackend;
use crate::backend::memory::MemoryBackend;
use crate::backend::openfaas::OpenFaasBackend;
use crate::config::{BackendKind, Config, TlsConfig};
use crate::http::{AppParts, AppState, router};
use crate::limits::{AuthLimiter, with_timeout};
use crate::load::LoadSource;
use crate::metrics::Metrics;
use crate::service::{Service, Settings};

/// Build the backend the configuration names.
pub async fn backend(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    backend_with(config, false).await
}

/// As [`backend`]; `fresh_state` (`serve --fresh-state`) lets the OpenFaaS backend start with an
/// empty ledger when its state file is corrupt instead of refusing to start.
pub async fn backend_with(config: &Config, fresh_state: bool) -> anyhow::Result<Arc<dyn Backend>> {
    match config.backend {
        BackendKind::Memory => Ok(Arc::new(MemoryBackend::new(&config.memory.functions))),
        BackendKind::Openfaas => Ok(Arc::new(OpenFaasBackend::new(
            &config.openfaas,
            config.allowed_namespaces.clone(),
            fresh_state,
        )?)),
        BackendKind::Kubernetes => {
            let backend = KubernetesBackend::connect(config)
                .await
                .context("cannot start the kubernetes backend")?;
            Ok(Arc::new(backend))
        }
    }
}

/// Build the application state from a validated configuration and a backend (which gets timed
/// into the service's metrics).
pub fn state(config: &Config, backend: Arc<dyn Backend>) -> anyhow::Result<AppState> {
    let auth = Auth::from_config(&config.auth)?;
    let metrics = Arc::new(Metrics::new());
    let backend = Instrumented::wrap(backend, metrics.clone());
    let service = Service::new(backend, Settings::from_config(config))
        .with_metrics(metrics)
        .with_audit(Arc::new(Audit::new(config.audit_capacity)))
        .with_load_source(LoadSource::from_config(&config.prometheus)?);
    let limit = config.auth_failure_limit;
    Ok(AppState::new(AppParts {
        service,
        auth,
        body_limit: config.body_limit_bytes,
        auth_limiter: AuthLimiter::new(limit.max_failures, Duration::from_secs(limit.window_secs)),
    }))
}

/// How the listener behaves: shutdown deadline, request timeout, TLS.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown signal, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// Serve HTTPS with these files.
    pub tls: Option<TlsConfig>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl ServeOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            tls: config.tls.clone(),
        }
    }
}

/// Serve on `listener` until `shutdown` completes, then finish in-flight requests (default options).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, state, shutdown, ServeOptions::default()).await
}

/// Serve on `listener` until `shutdown` completes; then stop accepting, let in-flight requests
/// finish within `options.shutdown_grace`, and return.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> anyhow::Result<()> {
    let tls = match &options.tls {
        Some(tls) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                .await
                .with_context(|| {
                    format!(
                        "cannot load TLS certificate {} / key {}",
                        tls.cert_file.display(),
                        tls.key_file.display()
                    )
                })?,
        ),
        None => None,
    };
    let state_for_settle = state.service.clone();
    let app = with_timeout(router(state), options.request_timeout)
        .into_make_service_with_connect_info::<SocketAddr>();
    let settler = crate::background::spawn(state_for_settle);
    let handle = axum_server::Handle::new();
    let trigger = handle.clone();
    let grace = options.shutdown_grace;
    let watcher = tokio::spawn(async move {
        shutdown.await;
        trigger.graceful_shutdown(Some(grace));
    });
    let listener = listener
        .into_std()
        .context("cannot hand the listener over")?;
    let result = match tls {
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(app)
                .await
        }
        Some(config) => {
            axum_server::tls_rustls::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(app)
                .await
        }
    };
    watcher.abort();
    settler.abort();
    result.context("HTTP server failed")
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
