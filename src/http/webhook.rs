//! `POST /system/alert`: the webhook. The only handler that reads a body, so its checks (encoding,
//! size) and its latency metric live with it rather than in router-wide layers.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{AppError, AppState};
use crate::alert;

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
pub(super) async fn alert_webhook(State(state): State<AppState>, request: Request) -> Response {
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

/// Check, read and parse the notification, hand it to the service, and answer with its report
/// (503 when any function's decision failed, so AlertManager retries).
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
