//! HTTP: the router and thin handlers. Handlers extract, call the service, map the result.
//!
//! Status codes follow AlertManager's retry rules: 2xx done, 4xx not retried (bad payload, bad
//! credentials), 5xx retried (a backend failed; the retry is idempotent thanks to the ledger).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{ExtensionRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alert;
use crate::auth::Auth;
use crate::error::{BackendError, PayloadError};
use crate::id::FunctionId;
use crate::limits::{AuthLimiter, Recorded};
use crate::metrics;
use crate::service::Service;

pub(crate) mod deadline;

/// How long `GET /readyz` waits for the backend's checks before it answers 503. Below the
/// readiness probe's `timeoutSeconds` in deploy/deployment.yml (checked by the manifests test), so
/// the kubelet reads an answer naming the problem rather than a timeout of its own.
pub const READYZ_DEADLINE: Duration = Duration::from_secs(5);

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

/// Errors a handler answers with: a status and a JSON body naming the problem.
#[derive(Debug)]
pub enum AppError {
    Payload(PayloadError),
    /// The body is longer than `body_limit_bytes` (the limit).
    BodyTooLarge(usize),
    /// The body could not be read (the connection failed mid-body).
    Body(String),
    Query(QueryRejection),
    /// A query parameter that parsed but names nothing valid: the parameter and the problem.
    InvalidQuery(String),
    Unauthorized(&'static str),
    Backend(BackendError),
    /// Too many failed authentications from this source; retry after the duration.
    TooManyAuthFailures(Duration),
    /// The request took longer than the configured timeout.
    Timeout(Duration),
    NotFound,
    /// The path exists, but not for this method: the method used, the path and the methods it
    /// allows (as the `Allow` header lists them).
    MethodNotAllowed {
        method: Method,
        path: String,
        allowed: &'static str,
    },
    /// A `Content-Encoding` other than identity, or a compressing `Transfer-Encoding`: the header's
    /// name and its value as sent, shortened.
    UnsupportedEncoding(&'static str, String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, message) = match &self {
            // A parse error can quote the offending value: never echo a huge one whole.
            Self::Payload(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                crate::skipped::shorten(&e.to_string(), 4 * crate::skipped::MAX_VALUE_CHARS)
                    .into_owned(),
            ),
            Self::BodyTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the body is longer than body_limit_bytes ({limit} bytes); raise it in the configuration for larger alert groups"
                ),
            ),
            Self::Body(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("Failed to buffer the request body: {e}"),
            ),
            Self::Query(e) => (StatusCode::BAD_REQUEST, "invalid_query", e.body_text()),
            Self::InvalidQuery(problem) => {
                (StatusCode::BAD_REQUEST, "invalid_query", problem.clone())
            }
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
            Self::TooManyAuthFailures(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_auth_failures",
                "too many failed authentications from this address; retry later".into(),
            ),
            Self::Timeout(d) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("request not handled within {} s", d.as_secs()),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such route".into()),
            Self::MethodNotAllowed {
                method,
                path,
                allowed,
            } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{method} {}: method not allowed; this path accepts {allowed}",
                    crate::skipped::shorten(path, crate::skipped::MAX_VALUE_CHARS)
                ),
            ),
            Self::UnsupportedEncoding(header, encoding) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!(
                    "{header} {encoding:?} is not supported: send the body uncompressed \
                     (AlertManager does by default)"
                ),
            ),
        };
        let mut response = (status, Json(ErrorBody { error, message })).into_response();
        if let Self::Unauthorized(challenge) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Self::MethodNotAllowed { allowed, .. } = self {
            // Set here, from the value the body names (axum keeps an `Allow` already present).
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
        }
        if let Self::TooManyAuthFailures(wait) = self {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

async fn require_auth(
    State(state): State<AppState>,
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(state.auth, Auth::None) {
        return next.run(request).await;
    }
    // The peer address (the listener inserts it when authentication is on); unspecified when unknown.
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let now = Instant::now();
    // A webhook answered here (401, 429) counts in the webhook metric as the handler's answers do.
    let webhook = request.uri().path() == "/system/alert";
    let refused = |response: Response| {
        if webhook {
            let metrics = state.service.metrics();
            metrics.webhook(response.status().as_u16(), now.elapsed());
        }
        response
    };
    if let Some(wait) = state.auth_limiter.blocked(ip, now) {
        return refused(AppError::TooManyAuthFailures(wait).into_response());
    }
    if state.auth.allows(request.headers()) {
        next.run(request).await
    } else {
        let recorded = state.auth_limiter.record_failure(ip, now);
        state.service.metrics().auth_failure();
        tracing::warn!(path = %request.uri().path(), %ip, "rejected request with bad or missing credentials");
        if recorded == Recorded::TableFull {
            tracing::debug!(%ip, "failed-auth table full of blocked sources: this source is not tracked");
        }
        refused(AppError::Unauthorized(state.auth.challenge()).into_response())
    }
}

/// Answer 503 with a JSON error when a request takes longer than `timeout` (AlertManager retries
/// 5xx, and a retry is idempotent thanks to the ledger). The server's listener applies the same
/// deadline to every request itself ([`deadline::DeadlineFuture`]); this layer is for a router
/// driven without the listener (tests with `oneshot`).
pub fn with_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(deadline::Deadline::new(timeout))
}

/// Compressed webhook bodies are refused with 415 before they are read: parsing gzip as JSON
/// would only give a confusing error.
fn unsupported_encoding(headers: &HeaderMap) -> Option<AppError> {
    // A compressing transfer coding too: the HTTP server undoes only `chunked`.
    let codings = [
        (
            header::CONTENT_ENCODING,
            "Content-Encoding",
            &["identity"][..],
        ),
        (
            header::TRANSFER_ENCODING,
            "Transfer-Encoding",
            &["identity", "chunked"][..],
        ),
    ];
    for (name, shown_name, allowed) in codings {
        for value in headers.get_all(name) {
            let text = String::from_utf8_lossy(value.as_bytes());
            let unsupported = text
                .split(',')
                .map(str::trim)
                .any(|e| !e.is_empty() && !allowed.iter().any(|a| e.eq_ignore_ascii_case(a)));
            if unsupported {
                let shown = crate::skipped::shorten(&text, 64).into_owned();
                return Some(AppError::UnsupportedEncoding(shown_name, shown));
            }
        }
    }
    None
}

/// Records the webhook's latency into `alertscaler_webhook_duration_seconds{code}` when dropped,
/// so that requests cut off by the request timeout count too (as 503, their answer).
struct WebhookTiming<'a> {
    metrics: &'a crate::metrics::Metrics,
    started: Instant,
    code: u16,
}

impl Drop for WebhookTiming<'_> {
    fn drop(&mut self) {
        self.metrics.webhook(self.code, self.started.elapsed());
    }
}

/// `POST /system/alert`: an AlertManager notification.
async fn alert_webhook(State(state): State<AppState>, request: Request) -> Response {
    let mut timing = WebhookTiming {
        metrics: state.service.metrics().as_ref(),
        started: Instant::now(),
        // Dropped before an answer: the request timeout cut it off, and it is answered 503.
        code: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
    };
    let response = match notify(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    timing.code = response.status().as_u16();
    response
}

async fn notify(state: &AppState, request: Request) -> Result<Response, AppError> {
    if let Some(refused) = unsupported_encoding(request.headers()) {
        return Err(refused);
    }
    let body = read_body(request.into_body(), state.body_limit).await?;
    let notification = alert::parse_notification(&body).map_err(AppError::Payload)?;
    let report = state
        .service
        .handle_notification(&notification, Utc::now())
        .await;
    let status = if report.has_errors() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    // A report is a few hundred bytes: written into a buffer of that size, not grown from 128.
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, &report) {
        Ok(()) => {
            let json = HeaderValue::from_static("application/json");
            Ok((status, [(header::CONTENT_TYPE, json)], body).into_response())
        }
        // Cannot happen (string keys only); answered as axum's `Json` would.
        Err(e) => Ok((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

/// The webhook's body, at most `limit` bytes. Read here rather than through a router-wide body
/// limit layer, which cost every request a boxed service, a boxed future and an extension.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, AppError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    // A declared Content-Length over the limit is refused at once, not after waiting for a body
    // that may never come (until the request timeout).
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(AppError::BodyTooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(AppError::BodyTooLarge(limit)),
        Err(e) => Err(AppError::Body(e.to_string())),
    }
}

/// `GET /system/functions`: functions with their replicas, so the effect of an alert is visible.
/// Sent in pages as the backend writes them ([`crate::service::Listing`]): a backend error before
/// the first page is a 503; one after it ends the body early (the client sees a truncated
/// response, not a `]`).
async fn list_functions(State(state): State<AppState>) -> Result<Response, AppError> {
    let mut listing = state.service.listing(Utc::now());
    let first = match listing.next_page().await {
        Some(page) => page.map_err(AppError::Backend)?,
        None => Vec::new(),
    };
    let json = HeaderValue::from_static("application/json");
    if listing.is_done() {
        return Ok(([(header::CONTENT_TYPE, json)], first).into_response());
    }
    let rest = futures_util::stream::unfold(listing, |mut listing| async move {
        let page = listing.next_page().await?;
        if let Err(e) = &page {
            tracing::warn!(error = %e, "the listing failed after its first page; its body is cut short");
        }
        Some((page, listing))
    });
    let pages = futures_util::StreamExt::chain(
        futures_util::stream::once(std::future::ready(Ok(first))),
        rest,
    );
    let body = axum::body::Body::from_stream(pages);
    Ok(([(header::CONTENT_TYPE, json)], body).into_response())
}

/// About how many bytes of `/metrics` are rendered (and sent) at a time.
const METRICS_CHUNK_BYTES: usize = 8 * 1024;

/// `GET /metrics`: own metrics in the OpenMetrics text format, sent as they are rendered (on a
/// blocking thread, in chunks). The chunks queue without bound, so a slow scraper never holds the
/// rendering, and with it the metric families' locks that decisions take; a scraper that keeps
/// up holds a few chunks, not the whole text.
async fn metrics(State(state): State<AppState>) -> Response {
    let metrics = Arc::clone(state.service.metrics());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::task::spawn_blocking(move || {
        metrics.render_chunked(METRICS_CHUNK_BYTES, |chunk| {
            tx.send(Bytes::from(chunk)).is_ok()
        });
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    let body = axum::body::Body::from_stream(chunks);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsQuery {
    #[serde(default, deserialize_with = "whole_number_saturating")]
    limit: Option<usize>,
    /// Only this function's decisions: `name.namespace`, or `name` in the default namespace.
    #[serde(default)]
    function: Option<String>,
}

/// A whole number ≥ 0 in plain digits; one past the largest `usize` means "all" rather than a 400
/// (the ring never holds that many).
fn whole_number_saturating<'de, D>(deserializer: D) -> Result<Option<usize>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is not a whole number ≥ 0"
        )));
    }
    Ok(Some(text.parse().unwrap_or(usize::MAX)))
}

/// `GET /decisions?limit=N&function=F`: the last decisions (of one function), oldest first.
async fn decisions(
    State(state): State<AppState>,
    query: Result<Query<DecisionsQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(AppError::Query)?;
    let function = match &query.function {
        Some(label) => {
            let namespace = &state.service.settings().identity.default_namespace;
            let id = FunctionId::parse(label, namespace)
                .map_err(|e| AppError::InvalidQuery(format!("function: {e}")))?;
            Some(id.to_string())
        }
        None => None,
    };
    let audit = state.service.audit();
    let decisions = audit.recent_about(query.limit, function.as_deref());
    Ok(Json(json!({"capacity": audit.capacity(), "decisions": decisions})).into_response())
}

/// `GET /readyz`: configuration loaded and backend reachable, answered within [`READYZ_DEADLINE`];
/// says whether dry run is on (a receiver that writes nothing is ready, but not as one that scales).
async fn ready(State(state): State<AppState>) -> Result<Response, AppError> {
    let backend = state.service.backend();
    let Ok(checked) = tokio::time::timeout(READYZ_DEADLINE, backend.ready()).await else {
        return Err(AppError::Backend(BackendError::Unavailable(format!(
            "the {} backend's readiness checks did not answer within {} s",
            backend.name(),
            READYZ_DEADLINE.as_secs()
        ))));
    };
    checked.map_err(AppError::Backend)?;
    let dry_run = state.service.settings().dry_run;
    Ok(
        Json(json!({"status": "ready", "backend": backend.name(), "dry_run": dry_run}))
            .into_response(),
    )
}
