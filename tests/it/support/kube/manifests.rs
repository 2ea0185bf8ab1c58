//! deploy/ as typed objects, for the manifest tests: every YAML document decoded strictly into
//! its k8s-openapi type (an unknown field is an error, as `kubectl apply --validate=strict` makes it).

use std::path::{Path, PathBuf};

use alertscaler::config::Config;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::crds::{PrometheusRule, ServiceMonitor};

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of a file, as JSON values.
pub fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let value: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{file}: invalid YAML: {e}"));
            value
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Decode strictly: any field the type does not know is an error naming its path.
pub fn strict<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    let mut unknown = Vec::new();
    let decoded: T =
        serde_ignored::deserialize(value.clone(), |path| unknown.push(path.to_string()))
            .map_err(|e| e.to_string())?;
    if unknown.is_empty() {
        Ok(decoded)
    } else {
        Err(format!("unknown fields: {unknown:?}"))
    }
}

#[derive(Default)]
pub struct Manifests {
    pub service_accounts: Vec<ServiceAccount>,
    pub roles: Vec<Role>,
    pub bindings: Vec<RoleBinding>,
    pub config_maps: Vec<ConfigMap>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub budgets: Vec<PodDisruptionBudget>,
    pub prometheus_rules: Vec<PrometheusRule>,
    pub service_monitors: Vec<ServiceMonitor>,
}

impl Manifests {
    /// The pod template of the (one) Deployment.
    pub fn pod(&self) -> PodSpec {
        let deployment = self.deployments[0].spec.clone().expect("a Deployment spec");
        deployment.template.spec.expect("a pod template spec")
    }
}

pub fn manifest_files() -> Vec<String> {
    let kustomization = documents("kustomization.yaml");
    kustomization[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

pub fn load() -> Manifests {
    let mut m = Manifests::default();
    for file in manifest_files() {
        for doc in documents(&file) {
            m.add(&file, &doc);
        }
    }
    m
}

impl Manifests {
    /// Decode one document by its kind (`from` names where it came from, for the panic message).
    pub fn add(&mut self, from: &str, doc: &Value) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        let at = format!("{from}: {kind} {}", doc["metadata"]["name"]);
        match kind.as_str() {
            "ServiceAccount" => self.service_accounts.push(decode(&at, doc)),
            "Role" => self.roles.push(decode(&at, doc)),
            "RoleBinding" => self.bindings.push(decode(&at, doc)),
            "ConfigMap" => self.config_maps.push(decode(&at, doc)),
            "Deployment" => self.deployments.push(decode(&at, doc)),
            "Service" => self.services.push(decode(&at, doc)),
            "PodDisruptionBudget" => self.budgets.push(decode(&at, doc)),
            "PrometheusRule" => self.prometheus_rules.push(decode(&at, doc)),
            "ServiceMonitor" => self.service_monitors.push(decode(&at, doc)),
            other => panic!("{from}: unexpected kind {other:?}"),
        }
    }
}

pub fn decode<T: DeserializeOwned>(at: &str, doc: &Value) -> T {
    strict(doc).unwrap_or_else(|e| panic!("{at}: {e}"))
}

pub fn configmap_config(m: &Manifests) -> Config {
    let text = m.config_maps[0]
        .data
        .as_ref()
        .unwrap()
        .get("config.toml")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let env = figment::providers::Env::prefixed("ALERTSCALER_MANIFESTS_TEST_UNSET_");
    Config::load_with_env(Some(&path), env).unwrap_or_else(|e| panic!("ConfigMap config.toml: {e}"))
}
