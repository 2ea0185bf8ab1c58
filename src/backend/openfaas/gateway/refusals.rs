//! The errors a gateway's refusal maps to: credentials, a namespace OpenFaaS CE does not serve,
//! faasd's refusal of 0, each carrying a snippet of the gateway's own words. Pure, so each wording
//! is tested without a gateway.

use reqwest::StatusCode;

use crate::error::BackendError;
use crate::id::FunctionId;

/// The one namespace an OpenFaaS CE provider serves.
const CE_NAMESPACE: &str = "openfaas-fn";

/// A 4xx other than 404: credentials, or a namespace/request the gateway will not serve.
pub(super) fn refusal(id: &FunctionId, status: StatusCode, body: &[u8]) -> BackendError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => credentials(status),
        StatusCode::BAD_REQUEST => {
            let refused = format!(
                "{id}: the gateway refused the request (400: {})",
                snippet(body)
            );
            // CE's provider answers 400 for any namespace but its own; in openfaas-fn a 400 is
            // something else, said by the body alone.
            BackendError::Ineligible(if id.namespace == CE_NAMESPACE {
                refused
            } else {
                format!("{refused}; OpenFaaS CE serves only the {CE_NAMESPACE} namespace")
            })
        }
        s => BackendError::Unavailable(format!("{id}: gateway answered {s}: {}", snippet(body))),
    }
}

/// A 400 to a scale: the gateway's own words; faasd's refusal of 0 is named only for a scale to 0
/// (another 400 is something else: a quota, a namespace, a body the provider did not accept).
pub(super) fn scale_refused(id: &FunctionId, replicas: u32, body: &[u8]) -> BackendError {
    let refused = format!(
        "{id}: the gateway refused to scale to {replicas} (400: {})",
        snippet(body)
    );
    BackendError::Ineligible(if replicas == 0 {
        format!(
            "{refused}; faasd rejects 0: set [platform] scale_to_zero = false to plan within it"
        )
    } else {
        refused
    })
}

pub(super) fn credentials(status: StatusCode) -> BackendError {
    BackendError::Forbidden(format!(
        "gateway rejected the credentials ({status}): check openfaas.username/password_file"
    ))
}

pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None if text.is_empty() => "(empty body)".into(),
        None => text.to_owned(),
    }
}
