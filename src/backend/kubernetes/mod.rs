//! Kubernetes backend: scale Deployments (OpenFaaS functions as faas-netes creates them, or any
//! Deployment labelled the same way) with kube + k8s-openapi.
//!
//! Replicas are read from and written to the Deployment (`spec.replicas`, an absolute value, under
//! the Deployment's resourceVersion). The function's ledger lives in a state ConfigMap alertscaler
//! owns, written under ITS resourceVersion with an intent/confirm protocol ([`state`]), because
//! faas-netes replaces a Deployment's annotations on every redeploy. Two receivers (an HA pair),
//! a restarted one or a redeploy in between therefore still apply one step per alert episode.
//!
//! Every request names alertscaler (`fieldManager=alertscaler` on writes, a User-Agent on all),
//! retries are alertscaler's own and bounded ([`request`]), and background passes run on the one
//! replica that holds a Lease ([`lease`]).

mod errors;
mod labels;
mod lease;
mod listing;
mod protocol;
mod read;
mod request;
pub mod state;
mod store;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::{instrument, warn};

use self::errors::{Call, DEPLOYMENTS, Failure};
use self::labels::replicas;
pub(crate) use self::labels::scaling_labels;
use self::lease::Election;
use self::state::{Pending, Version};
use self::store::StateWrite;
use super::{Applied, Backend, FunctionState, FunctionSummary, Unreported, Update};
use crate::config::selector::Selector;
use crate::config::{Config, ConfigError};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// `fieldManager` of every write: managedFields and audit logs name alertscaler.
pub(crate) const FIELD_MANAGER: &str = "alertscaler";

/// User-Agent of every request.
pub const USER_AGENT: &str = concat!("alertscaler/", env!("CARGO_PKG_VERSION"));

/// Largest ledger we write (a ConfigMap may hold 1 MiB; a ledger is normally a few KiB, bounded
/// episodes per function).
pub(crate) const MAX_LEDGER_BYTES: usize = 16 * 1024;

/// What a read saw, kept until the apply that follows it (the previous ledger for a rollback,
/// the Deployment's uid to own a new state ConfigMap).
#[derive(Debug, Clone)]
struct Snapshot {
    version: String,
    ledger: Option<Stored>,
    uid: Option<String>,
}

/// Scales Deployments through the Kubernetes API. Cheap to share: wrap it in an `Arc`.
pub struct KubernetesBackend {
    client: Client,
    selector: Selector,
    legacy_annotation: String,
    state_prefix: String,
    allowed_namespaces: Vec<String>,
    timeout: Duration,
    election: Option<Election>,
    snapshots: Mutex<HashMap<FunctionId, Snapshot>>,
    /// Moves a read settled but could not report (it failed after settling).
    unreported: Unreported,
    cache: listing::Cache,
}

impl std::fmt::Debug for KubernetesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesBackend")
            .field("selector", &self.selector.to_string())
            .field("state_prefix", &self.state_prefix)
            .field("allowed_namespaces", &self.allowed_namespaces)
            .field("timeout", &self.timeout)
            .field("election", &self.election)
            .finish_non_exhaustive()
    }
}

impl KubernetesBackend {
    /// Build on an injected client (tests point one at a fake apiserver).
    pub fn new(client: Client, config: &Config) -> Result<Self, ConfigError> {
        let k = &config.kubernetes;
        let selector = k.selector().map_err(|problem| ConfigError::Invalid {
            key: "kubernetes.selector",
            problem,
        })?;
        let election = (!k.lease_namespace.is_empty()).then(|| Election {
            namespace: k.lease_namespace.clone(),
            name: k.lease_name.clone(),
            identity: Election::identity(),
            duration: Duration::from_secs(k.lease_duration_secs),
        });
        Ok(Self {
            client,
            selector,
            legacy_annotation: k.ledger_annotation.clone(),
            state_prefix: k.state_prefix.clone(),
            allowed_namespaces: config.allowed_namespaces.clone(),
            timeout: Duration::from_secs(k.request_timeout_secs),
            election,
            snapshots: Mutex::default(),
            unreported: Unreported::default(),
            cache: listing::Cache::default(),
        })
    }

    /// The client configuration `kube::Config::infer()` finds: `KUBECONFIG` / `~/.kube/config`
    /// first, else the in-cluster service account. kube's own retry layer is turned off (see
    /// [`request`]), our User-Agent is added, and our timeout bounds connect and read.
    pub async fn connect(config: &Config) -> Result<Self, BackendError> {
        let no_client = |e: &dyn std::fmt::Display| {
            BackendError::Unavailable(format!(
                "no Kubernetes client configuration: no usable kubeconfig (KUBECONFIG or \
                 ~/.kube/config) and not running in a cluster (no service account token): {e}"
            ))
        };
        let mut kube_config = kube::Config::infer().await.map_err(|e| no_client(&e))?;
        Self::tune(&mut kube_config, config);
        let client = Client::try_from(kube_config).map_err(|e| no_client(&e))?;
        Self::new(client, config).map_err(|e| BackendError::Unavailable(e.to_string()))
    }

    /// What alertscaler changes in a kube client configuration (also used by tests).
    pub fn tune(kube_config: &mut kube::Config, config: &Config) {
        let timeout = Duration::from_secs(config.kubernetes.request_timeout_secs);
        kube_config.read_timeout = Some(timeout);
        kube_config.connect_timeout = Some(timeout);
        kube_config.default_retry = false;
        kube_config.headers.push((
            axum::http::header::USER_AGENT,
            axum::http::HeaderValue::from_static(USER_AGENT),
        ));
    }

    fn api(&self, namespace: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// `alert::intents` already drops other namespaces; checked again so the backend is safe alone.
    fn check_namespace(&self, function: &FunctionId) -> Result<(), BackendError> {
        if self.allowed_namespaces.contains(&function.namespace) {
            Ok(())
        } else {
            Err(BackendError::Ineligible(format!(
                "{}/{}: namespace {:?} is not in allowed_namespaces {:?}",
                function.namespace, function.name, function.namespace, self.allowed_namespaces
            )))
        }
    }

    /// The absolute replica write, conditioned on the Deployment version that was read.
    async fn patch_replicas(&self, f: &FunctionId, version: &str, to: u32) -> Result<(), Failure> {
        let replicas = i32::try_from(to).map_err(|_| Failure {
            error: BackendError::Ineligible(format!("{f}: {to} replicas is out of range")),
            maybe_applied: false,
        })?;
        let patch = json!({
            "metadata": { "resourceVersion": version },
            "spec": { "replicas": replicas },
        });
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let api = self.api(&f.namespace);
        let call = Call::on("patch", DEPLOYMENTS, &f.namespace, &f.name);
        let patch = Patch::Merge(&patch);
        request::run(call, self.timeout, || api.patch(&f.name, &pp, &patch))
            .await
            .map(|_| ())
    }

    /// Functions whose last read is kept for their next write (diagnostics and tests).
    pub fn cached_reads(&self) -> usize {
        self.snapshots_lock().len()
    }

    fn snapshots_lock(&self) -> std::sync::MutexGuard<'_, HashMap<FunctionId, Snapshot>> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    #[instrument(skip_all, fields(function = %function))]
    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        self.check_namespace(function)?;
        let (state, settled) = match self.read_once(function).await? {
            Ok(state) => (state, None),
            // A record left pending was settled: read again, once (a record pending again is a
            // newer writer's: the caller reads again later). A move settled on the way is kept
            // for the next read if this one fails.
            Err(settled) => match self.read_once(function).await {
                Ok(Ok(state)) => (state, settled),
                failed => {
                    if let Some(settled) = settled {
                        self.unreported.keep(function, settled);
                    }
                    return Err(match failed {
                        Err(e) => e,
                        Ok(_) => BackendError::Conflict(format!(
                            "{function}: another write is in progress; read again"
                        )),
                    });
                }
            },
        };
        Ok(FunctionState {
            settled: self.unreported.take(function, settled),
            ..state
        })
    }

    #[instrument(skip_all, fields(function = %function, replicas = update.replicas))]
    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        self.check_namespace(function)?;
        let conflict = |why: &str| BackendError::Conflict(format!("{function}: {why}"));
        let v = Version::parse(update.version).ok_or_else(|| conflict("version is not ours"))?;
        // Kept (not taken): a concurrent apply of the same read is refused by the apiserver instead.
        let snapshot = { self.snapshots_lock().get(function).cloned() }
            .filter(|s| s.version == update.version)
            .ok_or_else(|| conflict("not read by this backend at this version; read again"))?;
        let size = serde_json::to_string(update.stored).map_or(0, |t| t.len());
        if size > MAX_LEDGER_BYTES {
            return Err(BackendError::Ineligible(format!(
                "{function}: the ledger would be {size} bytes, above the {MAX_LEDGER_BYTES}-byte limit \
                 of the state ConfigMap; nothing was written"
            )));
        }
        let owner_uid = snapshot.uid.as_deref();
        let Some(to) = update.replicas else {
            let write = StateWrite {
                ledger: update.stored,
                pending: None,
                owner_uid,
            };
            self.write_state(function, v.state.as_deref(), write)
                .await?;
            return Ok(Applied::default());
        };
        let pending = Pending {
            from: v.replicas,
            to,
            previous: snapshot.ledger.unwrap_or_default(),
            deployment_version: v.deployment.clone(),
            at: Utc::now(),
            claims: 0,
        };
        let write = StateWrite {
            ledger: update.stored,
            pending: Some(&pending),
            owner_uid,
        };
        // Intent: of two receivers racing on one episode, only one gets past this write.
        let intent = self
            .write_state(function, v.state.as_deref(), write)
            .await?;
        match self.patch_replicas(function, &v.deployment, to).await {
            Ok(()) => {
                self.finish(function, &intent, update.stored, (v.replicas, to))
                    .await?;
                // faas-netes' clamp (CE) reverts a count later, from its informer: the write itself
                // sets what was asked; plan within `[platform]` so nothing is reverted.
                Ok(Applied {
                    replicas: Some(to),
                    note: None,
                })
            }
            Err(failure) => {
                self.after_failed_patch(function, &intent, update.stored, &pending, failure)
                    .await
            }
        }
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        self.list_functions().await
    }

    /// In EVERY allowed namespace: Deployments can be listed and state ConfigMaps read. The
    /// namespaces are probed at once (one after another, slow lists would add up past `/readyz`'s
    /// deadline); the first failure in the configured order is the one reported.
    async fn ready(&self) -> Result<(), BackendError> {
        if self.allowed_namespaces.is_empty() {
            return Err(BackendError::Unavailable(
                "no allowed namespace configured".into(),
            ));
        }
        let probes = self.allowed_namespaces.iter().map(|ns| self.probe(ns));
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .collect()
    }

    async fn leads_passes(&self) -> bool {
        let Some(election) = &self.election else {
            return true;
        };
        match election.leads(&self.client, self.timeout, Utc::now()).await {
            Ok(leads) => leads,
            Err(e) => {
                warn!(error = %e, lease = %format!("{}/{}", election.namespace, election.name),
                    "cannot check the passes Lease; skipping this pass");
                false
            }
        }
    }
}
