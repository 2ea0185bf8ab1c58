//! One read of a function: its Deployment (fetched, checked eligible, a legacy ledger annotation
//! read to migrate it) and its state ConfigMap at once, a write left pending settled, and the
//! snapshot kept for the apply that follows. Apart from `mod.rs`, which sequences reads and
//! writes for the [`Backend`](crate::backend::Backend) trait, as `store.rs` and `protocol.rs` are.

use k8s_openapi::api::apps::v1::Deployment;
use tracing::warn;

use super::errors::{Call, DEPLOYMENTS};
use super::labels::replicas;
use super::state::Version;
use super::{KubernetesBackend, Snapshot, request, scaling_labels};
use crate::backend::{FunctionState, Settled};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

impl KubernetesBackend {
    fn check_eligible(&self, d: &Deployment, function: &FunctionId) -> Result<(), BackendError> {
        let labels = d.metadata.labels.clone().unwrap_or_default();
        if self.selector.matches(&labels) {
            Ok(())
        } else {
            Err(BackendError::Ineligible(format!(
                "{}/{}: the Deployment's labels do not match the selector {:?} \
                 (it is not an OpenFaaS function); it is never scaled",
                function.namespace,
                function.name,
                self.selector.to_string()
            )))
        }
    }

    /// The ledger older versions kept in an annotation (read once, to migrate it).
    pub(super) fn legacy_ledger(&self, d: &Deployment) -> Option<Stored> {
        let text = d
            .metadata
            .annotations
            .as_ref()?
            .get(&self.legacy_annotation)?;
        match serde_json::from_str(text) {
            Ok(entry) => Some(entry),
            Err(e) => {
                warn!(
                    deployment = d.metadata.name.as_deref().unwrap_or_default(),
                    annotation = %self.legacy_annotation,
                    error = %e,
                    "corrupt legacy ledger annotation ignored"
                );
                None
            }
        }
    }

    pub(super) async fn get_deployment(
        &self,
        function: &FunctionId,
    ) -> Result<Deployment, BackendError> {
        let api = self.api(&function.namespace);
        let call = Call::on("get", DEPLOYMENTS, &function.namespace, &function.name);
        Ok(request::run(call, self.timeout, || api.get(&function.name)).await?)
    }

    /// One read of the Deployment and its state: the function's state, or, when a write was left
    /// pending, what settling it moved (the caller reads again).
    pub(super) async fn read_once(
        &self,
        function: &FunctionId,
    ) -> Result<Result<FunctionState, Option<Settled>>, BackendError> {
        // Both objects at once; the Deployment's answer (existence, eligibility) decides first.
        let (d, state) = tokio::join!(self.get_deployment(function), self.get_state(function));
        // A function gone (or no longer eligible) leaves no snapshot behind.
        let forget = |e: BackendError| {
            if matches!(e, BackendError::NotFound(_) | BackendError::Ineligible(_)) {
                self.snapshots_lock().remove(function);
            }
            e
        };
        let d = d.map_err(forget)?;
        self.check_eligible(&d, function).map_err(forget)?;
        let deployment = d
            .metadata
            .resource_version
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                BackendError::Unavailable(format!("deployment {function} has no resourceVersion"))
            })?;
        let current = replicas(&d);
        let (ledger, state) = match state? {
            None => (self.legacy_ledger(&d), None),
            Some(doc) => match &doc.pending {
                None => (doc.ledger, Some(doc.version)),
                // Settled (completed, confirmed or rolled back): read again.
                Some(p) => return Ok(Err(self.settle_pending(function, &doc, p, &d).await?)),
            },
        };
        let version = Version {
            deployment,
            state,
            replicas: current,
        }
        .encode();
        let snapshot = Snapshot {
            version: version.clone(),
            ledger: ledger.clone(),
            uid: d.metadata.uid.clone(),
        };
        self.snapshots_lock().insert(function.clone(), snapshot);
        Ok(Ok(FunctionState {
            replicas: current,
            labels: scaling_labels(&d),
            stored: ledger,
            version: version.into(),
            settled: None,
        }))
    }
}
