//! Typed errors of the library; each variant says what the user must fix.

use thiserror::Error;

/// A webhook body that cannot be acted on. Always a 4xx: AlertManager must not retry it.
#[derive(Debug, Error)]
pub enum PayloadError {
    #[error("invalid webhook payload at `{path}`: {message}")]
    Json { path: String, message: String },
    #[error(
        "unsupported webhook payload version {0:?}: alertscaler reads AlertManager webhook version \"4\""
    )]
    Version(String),
}

/// A backend (memory, Kubernetes, OpenFaaS provider) could not read or write a function.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BackendError {
    /// The function does not exist or is not eligible: a refusal, not a failure.
    #[error("no such function: {0}")]
    NotFound(String),
    /// The function exists but must not be scaled by us (not a function, namespace not allowed …).
    #[error("not an eligible function: {0}")]
    Ineligible(String),
    /// Someone else changed the function since we read it; re-read and decide again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Our credentials are not accepted or lack a permission: an operator must fix configuration.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The backend is down or answered with a server error; AlertManager should retry.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The replicas moved `from` → `to`, but the write could not be confirmed; AlertManager should
    /// retry (the next read settles it). The decision reports the move with the error.
    #[error("backend unavailable: {why}")]
    Unconfirmed { from: u32, to: u32, why: String },
    /// The operation is not offered by this backend.
    #[error("not supported by this backend: {0}")]
    Unsupported(&'static str),
}

impl BackendError {
    /// Whether the failure is transient (answer 503 so AlertManager retries).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Unconfirmed { .. } | Self::Conflict(_)
        )
    }

    /// The message to quote inside another unavailability: an unavailability's own words, without
    /// its "backend unavailable:" prefix (which the new error says once), else the whole message.
    pub(crate) fn cause(&self) -> String {
        match self {
            Self::Unavailable(why) => why.clone(),
            other => other.to_string(),
        }
    }

    /// Short label for metrics.
    pub(crate) fn metric_label(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Ineligible(_) => "ineligible",
            Self::Conflict(_) => "conflict",
            Self::Forbidden(_) => "forbidden",
            Self::Unavailable(_) | Self::Unconfirmed { .. } => "unavailable",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

/// An error and its sources, joined with ": " (transport errors hide the useful part in a source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
