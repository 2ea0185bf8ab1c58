//! Wiring: configuration → backend → service → router → listener, with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::backend::Backend;
use crate::backend::memory::MemoryBackend;
use crate::config::{BackendKind, Config};
use crate::http::{AppState, router};
use crate::load::LoadSource;
use crate::service::{Service, Settings};

/// Build the backend the configuration names.
pub async fn backend(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    match config.backend {
        BackendKind::Memory => Ok(Arc::new(MemoryBackend::new(&config.memory.functions))),
        other => anyhow::bail!("backend {other:?} is not available in this build yet"),
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
