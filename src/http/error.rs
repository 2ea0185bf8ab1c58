//! [`AppError`]: what every error answer says, in one place, so that each status, `error` code
//! and header (`WWW-Authenticate`, `Allow`, `Retry-After`) is the same from every handler and
//! layer that answers with it.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{BackendError, PayloadError};

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
