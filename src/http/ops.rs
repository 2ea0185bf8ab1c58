//! The read-only endpoints for operators: `/system/functions`, `/decisions`, `/readyz` and
//! `/metrics`. Apart from the webhook because they change nothing and share none of its checks.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{AppError, AppState};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::metrics;

/// How long `GET /readyz` waits for the backend's checks before it answers 503. Below the
/// readiness probe's `timeoutSeconds` in deploy/deployment.yml (checked by the manifests test), so
/// the kubelet reads an answer naming the problem rather than a timeout of its own.
pub const READYZ_DEADLINE: Duration = Duration::from_secs(5);

/// `GET /system/functions`: functions with their replicas, so the effect of an alert is visible.
/// Sent in pages as the backend writes them ([`crate::service::Listing`]): a backend error before
/// the first page is a 503; one after it ends the body early (the client sees a truncated
/// response, not a `]`).
pub(super) async fn list_functions(State(state): State<AppState>) -> Result<Response, AppError> {
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
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
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

/// The query of `GET /decisions`; an unknown parameter is a 400 rather than ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionsQuery {
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
pub(super) async fn decisions(
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
pub(super) async fn ready(State(state): State<AppState>) -> Result<Response, AppError> {
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
