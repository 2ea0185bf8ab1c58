pub mod apiserver;
pub mod crds;
pub mod manifests;

use std::sync::Arc;

use alertscaler::alert::{self, Webhook};
use alertscaler::backend::kubernetes::KubernetesBackend;
use alertscaler::config::{BackendKind, Config};
use alertscaler::service::{Service, Settings};
use chrono::{DateTime, TimeDelta, Utc};

use self::apiserver::FakeApiserver;

/// When the alerts of [`notification`] started.
pub const STARTS_AT: &str = "2026-11-24T06:55:10.479Z";

/// A moment 30 s into the episode.
pub fn now() -> DateTime<Utc> {
    STARTS_AT.parse::<DateTime<Utc>>().unwrap() + TimeDelta::seconds(30)
}

/// Kubernetes-backend configuration with a short request timeout.
pub fn config(allowed: &[&str]) -> Config {
    let mut c = Config {
        backend: BackendKind::Kubernetes,
        allowed_namespaces: allowed.iter().map(|s| (*s).to_owned()).collect(),
        ..Config::default()
    };
    c.kubernetes.request_timeout_secs = 2;
    c.validate().unwrap();
    c
}

/// A receiver instance: its own kube client, backend and service.
pub fn receiver(fake: &FakeApiserver, config: &Config) -> Service {
    Service::new(
        Arc::new(backend(fake, config)),
        Settings::from_config(config),
    )
}

pub fn backend(fake: &FakeApiserver, config: &Config) -> KubernetesBackend {
    KubernetesBackend::new(fake.client(), config).unwrap()
}

/// The ledger in function `name`'s state ConfigMap, as JSON.
pub fn stored_ledger(fake: &FakeApiserver, ns: &str, name: &str) -> Option<serde_json::Value> {
    let cm = fake.get_on(apiserver::CONFIGMAPS, ns, &format!("alertscaler-{name}"))?;
    let text = cm["data"]["ledger"].as_str()?.to_owned();
    Some(serde_json::from_str(&text).expect("the stored ledger is JSON"))
}

/// Whether function `name`'s state ConfigMap holds an unconfirmed write.
pub fn has_pending(fake: &FakeApiserver, ns: &str, name: &str) -> bool {
    fake.get_on(apiserver::CONFIGMAPS, ns, &format!("alertscaler-{name}"))
        .is_some_and(|cm| !cm["data"]["pending"].is_null())
}

use crate::support::notification as shared;

/// An AlertManager v4 notification as JSON; each alert is (function_name label, fingerprint, alertname, status).
pub fn notification_json(alerts: &[shared::AlertSpec<'_>]) -> String {
    shared::notification(alerts, STARTS_AT).to_string()
}

/// One firing alert for `function` (`name.namespace`).
pub fn firing(function: &str) -> Webhook {
    alert::parse(
        notification_json(&[(
            function,
            "6a65bd8dfb3af9ad",
            "APIHighInvocationRate",
            "firing",
        )])
        .as_bytes(),
    )
    .unwrap()
}

/// The function namespace of the fixtures.
pub const FN_NS: &str = "openfaas-fn";

/// The fingerprint of [`firing`]'s alert.
pub const FINGERPRINT: &str = "6a65bd8dfb3af9ad";

/// echo in the function namespace.
pub fn echo_id() -> alertscaler::id::FunctionId {
    alertscaler::id::FunctionId {
        name: "echo".into(),
        namespace: FN_NS.into(),
    }
}

/// The (single) function of `report` had `outcome`, from → to; returns it for further checks.
pub fn assert_moved(
    report: &alertscaler::service::Report,
    outcome: alertscaler::service::Outcome,
    from: u32,
    to: u32,
) -> &alertscaler::service::FunctionReport {
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.from, f.to),
        (outcome, Some(from), Some(to)),
        "{f:?}"
    );
    f
}

/// Whether the (single) function of `report` was held as a duplicate.
pub fn is_duplicate(report: &alertscaler::service::Report) -> bool {
    let f = &report.functions[0];
    f.outcome == alertscaler::service::Outcome::Unchanged
        && format!("{:?}", f.why).contains("Duplicate")
}

/// Whether echo's stored ledger holds [`firing`]'s episode.
pub fn episode_recorded(fake: &FakeApiserver) -> bool {
    stored_ledger(fake, FN_NS, "echo").is_some_and(|l| l["firing"][FINGERPRINT].is_object())
}

/// A fake apiserver serving [`echo`], and a configuration allowing its namespace.
pub async fn echo_cluster() -> (FakeApiserver, Config) {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    (fake, config(&[FN_NS]))
}

/// echo at 1 replica, min 1 (so a redeploy resets it to 1), max 10: a step is +2.
pub fn echo(fake: &FakeApiserver) {
    let labels = [
        ("com.openfaas.scale.min", "1"),
        ("com.openfaas.scale.max", "10"),
    ];
    fake.put(apiserver::function_deployment(
        "echo",
        FN_NS,
        Some(1),
        &labels,
    ));
}
