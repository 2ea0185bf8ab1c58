//! kube errors → [`BackendError`], so the service can tell a refusal from a retryable failure, an
//! operator reads which RBAC permission is missing, and an admission denial is shown with the
//! webhook's (or policy's) own message instead of being retried.

use crate::error::BackendError;
use crate::error::error_chain;

/// The API call that failed, for messages: the RBAC verb, the resource and where it was needed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call<'a> {
    /// RBAC verb: `get`, `list`, `create`, `patch` or `update`.
    pub verb: &'static str,
    /// RBAC resource, e.g. `deployments.apps` or `configmaps`.
    pub resource: &'static str,
    pub namespace: &'a str,
    /// The object, when the call names one.
    pub name: Option<&'a str>,
}

/// RBAC resource name of Deployments.
pub(super) const DEPLOYMENTS: &str = "deployments.apps";
/// RBAC resource name of ConfigMaps (the state objects).
pub(super) const CONFIGMAPS: &str = "configmaps";
/// RBAC resource name of Leases.
pub(super) const LEASES: &str = "leases.coordination.k8s.io";

impl<'a> Call<'a> {
    pub fn on(
        verb: &'static str,
        resource: &'static str,
        namespace: &'a str,
        name: &'a str,
    ) -> Self {
        Self {
            verb,
            resource,
            namespace,
            name: Some(name),
        }
    }

    pub fn list(resource: &'static str, namespace: &'a str) -> Self {
        Self {
            verb: "list",
            resource,
            namespace,
            name: None,
        }
    }

    /// Whether the call changes something (writes are retried only when certainly not applied).
    pub(crate) fn is_write(&self) -> bool {
        !matches!(self.verb, "get" | "list")
    }

    fn target(&self) -> String {
        let kind = self.resource.split('.').next().unwrap_or(self.resource);
        let singular = kind.strip_suffix('s').unwrap_or(kind);
        match self.name {
            Some(name) => format!("{singular} {}/{name}", self.namespace),
            None => format!("{kind} in namespace {}", self.namespace),
        }
    }
}

/// A failed call, and whether it may nevertheless have acted (a 5xx, a timeout after sending):
/// such a write's outcome is unknown and must be checked, never rolled back blindly.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub error: BackendError,
    pub maybe_applied: bool,
}

impl From<Failure> for BackendError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

/// Whether an admission controller (webhook, ValidatingAdmissionPolicy, or the ResourceQuota
/// plugin, which answers 403 "exceeded quota") refused the request: no Role fixes it.
fn is_admission_denial(message: &str) -> bool {
    message.contains("admission webhook")
        || message.contains("ValidatingAdmissionPolicy")
        || message.contains("exceeded quota")
}

/// The OwnerReferencesPermissionEnforcement plugin's 403 (OpenShift, for instance): setting the
/// state ConfigMap's owner reference needs `delete` on it, not the verb of the call.
fn needs_delete_for_owner(message: &str) -> bool {
    message.contains("cannot set an ownerRef")
}

/// Map a kube client error for `call` (after `attempts` tries) to the backend's vocabulary.
pub(super) fn map(error: kube::Error, call: Call<'_>, attempts: u32) -> Failure {
    let target = call.target();
    let tries = if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    };
    let definite = |error| Failure {
        error,
        maybe_applied: false,
    };
    match error {
        kube::Error::Api(status) => match status.code {
            409 => definite(BackendError::Conflict(format!(
                "{target} changed since it was read: {}",
                status.message
            ))),
            404 => definite(BackendError::NotFound(format!("{target} does not exist"))),
            400 | 422 | 403 if call.is_write() && is_admission_denial(&status.message) => {
                definite(denied(call, status.code, &status.message))
            }
            400 | 422 => definite(denied(call, status.code, &status.message)),
            403 if needs_delete_for_owner(&status.message) => {
                definite(BackendError::Forbidden(format!(
                    "alertscaler's service account needs `delete` on {} in namespace {} to set the \
                 state ConfigMap's owner reference (the OwnerReferencesPermissionEnforcement \
                 admission plugin is on): add it to the Role in deploy/: {}",
                    call.resource, call.namespace, status.message
                )))
            }
            403 => definite(BackendError::Forbidden(format!(
                "alertscaler's service account needs `{}` on {} in namespace {} \
                 (check the Role and RoleBinding in deploy/): {}",
                call.verb, call.resource, call.namespace, status.message
            ))),
            401 => definite(BackendError::Forbidden(format!(
                "the apiserver rejected alertscaler's credentials (401) on {target}: {}",
                status.message
            ))),
            code => Failure {
                error: BackendError::Unavailable(format!(
                    "apiserver answered {code} {} to `{}` on {target}{tries}: {}",
                    status.reason, call.verb, status.message
                )),
                // 429 is refused before any handling; other statuses may come after a commit.
                maybe_applied: code != 429 && code >= 500,
            },
        },
        other => {
            // A connection that was never made cannot have acted.
            let chain = error_chain(&other);
            let connect = ["tcp connect error", "Connection refused", "dns error"]
                .iter()
                .any(|m| chain.contains(m));
            Failure {
                error: BackendError::Unavailable(format!(
                    "cannot reach the apiserver for `{}` on {target}{tries}: {other}",
                    call.verb
                )),
                maybe_applied: !connect,
            }
        }
    }
}

/// A refusal by validation or admission: permanent for this request, so not retried (200 to
/// AlertManager), with the apiserver's message so the operator sees which policy said no.
fn denied(call: Call<'_>, code: u16, message: &str) -> BackendError {
    BackendError::Ineligible(format!(
        "the apiserver refused `{}` on {} ({code}): {message}",
        call.verb,
        call.target()
    ))
}

/// A call that did not finish within the configured timeout; `last` is the status of an earlier
/// attempt that was retried, if any, so an apiserver answering 503 is reported as such.
pub(super) fn timeout(call: Call<'_>, secs: u64, last: Option<Failure>) -> Failure {
    let error = match last {
        Some(last) => BackendError::Unavailable(format!(
            "{} — and the retry did not finish within {secs}s",
            inner(&last.error)
        )),
        None => BackendError::Unavailable(format!(
            "apiserver did not answer `{}` on {} within {secs}s",
            call.verb,
            call.target()
        )),
    };
    Failure {
        error,
        maybe_applied: true,
    }
}

fn inner(e: &BackendError) -> String {
    match e {
        BackendError::Unavailable(m) => m.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            status: None,
            code,
            message: message.into(),
            metadata: None,
            reason: reason.into(),
            details: None,
        }))
    }

    #[test]
    fn statuses_map_to_what_alertmanager_should_do() {
        let patch = Call::on("patch", DEPLOYMENTS, "openfaas-fn", "echo");
        let get = Call::on("get", DEPLOYMENTS, "openfaas-fn", "echo");
        let webhook =
            "admission webhook \"policy.example.com\" denied the request: replicas frozen";
        for (call, error, want, maybe) in [
            (patch, api(409, "Conflict", "x"), "conflict", false),
            (patch, api(404, "NotFound", "x"), "not_found", false),
            (patch, api(400, "BadRequest", webhook), "ineligible", false),
            (
                patch,
                api(422, "Invalid", "spec.replicas: Invalid value"),
                "ineligible",
                false,
            ),
            (patch, api(403, "Forbidden", webhook), "ineligible", false),
            (get, api(403, "Forbidden", "cannot get"), "forbidden", false),
            (
                patch,
                api(403, "Forbidden", "cannot patch"),
                "forbidden",
                false,
            ),
            (
                patch,
                api(429, "TooManyRequests", "slow down"),
                "unavailable",
                false,
            ),
            (
                patch,
                api(503, "ServiceUnavailable", "x"),
                "unavailable",
                true,
            ),
            (patch, api(504, "Timeout", "x"), "unavailable", true),
        ] {
            let f = map(error, call, 1);
            assert_eq!(
                (f.error.metric_label(), f.maybe_applied),
                (want, maybe),
                "{f:?}"
            );
        }
        // 403s that no Role fixes, or that need another verb than the call's own.
        let create = Call::on("create", CONFIGMAPS, "openfaas-fn", "alertscaler-echo");
        let quota = "configmaps \"alertscaler-echo\" is forbidden: exceeded quota: fn-quota, \
            requested: count/configmaps=1, used: count/configmaps=10, limited: count/configmaps=10";
        let f = map(api(403, "Forbidden", quota), create, 1);
        assert_eq!(f.error.metric_label(), "ineligible", "{f:?}");
        assert!(
            f.error.to_string().contains("exceeded quota")
                && !f.error.to_string().contains("service account needs"),
            "{f:?}"
        );
        let owner = "configmaps \"alertscaler-echo\" is forbidden: cannot set an ownerRef on a \
            resource you can't delete: , <nil>";
        let f = map(api(403, "Forbidden", owner), create, 1);
        assert_eq!(f.error.metric_label(), "forbidden", "{f:?}");
        assert!(
            f.error.to_string().contains("needs `delete` on configmaps"),
            "{f:?}"
        );
        let f = map(api(403, "Forbidden", webhook), patch, 1);
        assert!(f.error.to_string().contains("replicas frozen"), "{f:?}");
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let f = map(kube::Error::Service(Box::new(refused)), patch, 1);
        assert!(!f.maybe_applied, "{f:?}");
        let reset = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        );
        let f = map(kube::Error::Service(Box::new(reset)), patch, 1);
        assert!(f.maybe_applied, "{f:?}");
        let f = map(api(503, "ServiceUnavailable", "down"), get, 4);
        assert!(
            f.error.to_string().contains("503") && f.error.to_string().contains("4 attempts"),
            "{f:?}"
        );
    }
}
