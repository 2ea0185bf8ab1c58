//! Kubernetes backend: scale Deployments (OpenFaaS functions as faas-netes creates them, or any
//! Deployment labelled the same way) with kube + k8s-openapi.
//!
//! The function's ledger entry is stored on the Deployment itself, as JSON in one annotation, and
//! written in ONE JSON merge patch together with `spec.replicas`. The patch carries the
//! `metadata.resourceVersion` that was read: the apiserver treats it as a precondition and answers
//! 409 if anyone wrote the Deployment in between. Two receivers (an HA pair) or a restarted one
//! therefore see the same ledger and can never both apply one alert episode.

mod errors;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tracing::{instrument, warn};

use self::errors::Call;
use super::{Backend, FunctionState, FunctionSummary, Update};
use crate::config::selector::Selector;
use crate::config::{Config, ConfigError};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// Largest ledger annotation we write. Kubernetes allows 256 KiB for all annotations of an
/// object together; a ledger is normally well under 4 KiB (bounded episodes per function).
pub const MAX_LEDGER_BYTES: usize = 16 * 1024;

/// Prefix of the scaling keys that are also read from annotations.
const SCALE_PREFIX: &str = "com.openfaas.scale.";

/// Scales Deployments through the Kubernetes API. Cheap to share: wrap it in an `Arc`.
#[derive(Clone)]
pub struct KubernetesBackend {
    client: Client,
    selector: Selector,
    ledger_annotation: String,
    allowed_namespaces: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for KubernetesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesBackend")
            .field("selector", &self.selector.to_string())
            .field("ledger_annotation", &self.ledger_annotation)
            .field("allowed_namespaces", &self.allowed_namespaces)
            .field("timeout", &self.timeout)
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
        Ok(Self {
            client,
            selector,
            ledger_annotation: k.ledger_annotation.clone(),
            allowed_namespaces: config.allowed_namespaces.clone(),
            timeout: Duration::from_secs(k.request_timeout_secs),
        })
    }

    /// The client configuration `kube::Client::try_default()` would use (in-cluster service account,
    /// else `KUBECONFIG` / `~/.kube/config`), with our request timeout; a clear error if neither works.
    pub async fn connect(config: &Config) -> Result<Self, BackendError> {
        let no_client = |e: &dyn std::fmt::Display| {
            BackendError::Unavailable(format!(
                "no Kubernetes client configuration: not running in a cluster (no service account \
                 token) and no usable kubeconfig (KUBECONFIG or ~/.kube/config): {e}"
            ))
        };
        let mut kube_config = kube::Config::infer().await.map_err(|e| no_client(&e))?;
        let timeout = Duration::from_secs(config.kubernetes.request_timeout_secs);
        kube_config.read_timeout = Some(timeout);
        kube_config.connect_timeout = Some(timeout);
        let client = Client::try_from(kube_config).map_err(|e| no_client(&e))?;
        Self::new(client, config).map_err(|e| BackendError::Unavailable(e.to_string()))
    }

    fn api(&self, namespace: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Run one API call under the timeout, mapping its error.
    async fn call<T>(
        &self,
        call: Call<'_>,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(|e| errors::map(e, call)),
            Err(_) => Err(errors::timeout(call, self.timeout.as_secs())),
        }
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

    /// The stored ledger; a corrupt annotation is treated as empty (logged), see docs/kubernetes.md.
    fn stored_state(&self, d: &Deployment) -> Option<Stored> {
        let text = d
            .metadata
            .annotations
            .as_ref()?
            .get(&self.ledger_annotation)?;
        match serde_json::from_str(text) {
            Ok(entry) => Some(entry),
            Err(e) => {
                warn!(
                    deployment = d.metadata.name.as_deref().unwrap_or_default(),
                    annotation = %self.ledger_annotation,
                    error = %e,
                    "corrupt ledger annotation ignored; it is overwritten on the next write"
                );
                None
            }
        }
    }
}

/// Replicas as Kubernetes defaults them: an absent `spec.replicas` means 1.
fn replicas(d: &Deployment) -> u32 {
    let r = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    u32::try_from(r).unwrap_or(0)
}

/// The labels the scaling rules are read from, lowest precedence first:
/// `com.openfaas.scale.*` annotations of the Deployment, then those of the pod template, then the
/// Deployment's labels, then the pod template's labels (where faas-netes puts a function's labels,
/// and what OpenFaaS itself reports). A later source overrides an earlier one key by key.
pub fn scaling_labels(d: &Deployment) -> BTreeMap<String, String> {
    let template = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    let scale_annotations = |a: Option<&BTreeMap<String, String>>| {
        a.into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(SCALE_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let mut merged = BTreeMap::new();
    merged.extend(scale_annotations(d.metadata.annotations.as_ref()));
    merged.extend(scale_annotations(
        template.and_then(|t| t.annotations.as_ref()),
    ));
    merged.extend(d.metadata.labels.clone().unwrap_or_default());
    merged.extend(template.and_then(|t| t.labels.clone()).unwrap_or_default());
    merged
}

#[async_trait]
impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    #[instrument(skip_all, fields(function = %function))]
    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        self.check_namespace(function)?;
        let api = self.api(&function.namespace);
        let d = self
            .call(Call::on("get", function), api.get(&function.name))
            .await?;
        self.check_eligible(&d, function)?;
        let version = d
            .metadata
            .resource_version
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                BackendError::Unavailable(format!("deployment {function} has no resourceVersion"))
            })?;
        Ok(FunctionState {
            replicas: replicas(&d),
            labels: scaling_labels(&d),
            stored: self.stored_state(&d),
            version,
        })
    }

    #[instrument(skip_all, fields(function = %function, replicas = update.replicas))]
    async fn apply(&self, function: &FunctionId, update: Update<'_>) -> Result<(), BackendError> {
        self.check_namespace(function)?;
        let ledger = serde_json::to_string(update.stored)
            .map_err(|e| BackendError::Unavailable(format!("cannot encode the ledger: {e}")))?;
        if ledger.len() > MAX_LEDGER_BYTES {
            return Err(BackendError::Ineligible(format!(
                "{function}: the ledger would be {} bytes, above the {MAX_LEDGER_BYTES}-byte limit of \
                 the {} annotation; nothing was written",
                ledger.len(),
                self.ledger_annotation
            )));
        }
        // resourceVersion in a merge patch is a precondition: 409 if the Deployment moved.
        let mut patch = json!({
            "metadata": {
                "resourceVersion": update.version,
                "annotations": { self.ledger_annotation.as_str(): ledger },
            }
        });
        if let Some(r) = update.replicas {
            let r = i32::try_from(r).map_err(|_| {
                BackendError::Ineligible(format!("{function}: {r} replicas is out of range"))
            })?;
            patch["spec"] = json!({ "replicas": r });
        }
        let api = self.api(&function.namespace);
        let params = PatchParams::default();
        self.call(
            Call::on("patch", function),
            api.patch(&function.name, &params, &Patch::Merge(&patch)),
        )
        .await?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let params = ListParams::default().labels(&self.selector.to_string());
        let mut functions = Vec::new();
        for namespace in &self.allowed_namespaces {
            let api = self.api(namespace);
            let list = self.call(Call::list(namespace), api.list(&params)).await?;
            for d in list.items {
                let labels = d.metadata.labels.clone().unwrap_or_default();
                if !self.selector.matches(&labels) {
                    continue;
                }
                functions.push(FunctionSummary::new(
                    d.metadata.name.clone().unwrap_or_default(),
                    namespace.clone(),
                    replicas(&d),
                    scaling_labels(&d),
                    self.stored_state(&d).as_ref(),
                ));
            }
        }
        Ok(functions)
    }

    /// A cheap list (limit 1) in the first allowed namespace: reachable, and allowed to `list`.
    async fn ready(&self) -> Result<(), BackendError> {
        let namespace = self
            .allowed_namespaces
            .first()
            .ok_or_else(|| BackendError::Unavailable("no allowed namespace configured".into()))?;
        let params = ListParams::default()
            .labels(&self.selector.to_string())
            .limit(1);
        self.call(Call::list(namespace), self.api(namespace).list(&params))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_labels_precedence_template_labels_then_labels_then_annotations() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {
                "name": "echo",
                "labels": { "faas_function": "echo", "com.openfaas.scale.max": "8", "com.openfaas.scale.min": "2" },
                "annotations": {
                    "com.openfaas.scale.max": "1", "com.openfaas.scale.factor": "30",
                    "com.openfaas.scale.zero": "true", "kubectl.kubernetes.io/last-applied-configuration": "{}"
                },
            },
            "spec": {
                "selector": {},
                "template": { "metadata": {
                    "labels": { "com.openfaas.scale.max": "6" },
                    "annotations": { "com.openfaas.scale.factor": "40" },
                } },
            },
        }))
        .unwrap();
        let l = scaling_labels(&d);
        let get = |k: &str| l.get(k).map(String::as_str);
        assert_eq!(
            get("com.openfaas.scale.max"),
            Some("6"),
            "template label wins"
        );
        assert_eq!(get("com.openfaas.scale.min"), Some("2"), "Deployment label");
        assert_eq!(
            get("com.openfaas.scale.factor"),
            Some("40"),
            "template annotation over Deployment's"
        );
        assert_eq!(
            get("com.openfaas.scale.zero"),
            Some("true"),
            "Deployment annotation"
        );
        assert_eq!(get("faas_function"), Some("echo"));
        assert!(!l.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert_eq!(replicas(&d), 1, "absent spec.replicas defaults to 1");
    }
}
