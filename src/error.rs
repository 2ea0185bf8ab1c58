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

/// What an HTTPS client's error asks the operator to do about `key` (a `ca_file`, `set` or not):
/// `Some` when the handshake refused the server's certificate as signed by no trusted CA, the
/// failure a `ca_file` fixes, `None` for any other error.
pub(crate) fn ca_hint(
    e: &(dyn std::error::Error + 'static),
    key: &str,
    set: bool,
) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        if untrusted_issuer(e) {
            let words = "the server's certificate is signed by no CA trusted here";
            return Some(if set {
                format!("{words}: check that {key} holds the CA that signed it")
            } else {
                format!("{words} (a private CA?): set {key} to that CA's certificate (PEM)")
            });
        }
        next = e.source();
    }
    None
}

/// Whether `e` is rustls's `UnknownIssuer` (no trusted CA of the issuer's name) or `BadSignature`
/// (one of that name but another key: a CA renewed with a new key), or an io::Error holding one:
/// tokio-rustls reports a handshake's error inside one, which a connector may wrap again, and an
/// io::Error's `source` skips what it holds.
fn untrusted_issuer(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            use rustls::CertificateError::{BadSignature, UnknownIssuer};
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(UnknownIssuer | BadSignature)
            );
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => e = inner,
            None => return false,
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

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use rustls::CertificateError;

    use super::ca_hint;

    /// As reqwest's connector reports a refused handshake: rustls's error in an io::Error in another.
    fn handshake(cause: CertificateError) -> Error {
        let tls = rustls::Error::InvalidCertificate(cause);
        Error::other(Error::new(ErrorKind::InvalidData, tls))
    }

    #[test]
    fn only_a_certificate_of_an_untrusted_ca_asks_for_the_ca_file() {
        for cause in [
            CertificateError::UnknownIssuer,
            CertificateError::BadSignature,
        ] {
            let unset = ca_hint(&handshake(cause.clone()), "openfaas.ca_file", false).unwrap();
            assert!(unset.contains("set openfaas.ca_file to"), "{unset}");
            let set = ca_hint(&handshake(cause), "openfaas.ca_file", true).unwrap();
            assert!(set.contains("check that openfaas.ca_file holds"), "{set}");
        }
        // An expired certificate or a wrong name is not fixed by a CA: no hint.
        for other in [CertificateError::Expired, CertificateError::NotValidForName] {
            assert_eq!(ca_hint(&handshake(other), "openfaas.ca_file", false), None);
        }
        let refused = Error::new(ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(ca_hint(&refused, "openfaas.ca_file", false), None);
    }
}
