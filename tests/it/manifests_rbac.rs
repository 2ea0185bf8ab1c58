//! Least privilege in deploy/, checked against what the backend really does: the Roles grant exactly
//! the verbs of the requests it makes to the fake apiserver, and the optional
//! ValidatingAdmissionPolicy covers every write, is bound, and admits the state ConfigMaps the
//! backend writes.

use crate::support::kube as support;

use std::collections::{BTreeMap, BTreeSet};

use alertscaler::backend::{Backend, Update};
use alertscaler::id::FunctionId;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};

use support::apiserver::{FakeApiserver, Seen, function_deployment};
use support::manifests::{configmap_config, decode, documents, load};

/// `(namespace, "group/resource", verb)` of a request the backend made to the fake apiserver.
fn permission(seen: &Seen) -> (String, String, String) {
    let segments: Vec<&str> = seen.path.split('/').collect();
    let at = segments.iter().position(|s| *s == "namespaces").unwrap();
    let group = if segments[1] == "api" {
        ""
    } else {
        segments[2]
    };
    let verb = match (seen.method.as_str(), segments.len() > at + 3) {
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        _ => "other",
    };
    let resource = format!("{group}/{}", segments[at + 2]);
    (segments[at + 1].to_owned(), resource, verb.to_owned())
}

#[tokio::test]
async fn roles_grant_exactly_the_verbs_the_backend_uses() {
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
    // Every operation of the Backend trait: a replica write (state created, Deployment patched,
    // state confirmed), a ledger-only write, listing, readiness, and the Lease (created, renewed).
    for replicas in [Some(2), None] {
        let state = backend.read(&id).await.unwrap();
        let entry = alertscaler::stored::Stored::default();
        let update = Update {
            replicas,
            stored: &entry,
            version: &state.version,
        };
        backend.apply(&id, update).await.unwrap();
    }
    backend.list().await.unwrap();
    backend.ready().await.unwrap();
    assert!(backend.leads_passes().await && backend.leads_passes().await);

    let mut used: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for seen in fake.seen() {
        let (ns, resource, verb) = permission(&seen);
        used.entry(ns).or_default().insert((resource, verb));
    }
    let mut granted: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for role in &m.roles {
        let ns = role.metadata.namespace.clone().unwrap();
        for rule in role.rules.as_ref().unwrap() {
            if let Some(names) = &rule.resource_names {
                assert_eq!(
                    names,
                    std::slice::from_ref(&config.kubernetes.lease_name),
                    "{rule:?}"
                );
            }
            for group in rule.api_groups.as_ref().unwrap() {
                for resource in rule.resources.as_ref().unwrap() {
                    for verb in &rule.verbs {
                        granted
                            .entry(ns.clone())
                            .or_default()
                            .insert((format!("{group}/{resource}"), verb.clone()));
                    }
                }
            }
        }
    }
    assert_eq!(
        granted, used,
        "Role verbs must be exactly the verbs the code uses, per namespace"
    );
    assert!(used.contains_key(&config.kubernetes.lease_namespace));
}

#[test]
fn the_optional_admission_policy_covers_every_write_and_is_bound() {
    let docs = documents("optional/admission-policy.yml");
    assert_eq!(docs.len(), 2);
    let policy: ValidatingAdmissionPolicy = decode("policy", &docs[0]);
    let binding: ValidatingAdmissionPolicyBinding = decode("binding", &docs[1]);
    let name = policy.metadata.name.clone().unwrap();
    let bspec = binding.spec.unwrap();
    assert_eq!(bspec.policy_name.as_deref(), Some(name.as_str()));
    assert_eq!(bspec.validation_actions, Some(vec!["Deny".to_owned()]));
    let spec = policy.spec.unwrap();
    assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
    // Only alertscaler's service account is matched.
    let m = load();
    let sa = &m.service_accounts[0];
    let user = format!(
        "system:serviceaccount:{}:{}",
        sa.metadata.namespace.as_deref().unwrap(),
        sa.metadata.name.as_deref().unwrap()
    );
    let conditions = spec.match_conditions.unwrap();
    assert!(
        conditions.iter().any(|c| c.expression.contains(&user)),
        "{conditions:?}"
    );
    // Every write the backend makes in a function namespace is covered.
    let rules = spec.match_constraints.unwrap().resource_rules.unwrap();
    let covered = |resource: &str, op: &str| {
        rules.iter().any(|r| {
            r.resources
                .as_ref()
                .is_some_and(|rs| rs.iter().any(|x| x == resource))
                && r.operations
                    .as_ref()
                    .is_some_and(|os| os.iter().any(|o| o == op))
        })
    };
    for (resource, op) in [
        ("deployments", "UPDATE"),
        ("configmaps", "CREATE"),
        ("configmaps", "UPDATE"),
    ] {
        assert!(covered(resource, op), "{resource} {op}");
    }
    let validations = spec.validations.unwrap();
    let config = configmap_config(&m);
    assert!(validations.iter().any(|v| {
        v.expression
            .contains("object.spec.template == oldObject.spec.template")
    }));
    assert!(validations.iter().any(|v| v.expression.contains(&format!(
        "startsWith(\"{}\")",
        config.kubernetes.state_prefix
    ))));
}

/// `(key, value)` of every `object.metadata.labels["key"] == "value"` in a CEL expression.
fn required_labels(expression: &str) -> Vec<(String, String)> {
    let open = "object.metadata.labels[\"";
    let mut pairs = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find(open) {
        rest = &rest[at + open.len()..];
        let (key, after) = rest.split_once("\"]").unwrap();
        let after = after.trim_start();
        if let Some(value) = after.strip_prefix("== \"") {
            pairs.push((key.to_owned(), value.split('"').next().unwrap().to_owned()));
        }
    }
    pairs
}

/// The optional admission policy admits the state ConfigMaps the backend really writes: the name
/// prefix and every label the policy requires are on the object the backend created.
#[tokio::test]
async fn the_state_configmaps_the_backend_writes_pass_the_admission_policy() {
    let m = load();
    let config = configmap_config(&m);
    let policy: ValidatingAdmissionPolicy =
        decode("policy", &documents("optional/admission-policy.yml")[0]);
    let validations = policy.spec.unwrap().validations.unwrap();
    let rule = validations
        .iter()
        .find(|v| v.expression.contains("\"configmaps\""))
        .unwrap();
    let required = required_labels(&rule.expression);
    assert!(!required.is_empty(), "{}", rule.expression);

    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", "openfaas-fn", Some(1), &[]));
    let backend =
        alertscaler::backend::kubernetes::KubernetesBackend::new(fake.client(), &config).unwrap();
    let id = FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    };
    let state = backend.read(&id).await.unwrap();
    let entry = alertscaler::stored::Stored::default();
    let update = Update {
        replicas: Some(2),
        stored: &entry,
        version: &state.version,
    };
    backend.apply(&id, update).await.unwrap();
    let name = format!("{}echo", config.kubernetes.state_prefix);
    let written = fake
        .get_on(support::apiserver::CONFIGMAPS, "openfaas-fn", &name)
        .unwrap_or_else(|| panic!("no state ConfigMap {name}"));
    assert!(rule.expression.contains(&format!(
        "startsWith(\"{}\")",
        config.kubernetes.state_prefix
    )));
    for (key, value) in &required {
        assert_eq!(
            written["metadata"]["labels"][key].as_str(),
            Some(value.as_str()),
            "the policy requires {key}={value} on {name}"
        );
    }
}
