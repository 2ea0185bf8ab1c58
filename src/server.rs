//! Wiring: configuration → backend → service → router → listener, with graceful shutdown.

use std::future::Future;
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
use crate::config::bounded::{BoundedError, PEM_MAX_BYTES, read_bounded, size};
use crate::config::{BackendKind, Config, TlsConfig};
use crate::connections::ConnectionLimits;
use crate::http::{AppParts, AppState, router};
use crate::limits::AuthLimiter;
use crate::measure::LoadSource;
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
        BackendKind::Openfaas => Ok(Arc::new(OpenFaasBackend::new(config, fresh_state)?)),
        BackendKind::Kubernetes => {
            let backend = KubernetesBackend::connect(config)
                .await
                .context("cannot start the kubernetes backend")?;
            Ok(Arc::new(backend))
        }
    }
}

/// Read every file the configuration names (authentication secret, TLS certificate and key, the
/// OpenFaaS gateway's password and CA, Prometheus's credentials and CA) as `serve` will:
/// `check-config` and `serve` refuse the same configurations, and `serve` before it says it is
/// serving.
pub async fn check_files(config: &Config) -> anyhow::Result<()> {
    Auth::from_config(&config.auth)?;
    if let Some(tls) = &config.tls {
        tls_acceptor(tls).await?;
    }
    if let (BackendKind::Openfaas, Some(path)) = (&config.backend, &config.openfaas.password_file) {
        crate::backend::openfaas::read_password(path)?;
    }
    if config.backend == BackendKind::Openfaas {
        crate::backend::openfaas::read_ca(&config.openfaas)?;
        crate::backend::openfaas::state_file::check_path(&config.openfaas.state_file)?;
    }
    LoadSource::from_config(&config.prometheus)?;
    Ok(())
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

/// How the listener behaves: shutdown deadline, request timeout, connection limits, TLS.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown signal, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// Header-read and idle timeouts, maximum connections.
    pub connections: ConnectionLimits,
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
            connections: config.connections.limits(),
            tls: config.tls.clone(),
        }
    }
}

/// Serve on `listener` until `shutdown` completes; then stop accepting, close idle connections,
/// let in-flight requests finish within `options.shutdown_grace`, and return.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> anyhow::Result<()> {
    let tls = match &options.tls {
        Some(tls) => Some(tls_acceptor(tls).await?),
        None => None,
    };
    let mut limits = options.connections;
    limits.max_connections = fit_open_file_limit(limits.max_connections);
    // The background passes stop at the signal, as the listener does: none starts after it, and
    // a decision in flight finishes (written and recorded) within the same grace period.
    let (signalled, signal_at) = tokio::sync::watch::channel(None);
    let mut stopping = signalled.subscribe();
    let settler = crate::background::spawn_until(state.service.clone(), async move {
        let _ = stopping.wait_for(Option::is_some).await;
    });
    let shutdown = async move {
        shutdown.await;
        signalled.send_replace(Some(tokio::time::Instant::now()));
    };
    // The listener applies the request timeout itself (cheaper than a router layer).
    let per_request = crate::listener::PerRequest {
        timeout: options.request_timeout,
        peer_address: !matches!(state.auth, Auth::None),
    };
    let app = router(state);
    crate::listener::serve(
        listener,
        app,
        per_request,
        tls,
        limits,
        shutdown,
        options.shutdown_grace,
    )
    .await;
    let since = signal_at.borrow().map_or(Duration::ZERO, |at| at.elapsed());
    finish_background(settler, options.shutdown_grace.saturating_sub(since)).await;
    Ok(())
}

/// Wait for the background passes to end (they were told to stop at the signal) for at most
/// `grace`; a pass still deciding then is cut off, as a request is (its write is one a restarted
/// receiver settles: see the backends' write protocols).
async fn finish_background(mut settler: tokio::task::JoinHandle<()>, grace: Duration) {
    if tokio::time::timeout(grace, &mut settler).await.is_err() {
        tracing::warn!("shutdown grace period over: cutting off the background pass in progress");
        settler.abort();
    }
}

/// A TLS acceptor from PEM files, speaking HTTP/1.1 only (the listener has no HTTP/2).
async fn tls_acceptor(tls: &TlsConfig) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let (certs, key) = read_pem(tls)?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "cannot use TLS certificate {} with key {}",
                tls.cert_file.display(),
                tls.key_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The certificate chain and the private key, each file named when it holds none (the TLS
/// library's own words for a missing chain, "peer sent no certificates", are a handshake's). Each
/// file is read with a bound ([`PEM_MAX_BYTES`]): a path to a device is refused, not read forever.
fn read_pem(
    tls: &TlsConfig,
) -> anyhow::Result<(
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
)> {
    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = tls.cert_file.display();
    let certs = read_pem_file("certificate", &tls.cert_file)?;
    let certs = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("TLS certificate file {cert}: {e}"))?;
    if certs.is_empty() {
        anyhow::bail!(
            "TLS certificate file {cert} holds no certificate (no PEM \"BEGIN CERTIFICATE\" block)"
        );
    }
    let key = tls.key_file.display();
    match PrivateKeyDer::from_pem_slice(&read_pem_file("key", &tls.key_file)?) {
        Ok(private) => Ok((certs, private)),
        Err(pem::Error::NoItemsFound) => anyhow::bail!(
            "TLS key file {key} holds no private key (no PEM \"BEGIN … PRIVATE KEY\" block)"
        ),
        Err(e) => anyhow::bail!("TLS key file {key}: {e}"),
    }
}

/// The bytes of the TLS `what` file (certificate or key) at `path`, at most [`PEM_MAX_BYTES`].
fn read_pem_file(what: &str, path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    read_bounded(path, PEM_MAX_BYTES).map_err(|e| match e {
        BoundedError::Io(cause) => anyhow::anyhow!("TLS {what} file {}: {cause}", path.display()),
        BoundedError::TooLarge { limit } => anyhow::anyhow!(
            "TLS {what} file {} is larger than {}: no {what} is that large (is it the right file?)",
            path.display(),
            size(limit)
        ),
    })
}

/// File descriptors kept free of connections (backend clients, state and secret files, logs).
const RESERVED_FILES: u64 = 64;

/// The largest connection limit the open-file limit allows: the soft limit is raised towards the
/// hard one if needed, and `wanted` is lowered (with a warning) if even that is not enough, so
/// that a flood of connections cannot make `accept` fail for everyone.
pub fn fit_open_file_limit(wanted: usize) -> usize {
    let needed = wanted as u64 + RESERVED_FILES;
    let Some((soft, hard)) = open_file_limit() else {
        return wanted;
    };
    let soft = if soft < needed {
        raise_open_file_limit(needed.min(hard), hard).unwrap_or(soft)
    } else {
        soft
    };
    if soft >= needed {
        return wanted;
    }
    let fitted = soft.saturating_sub(RESERVED_FILES).max(1) as usize;
    tracing::warn!(
        wanted,
        fitted,
        open_file_limit = soft,
        "connections.max_connections lowered to fit the open-file limit (raise `ulimit -n`)"
    );
    fitted
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
fn open_file_limit() -> Option<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0;
    ok.then_some((l.rlim_cur as u64, l.rlim_max as u64))
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
fn raise_open_file_limit(soft: u64, hard: u64) -> Option<u64> {
    let l = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we own.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } == 0;
    ok.then_some(soft)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<(u64, u64)> {
    None
}

#[cfg(not(unix))]
fn raise_open_file_limit(_: u64, _: u64) -> Option<u64> {
    None
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not when the
/// future is first polled: a signal that arrives between "serving" and the first poll must not be
/// lost (it was, under load: the process then ignored SIGTERM). Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut term, mut int) = streams;
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}
