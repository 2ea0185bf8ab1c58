//! Reading and writing the state ConfigMap (see [`super::state`] for the protocol).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tracing::warn;

use super::errors::{CONFIGMAPS, Call, Failure};
use super::state::{self, FUNCTION_LABEL, LEDGER_KEY, MANAGED_BY, PENDING_KEY, Pending};
use super::{FIELD_MANAGER, KubernetesBackend, request};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// The state ConfigMap as read.
#[derive(Debug, Clone)]
pub(super) struct StateDoc {
    /// Its resourceVersion.
    pub version: String,
    pub ledger: Option<Stored>,
    pub pending: Option<Pending>,
}

/// What a write puts into the state ConfigMap.
pub(super) struct StateWrite<'a> {
    pub ledger: &'a Stored,
    pub pending: Option<&'a Pending>,
    /// uid of the Deployment, to own a newly created ConfigMap (deleted with the function).
    pub owner_uid: Option<&'a str>,
}

fn decode<T: serde::de::DeserializeOwned>(cm: &ConfigMap, key: &str) -> Option<T> {
    let text = cm.data.as_ref()?.get(key)?;
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            warn!(configmap = cm.metadata.name.as_deref().unwrap_or_default(), key, error = %e,
                "corrupt value in the state ConfigMap ignored; it is overwritten on the next write");
            None
        }
    }
}

/// The function a state ConfigMap belongs to: its annotation, else (written by an earlier
/// version, for a name short enough to be a label value) its label.
pub(super) fn function_of(cm: &ConfigMap) -> Option<String> {
    let annotated = cm.metadata.annotations.as_ref();
    let labelled = cm.metadata.labels.as_ref();
    annotated
        .and_then(|a| a.get(FUNCTION_LABEL))
        .or_else(|| labelled.and_then(|l| l.get(FUNCTION_LABEL)))
        .cloned()
}

/// The ledger stored in a state ConfigMap (corrupt → `None`, logged).
pub(super) fn ledger_of(cm: &ConfigMap) -> Option<Stored> {
    decode(cm, LEDGER_KEY)
}

fn encode(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure {
        error: BackendError::Unavailable(format!("cannot encode the state: {e}")),
        maybe_applied: false,
    })
}

impl KubernetesBackend {
    fn configmaps(&self, namespace: &str) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn state_name(&self, function: &FunctionId) -> String {
        state::object_name(&self.state_prefix, &function.name)
    }

    /// The function's state ConfigMap, `None` if it does not exist yet.
    pub(super) async fn get_state(
        &self,
        function: &FunctionId,
    ) -> Result<Option<StateDoc>, BackendError> {
        let name = self.state_name(function);
        let api = self.configmaps(&function.namespace);
        let call = Call::on("get", CONFIGMAPS, &function.namespace, &name);
        let Some(cm) = request::run(call, self.timeout, || api.get_opt(&name)).await? else {
            return Ok(None);
        };
        let owner = function_of(&cm);
        if owner.as_deref().is_some_and(|owner| owner != function.name) {
            // Only a name crafted to equal another function's shortened one gets here.
            return Err(BackendError::Ineligible(format!(
                "{function}: its state ConfigMap {name} belongs to function {:?}; rename one of them",
                owner.unwrap_or_default()
            )));
        }
        Ok(Some(StateDoc {
            version: cm.metadata.resource_version.clone().unwrap_or_default(),
            ledger: ledger_of(&cm),
            pending: decode(&cm, PENDING_KEY),
        }))
    }

    /// Write the state under `version` (`None`: create it; 409 if it exists by then). Returns the
    /// new resourceVersion.
    pub(super) async fn write_state(
        &self,
        function: &FunctionId,
        version: Option<&str>,
        write: StateWrite<'_>,
    ) -> Result<String, Failure> {
        let name = self.state_name(function);
        let ns = function.namespace.as_str();
        let api = self.configmaps(ns);
        let ledger = encode(write.ledger)?;
        let pending = match write.pending {
            Some(p) => Value::String(encode(p)?),
            None => Value::Null,
        };
        let written = match version {
            Some(version) => {
                // A merge patch: `null` removes the pending key; resourceVersion is a precondition.
                let patch = json!({
                    "metadata": { "resourceVersion": version },
                    "data": { LEDGER_KEY: ledger, PENDING_KEY: pending },
                });
                let pp = PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                let call = Call::on("patch", CONFIGMAPS, ns, &name);
                let patch = Patch::Merge(&patch);
                request::run(call, self.timeout, || api.patch(&name, &pp, &patch))
                    .await
                    .map_err(gone_is_a_conflict)?
            }
            None => {
                let mut data = json!({ LEDGER_KEY: ledger });
                if !pending.is_null() {
                    data[PENDING_KEY] = pending;
                }
                let mut cm = json!({
                    "metadata": {
                        "name": name, "namespace": ns,
                        "labels": {
                            MANAGED_BY.0: MANAGED_BY.1,
                            FUNCTION_LABEL: state::label_value(&function.name),
                        },
                        "annotations": { FUNCTION_LABEL: function.name },
                    },
                    "data": data,
                });
                if let Some(uid) = write.owner_uid {
                    cm["metadata"]["ownerReferences"] = json!([{
                        "apiVersion": "apps/v1", "kind": "Deployment",
                        "name": function.name, "uid": uid,
                    }]);
                }
                let cm: ConfigMap = serde_json::from_value(cm).map_err(|e| Failure {
                    error: BackendError::Unavailable(format!("cannot build the state: {e}")),
                    maybe_applied: false,
                })?;
                let pp = PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                };
                let call = Call::on("create", CONFIGMAPS, ns, &name);
                request::run(call, self.timeout, || api.create(&pp, &cm)).await?
            }
        };
        Ok(written.metadata.resource_version.unwrap_or_default())
    }
}

/// The state object that was read is gone (deleted by hand to reset a ledger, or by the garbage
/// collector after its Deployment was removed): a reason to read again, which creates it, not
/// "no such function".
fn gone_is_a_conflict(failure: Failure) -> Failure {
    match failure.error {
        BackendError::NotFound(why) => Failure {
            error: BackendError::Conflict(format!("the state object went away: {why}")),
            maybe_applied: false,
        },
        _ => failure,
    }
}
