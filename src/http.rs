//! HTTP: the router and thin handlers. Handlers extract, call the service, map the result.
//!
//! Status codes follow AlertManager's retry rules: 2xx done, 4xx not retried (bad payload, bad
//! credentials), 5xx retried (a backend failed; the retry is idempotent thanks to the ledger).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use crate::alert;
use crate::auth::Auth;
use crate::error::{BackendError, PayloadError};
use crate::service::Service;

/// Shared state of all handlers: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub auth: Arc<Auth>,
    pub body_limit: usize,
}

/// Build the application; tests call this and drive it with `oneshot`.
pub fn router(state: AppState) -> Router {
    let system = Router::new()
        .route("/system/alert", post(alert_webhook))
        .route("/system/functions", get(list_functions))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    Router::new()
        .merge(system)
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .fallback(|| async { AppError::NotFound })
        .layer(DefaultBodyLimit::max(state.body_limit))
        .with_state(state)
}

/// Errors a handler answers with: a status and a JSON body naming the problem.
#[derive(Debug)]
pub enum AppError {
    Payload(PayloadError),
    Body(BytesRejection),
    Unauthorized(&'static str),
    Backend(BackendError),
    NotFound,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, message) = match &self {
            Self::Payload(e) => (StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()),
            Self::Body(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.body_text(),
            ),
            Self::Body(e) => (e.status(), "invalid_body", e.body_text()),
            Self::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong credentials".into(),
            ),
            Self::Backend(BackendError::Unsupported(what)) => (
                StatusCode::NOT_IMPLEMENTED,
                "unsupported",
                format!("{what} is not supported by this backend"),
            ),
            Self::Backend(e) => (StatusCode::SERVICE_UNAVAILABLE, "backend", e.to_string()),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such route".into()),
        };
        let mut response = (status, Json(ErrorBody { error, message })).into_response();
        if let Self::Unauthorized(challenge) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

async fn require_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.auth.allows(request.headers()) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "rejected request with bad or missing credentials");
        AppError::Unauthorized(state.auth.challenge()).into_response()
    }
}

/// `POST /system/alert`: an AlertManager notification.
async fn alert_webhook(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(AppError::Body)?;
    let webhook = alert::parse(&body).map_err(AppError::Payload)?;
    let report = state.service.handle(&webhook, Utc::now()).await;
    let status = if report.has_errors() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report)).into_response())
}

/// `GET /system/functions`: functions with their replicas, so the effect of an alert is visible.
async fn list_functions(State(state): State<AppState>) -> Result<Response, AppError> {
    let functions = state
        .service
        .backend()
        .list()
        .await
        .map_err(AppError::Backend)?;
    Ok(Json(functions).into_response())
}

/// `GET /readyz`: configuration loaded and backend reachable.
async fn ready(State(state): State<AppState>) -> Result<Response, AppError> {
    state
        .service
        .backend()
        .ready()
        .await
        .map_err(AppError::Backend)?;
    Ok(Json(json!({"status": "ready", "backend": state.service.backend().name()})).into_response())
}
