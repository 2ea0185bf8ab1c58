//! kube errors → [`BackendError`], so the service can tell a refusal from a retryable failure and an
//! operator reads which RBAC permission is missing.

use crate::error::BackendError;
use crate::id::FunctionId;

/// The API call that failed, for messages: the RBAC verb and where it was needed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call<'a> {
    /// RBAC verb: `get`, `list` or `patch`.
    pub verb: &'static str,
    pub namespace: &'a str,
    /// The Deployment, when the call names one.
    pub name: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn on(verb: &'static str, function: &'a FunctionId) -> Self {
        Self {
            verb,
            namespace: &function.namespace,
            name: Some(&function.name),
        }
    }

    pub fn list(namespace: &'a str) -> Self {
        Self {
            verb: "list",
            namespace,
            name: None,
        }
    }

    fn target(&self) -> String {
        match self.name {
            Some(name) => format!("deployment {}/{name}", self.namespace),
            None => format!("deployments in namespace {}", self.namespace),
        }
    }
}

/// Map a kube client error for `call` to the backend's error vocabulary.
pub(super) fn map(error: kube::Error, call: Call<'_>) -> BackendError {
    let target = call.target();
    match error {
        kube::Error::Api(status) => match status.code {
            409 => BackendError::Conflict(format!("{target} changed since it was read")),
            404 => BackendError::NotFound(format!("{target} does not exist")),
            403 => BackendError::Forbidden(format!(
                "alertscaler's service account needs `{}` on deployments.apps in namespace {} \
                 (check the Role and RoleBinding in deploy/): {}",
                call.verb, call.namespace, status.message
            )),
            401 => BackendError::Forbidden(format!(
                "the apiserver rejected alertscaler's credentials (401) on {target}: {}",
                status.message
            )),
            code => BackendError::Unavailable(format!(
                "apiserver answered {code} {} to `{}` on {target}: {}",
                status.reason, call.verb, status.message
            )),
        },
        other => BackendError::Unavailable(format!(
            "cannot reach the apiserver for `{}` on {target}: {other}",
            call.verb
        )),
    }
}

/// A request that did not finish within the configured timeout.
pub(super) fn timeout(call: Call<'_>, secs: u64) -> BackendError {
    BackendError::Unavailable(format!(
        "apiserver did not answer `{}` on {} within {secs}s",
        call.verb,
        call.target()
    ))
}
