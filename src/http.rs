//! HTTP: the router and thin handlers. Handlers extract, call the service, map the result.
//!
//! Status codes follow AlertManager's retry rules: 2xx done, 4xx not retried (bad payload, bad
//! credentials), 5xx retried (a backend failed; the retry is idempotent thanks to the ledger).
//!
//! # Layout
//! This file holds the shared state and the routing (which path, which method, which layer);
//! what answers lives beside it:
//! - `error`: [`AppError`], every error answer's status, JSON body and headers;
//! - `auth`: the authentication middleware and its failed-attempt limit;
//! - `webhook`: `POST /system/alert` (encoding check, bounded body, timing);
//! - `ops`: the read-only endpoints for operators (`/system/functions`, `/decisions`, `/readyz`,
//!   `/metrics`);
//! - `deadline`: the request timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Auth;
use crate::limits::AuthLimiter;
use crate::service::Service;

mod auth;
pub(crate) mod deadline;
mod error;
mod ops;
mod webhook;

use auth::require_auth;
pub use error::AppError;
pub use ops::READYZ_DEADLINE;
use ops::{decisions, list_functions, metrics, ready};
use webhook::alert_webhook;

/// Shared state of all handlers: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// What handlers share. Behind one `Arc`, so that the per-request clones axum makes (state
/// extractor, middleware) cost one atomic increment rather than one per field.
pub struct AppParts {
    pub service: Service,
    pub auth: Auth,
    pub body_limit: usize,
    /// Per-source-IP limit on failed authentications.
    pub auth_limiter: AuthLimiter,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// Build the application; tests call this and drive it with `oneshot`. Middleware only where it
/// is configured: without credentials to check, `/system/*` has no authentication layer, and the
/// webhook's own checks and timing live in its handler.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/system/alert", post_only(alert_webhook))
        .route("/system/functions", get_only(list_functions))
        .route("/decisions", get_only(decisions));
    if !matches!(state.auth, Auth::None) {
        // `route_layer` covers the routes above only.
        app = app.route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    }
    app.route(
        "/healthz",
        get_only(|| async { Json(json!({"status": "ok"})) }),
    )
    .route("/readyz", get_only(ready))
    .route("/metrics", get_only(metrics))
    .fallback(|| async { AppError::NotFound })
    .with_state(state)
}

/// A route for GET (axum answers HEAD with it too); any other method is a JSON 405 naming both.
fn get_only<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    with_405(get(handler), "GET, HEAD")
}

/// A route for POST; any other method is a JSON 405 naming it.
fn post_only<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    with_405(post(handler), "POST")
}

/// `route` answering any method it lacks with a 405 that names the method used and `allowed`, in
/// the body and in `Allow`: each route says its own methods, not the webhook's.
fn with_405(route: MethodRouter<AppState>, allowed: &'static str) -> MethodRouter<AppState> {
    route.fallback(move |method: Method, uri: Uri| async move {
        AppError::MethodNotAllowed {
            method,
            path: uri.path().to_owned(),
            allowed,
        }
    })
}

/// Answer 503 with a JSON error when a request takes longer than `timeout` (AlertManager retries
/// 5xx, and a retry is idempotent thanks to the ledger). The server's listener applies the same
/// deadline to every request itself ([`deadline::DeadlineFuture`]); this layer is for a router
/// driven without the listener (tests with `oneshot`).
pub fn with_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(deadline::Deadline::new(timeout))
}
