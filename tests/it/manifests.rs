//! Offline checks of deploy/: every manifest document decodes into its k8s-openapi type with no
//! unknown field (a typo is an error, as `kubectl apply --validate=strict` would make it), the
//! Role grants exactly the verbs the backend uses (taken from the requests it makes against the
//! fake apiserver), the pieces reference each other consistently, and the ConfigMap's TOML loads.

use crate::support::kube as support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alertscaler::backend::{Backend, Update};
use alertscaler::config::{AuthConfig, BackendKind, Config};
use alertscaler::id::FunctionId;
use axum::http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

use support::apiserver::{FakeApiserver, function_deployment};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of a file, as JSON values.
fn documents(file: &str) -> Vec<Value> {
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
fn strict<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
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
struct Manifests {
    service_accounts: Vec<ServiceAccount>,
    roles: Vec<Role>,
    bindings: Vec<RoleBinding>,
    config_maps: Vec<ConfigMap>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
}

fn manifest_files() -> Vec<String> {
    let kustomization = documents("kustomization.yaml");
    kustomization[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn load() -> Manifests {
    let mut m = Manifests::default();
    for file in manifest_files() {
        for doc in documents(&file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let at = format!("{file}: {kind}");
            match kind.as_str() {
                "ServiceAccount" => m.service_accounts.push(decode(&at, &doc)),
                "Role" => m.roles.push(decode(&at, &doc)),
                "RoleBinding" => m.bindings.push(decode(&at, &doc)),
                "ConfigMap" => m.config_maps.push(decode(&at, &doc)),
                "Deployment" => m.deployments.push(decode(&at, &doc)),
                "Service" => m.services.push(decode(&at, &doc)),
                other => panic!("{file}: unexpected kind {other:?}"),
            }
        }
    }
    m
}

fn decode<T: DeserializeOwned>(at: &str, doc: &Value) -> T {
    strict(doc).unwrap_or_else(|e| panic!("{at}: {e}"))
}

#[test]
fn every_yaml_file_in_deploy_is_listed_or_is_the_alertmanager_snippet() {
    let listed: BTreeSet<String> = manifest_files().into_iter().collect();
    for entry in std::fs::read_dir(deploy_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "kustomization.yaml" || name == "alertmanager-receiver.yml" {
            continue;
        }
        assert!(
            listed.contains(&name),
            "{name} is not in kustomization.yaml"
        );
    }
}

#[test]
fn strict_decoding_catches_a_typo() {
    let doc: Value = serde_norway::from_str(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n  selector: {}\n  template: {}\n",
    )
    .unwrap();
    let err = strict::<Deployment>(&doc).unwrap_err();
    assert!(err.contains("replica\""), "{err}");
    let wrong_type: Value =
        serde_norway::from_str("apiVersion: v1\nkind: Service\nspec: {ports: 8080}\n").unwrap();
    assert!(strict::<Service>(&wrong_type).is_err());
}

#[test]
fn manifests_decode_and_reference_each_other() {
    let m = load();
    assert_eq!(
        (
            m.service_accounts.len(),
            m.deployments.len(),
            m.services.len()
        ),
        (1, 1, 1)
    );
    let sa = &m.service_accounts[0];
    let (sa_name, sa_ns) = (
        sa.metadata.name.clone().unwrap(),
        sa.metadata.namespace.clone().unwrap(),
    );

    let d = &m.deployments[0];
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name.as_str()));
    assert_eq!(d.metadata.namespace.as_deref(), Some(sa_ns.as_str()));
    let pod_sc = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_sc.run_as_non_root, Some(true));
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/readyz"));
    assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/healthz"));
    let requests = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));

    // The Service selects the pods and targets the container's port.
    let svc = &m.services[0];
    let selector = svc.spec.as_ref().unwrap().selector.clone().unwrap();
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    let port = &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    let container_port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(
        port.target_port,
        Some(
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                container_port.name.clone().unwrap()
            )
        )
    );

    // The AlertManager snippet points at that Service.
    let snippet = &documents("alertmanager-receiver.yml")[0];
    let url = snippet["receivers"][0]["webhook_configs"][0]["url"]
        .as_str()
        .unwrap();
    let want = format!(
        "http://{}.{}:{}/system/alert",
        svc.metadata.name.as_deref().unwrap(),
        svc.metadata.namespace.as_deref().unwrap(),
        port.port
    );
    assert_eq!(url, want);

    // The config loads, uses this backend, listens on the container port, and its secret file
    // lives where the Secret is mounted.
    let config = configmap_config(&m);
    assert_eq!(config.backend, BackendKind::Kubernetes);
    assert_eq!(
        i32::from(config.listen.port()),
        container_port.container_port
    );
    let AuthConfig::Basic { password_file, .. } = &config.auth else {
        panic!("basic auth expected")
    };
    let mounts = c.volume_mounts.as_ref().unwrap();
    let volumes = pod.volumes.as_ref().unwrap();
    let secret_mount = mounts
        .iter()
        .find(|vm| password_file.starts_with(&vm.mount_path))
        .expect("password file is mounted");
    let volume = volumes
        .iter()
        .find(|v| v.name == secret_mount.name)
        .unwrap();
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("alertscaler-webhook")
    );
    let config_mount = mounts
        .iter()
        .find(|vm| vm.mount_path == "/etc/alertscaler")
        .unwrap();
    let args = c.args.clone().unwrap();
    assert!(
        args.windows(2)
            .any(|w| w == ["--config", "/etc/alertscaler/config.toml"]),
        "{args:?}"
    );
    let cm_volume = volumes
        .iter()
        .find(|v| v.name == config_mount.name)
        .unwrap();
    assert_eq!(
        cm_volume.config_map.as_ref().unwrap().name,
        m.config_maps[0].metadata.name.clone().unwrap()
    );

    // Every allowed namespace has a Role bound to the service account.
    for ns in &config.allowed_namespaces {
        let role = m
            .roles
            .iter()
            .find(|r| r.metadata.namespace.as_ref() == Some(ns))
            .expect("Role per namespace");
        let binding = m
            .bindings
            .iter()
            .find(|b| b.metadata.namespace.as_ref() == Some(ns))
            .expect("RoleBinding per namespace");
        assert_eq!(
            (binding.role_ref.kind.as_str(), Some(&binding.role_ref.name)),
            ("Role", role.metadata.name.as_ref())
        );
        let subject = &binding.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (
                subject.kind.as_str(),
                subject.name.as_str(),
                subject.namespace.as_deref()
            ),
            ("ServiceAccount", sa_name.as_str(), Some(sa_ns.as_str()))
        );
    }
}

fn configmap_config(m: &Manifests) -> Config {
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

/// RBAC verb of a request the backend made to the fake apiserver.
fn verb(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path.ends_with("/deployments")) {
        ("GET", true) => "list",
        ("GET", false) => "get",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        _ => "other",
    }
}

#[tokio::test]
async fn role_grants_exactly_the_verbs_the_backend_uses() {
    let m = load();
    let config = configmap_config(&m);
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", "openfaas-fn", Some(1), &[]));
    let backend =
        alertscaler::backend::kubernetes::KubernetesBackend::new(fake.client(), &config).unwrap();
    let id = FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    };
    // Every operation of the Backend trait.
    let state = backend.read(&id).await.unwrap();
    let entry = alertscaler::stored::Stored::default();
    backend
        .apply(
            &id,
            Update {
                replicas: Some(2),
                stored: &entry,
                version: &state.version,
            },
        )
        .await
        .unwrap();
    backend.list().await.unwrap();
    backend.ready().await.unwrap();

    let used: BTreeSet<&str> = fake
        .seen()
        .iter()
        .map(|s| verb(&s.method, &s.path))
        .collect();
    assert!(fake.seen().iter().all(|s| {
        s.path
            .starts_with("/apis/apps/v1/namespaces/openfaas-fn/deployments")
    }));
    for role in &m.roles {
        let rules = role.rules.as_ref().unwrap();
        assert_eq!(rules.len(), 1, "one rule");
        assert_eq!(
            rules[0].api_groups.as_deref(),
            Some(&["apps".to_owned()][..])
        );
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["deployments".to_owned()][..])
        );
        assert!(rules[0].resource_names.is_none());
        let granted: BTreeSet<&str> = rules[0].verbs.iter().map(String::as_str).collect();
        assert_eq!(
            granted, used,
            "Role verbs must be exactly the verbs the code uses"
        );
    }
}
