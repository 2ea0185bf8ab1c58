//! The authentication middleware: credentials checked before the protected routes, with the
//! per-source limit on failed attempts. Apart from the routing because it is a layer, not a
//! handler, and only installed when credentials are configured.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};
use crate::auth::Auth;
use crate::limits::Recorded;

/// Refuse a request without the right credentials (401, with the challenge) or from a source
/// over its failed-attempt limit (429); a refused webhook counts in the webhook metric.
pub(super) async fn require_auth(
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
