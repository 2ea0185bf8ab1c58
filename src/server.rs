//! Wiring: configuration → backend → service → router → listener, with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::backend::Backend;
use crate::backend::kubernetes::KubernetesBackend;
use crate::backend::memory::MemoryBackend;
use crate::backend::openfaas::OpenFaasBackend;
use crate::config::{BackendKind, Config};
use crate::http::{AppState, router};
use crate::load::LoadSource;
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

/// Build the application state from a validated configuration and a backend.
pub fn state(config: &Config, backend: Arc<dyn Backend>) -> anyhow::Result<AppState> {
    let auth = Auth::from_config(&config.auth)?;
    Ok(AppState {
        service: Service::new(backend, Settings::from_config(config))
            .with_load_source(LoadSource::from_config(&config.prometheus)?),
        auth: Arc::new(auth),
        body_limit: config.body_limit_bytes,
    })
}

/// Serve on `listener` until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settler = crate::settle::spawn(state.service.clone());
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed");
    settler.abort();
    served
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
