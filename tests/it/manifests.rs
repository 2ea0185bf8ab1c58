//! Offline checks of deploy/: every manifest document decodes into its k8s-openapi type with no
//! unknown field (a typo is an error, as `kubectl apply --validate=strict` would make it), the
//! Roles grant exactly the verbs the backend uses (taken from the requests it makes against the
//! fake apiserver), the pieces reference each other consistently (PodDisruptionBudget, the optional
//! ValidatingAdmissionPolicy and its binding), and the ConfigMap's TOML loads.

use crate::support::kube as support;

use std::collections::BTreeSet;

use alertscaler::config::{AuthConfig, BackendKind};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

use support::manifests::{configmap_config, deploy_dir, documents, load, manifest_files, strict};

#[test]
fn every_yaml_file_in_deploy_is_listed_or_is_the_alertmanager_snippet() {
    let listed: BTreeSet<String> = manifest_files().into_iter().collect();
    for entry in std::fs::read_dir(deploy_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            // optional/ is applied on its own; operator/ is listed file by file (tests/it/operator.rs).
            assert!(
                name == "optional" || name == "operator",
                "unexpected directory {name}"
            );
            continue;
        }
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
    // /readyz answers within its deadline, so the probe reads that answer instead of timing out.
    let readiness_timeout = c.readiness_probe.as_ref().unwrap().timeout_seconds.unwrap();
    let readyz_deadline = alertscaler::http::READYZ_DEADLINE;
    assert!(
        u64::try_from(readiness_timeout).unwrap() > readyz_deadline.as_secs(),
        "readiness timeoutSeconds {readiness_timeout} must exceed /readyz's deadline {readyz_deadline:?}"
    );
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

    // The PodDisruptionBudget selects the same pods and leaves one of the two running.
    assert_eq!(m.budgets.len(), 1);
    let pdb = m.budgets[0].spec.as_ref().unwrap();
    let pdb_labels = pdb.selector.as_ref().unwrap().match_labels.clone().unwrap();
    assert!(pdb_labels.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    assert_eq!(
        m.budgets[0].metadata.namespace.as_deref(),
        Some(sa_ns.as_str())
    );
    assert_eq!(
        pdb.min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
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
    // …and routes every scaling alert the shipped packs define (not alertscaler's own alerts).
    let matcher = snippet["route"]["routes"][0]["matchers"][0]
        .as_str()
        .unwrap();
    let routed = matcher
        .split_once("=~")
        .map(|(_, names)| names.trim().trim_matches('"'))
        .unwrap();
    let routed: BTreeSet<&str> = routed.split('|').collect();
    for pack in ["openfaas-ce", "capacity", "latency"] {
        let text = std::fs::read_to_string(crate::support::repo(&format!(
            "alert-rules/{pack}.rules.yml"
        )))
        .unwrap();
        for line in text.lines() {
            if let Some(name) = line.trim().strip_prefix("- alert:") {
                assert!(
                    routed.contains(name.trim()),
                    "{pack}: {name} is not routed by {matcher}"
                );
            }
        }
    }

    // The standalone AlertManager config routes the same alerts to alertscaler, and the rest (its own
    // alerts) to people.
    let standalone: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(crate::support::repo("prometheus/alertmanager.yml")).unwrap(),
    )
    .unwrap();
    let scaling = &standalone["route"]["routes"][0];
    assert_eq!(scaling["matchers"][0].as_str(), Some(matcher));
    assert_eq!(scaling["receiver"].as_str(), Some("alertscaler"));
    assert_ne!(
        standalone["route"]["receiver"].as_str(),
        Some("alertscaler")
    );

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

/// docs/operations.md: "Keep the pod's `terminationGracePeriodSeconds` above `shutdown_grace_secs`"; and
/// a webhook in flight at SIGTERM may run for `request_timeout_secs`, which must fit in that grace, or
/// the kubelet's SIGKILL cuts off a request the server meant to finish.
#[test]
fn the_pod_outlives_the_shutdown_grace_and_the_grace_outlives_a_request() {
    let m = load();
    let config = configmap_config(&m);
    let pod = m.pod();
    // Kubernetes' default when the field is absent.
    let termination = u64::try_from(pod.termination_grace_period_seconds.unwrap_or(30)).unwrap();
    assert!(
        termination > config.shutdown_grace_secs,
        "terminationGracePeriodSeconds {termination} must exceed shutdown_grace_secs {}",
        config.shutdown_grace_secs
    );
    assert!(
        config.request_timeout_secs <= config.shutdown_grace_secs,
        "request_timeout_secs {} must fit in shutdown_grace_secs {}",
        config.request_timeout_secs,
        config.shutdown_grace_secs
    );
    // Both probes name the container's port, and /healthz answers without credentials (probes
    // send none): the router serves it outside the authentication layer.
    let c = &pod.containers[0];
    let port_name = c.ports.as_ref().unwrap()[0].name.clone().unwrap();
    for probe in [&c.readiness_probe, &c.liveness_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(port_name.clone())
        );
        assert_eq!(get.scheme.as_deref().unwrap_or("HTTP"), "HTTP");
    }
    assert!(
        config.tls.is_none(),
        "HTTP probes need a plain-HTTP listener"
    );
}

/// The Secret's name and key are the same in the command the docs give, the Deployment's volume,
/// the configuration's `password_file` and the AlertManager snippet's path (where the Operator
/// mounts an Alertmanager's `spec.secrets` entry: /etc/alertmanager/secrets/<secret>/<key>).
#[test]
fn the_webhook_secret_key_is_read_where_it_is_mounted_on_both_sides() {
    let m = load();
    let config = configmap_config(&m);
    let AuthConfig::Basic { password_file, .. } = &config.auth else {
        panic!("basic auth expected")
    };
    let pod = m.pod();
    let c = &pod.containers[0];
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|vm| password_file.starts_with(&vm.mount_path))
        .expect("password file is mounted");
    let secret = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == mount.name)
        .and_then(|v| v.secret.clone())
        .expect("a Secret volume");
    let secret_name = secret.secret_name.unwrap();
    let relative = password_file.strip_prefix(&mount.mount_path).unwrap();
    let key = match &secret.items {
        // With items, only the listed keys exist, each at its path.
        Some(items) => items
            .iter()
            .find(|i| std::path::Path::new(&i.path) == relative)
            .unwrap_or_else(|| panic!("no item of {secret_name} is mounted at {relative:?}"))
            .key
            .clone(),
        None => relative.to_str().unwrap().to_owned(),
    };
    // The Secret the docs create holds that key.
    let create = format!("create secret generic {secret_name} --from-literal={key}=");
    for doc in ["docs/kubernetes.md", "README.md"] {
        let text = std::fs::read_to_string(crate::support::repo(doc)).unwrap();
        // Join continued shell lines, then collapse runs of spaces.
        let joined = text.replace("\\\n", " ");
        let joined = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(joined.contains(&create), "{doc} does not run `{create}…`");
    }
    let snippet = &documents("alertmanager-receiver.yml")[0];
    let am_file =
        snippet["receivers"][0]["webhook_configs"][0]["http_config"]["basic_auth"]["password_file"]
            .as_str()
            .unwrap();
    assert_eq!(
        am_file,
        format!("/etc/alertmanager/secrets/{secret_name}/{key}")
    );
}

/// Seconds of an AlertManager duration made of `h`, `m` and `s` parts (`1m30s`).
fn seconds(duration: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in duration.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let unit = match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                total += number.parse::<u64>().unwrap() * unit;
                number.clear();
            }
            _ => panic!("unexpected duration {duration:?}"),
        }
    }
    assert!(number.is_empty(), "no unit in {duration:?}");
    total
}

/// The ConfigMap's `scale_up_cooldown_secs` says it is "longer than AlertManager's retry window,
/// shorter than its repeat_interval": for the route of deploy/alertmanager-receiver.yml, a retried
/// notification (retries last about max(group_interval, 10 s)) must hit the cooldown, and a repeat
/// (every repeat_interval) must not.
#[test]
fn the_scale_up_cooldown_sits_between_alertmanager_retries_and_repeats() {
    let config = configmap_config(&load());
    let route = &documents("alertmanager-receiver.yml")[0]["route"]["routes"][0];
    let timing = |key: &str| seconds(route[key].as_str().unwrap());
    let retries = timing("group_interval").max(10);
    let repeat = timing("repeat_interval");
    let cooldown = config.scale_up_cooldown_secs;
    assert!(
        retries < cooldown && cooldown < repeat,
        "scale_up_cooldown_secs {cooldown} must lie between the retry window {retries} s and repeat_interval {repeat} s"
    );
    assert_eq!(seconds("1m30s"), 90);
}

/// The `yaml` blocks of a Markdown file that hold an AlertManager `route:`.
fn alertmanager_examples(markdown: &str) -> Vec<serde_norway::Value> {
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in markdown.lines() {
        let fence = line.trim_start();
        match &mut block {
            None if fence.starts_with("```yaml") => block = Some(String::new()),
            Some(text) if fence.starts_with("```") => {
                // A block indented under a list item parses as is: YAML allows a uniform indent.
                let doc: serde_norway::Value = serde_norway::from_str(text).unwrap();
                if doc.get("route").is_some() {
                    examples.push(doc);
                }
                block = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    examples
}

/// alert-rules/README.md shows how to route the packs' alerts in your own AlertManager: like
/// prometheus/alertmanager.yml and the deploy/ snippet, only the scaling alerts may go to alertscaler.
/// A root route to alertscaler would post alertscaler's own alerts (AlertscalerDown …) to it, where
/// they are skipped (no function_name) and nobody is told.
#[test]
fn the_rule_pack_readme_routes_only_the_scaling_alerts_to_alertscaler() {
    let snippet = &documents("alertmanager-receiver.yml")[0];
    let matcher = snippet["route"]["routes"][0]["matchers"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let readme = std::fs::read_to_string(crate::support::repo("alert-rules/README.md")).unwrap();
    let examples = alertmanager_examples(&readme);
    assert!(
        !examples.is_empty(),
        "alert-rules/README.md shows an AlertManager route"
    );
    for example in &examples {
        let route = &example["route"];
        assert_ne!(
            route["receiver"].as_str(),
            Some("alertscaler"),
            "the root route of alert-rules/README.md's example sends every alert to alertscaler: {route:?}"
        );
        let to_alertscaler: Vec<&serde_norway::Value> = route["routes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter(|r| r["receiver"].as_str() == Some("alertscaler"))
            .collect();
        assert_eq!(to_alertscaler.len(), 1, "{route:?}");
        assert_eq!(
            to_alertscaler[0]["matchers"][0].as_str(),
            Some(matcher.as_str())
        );
    }
}
