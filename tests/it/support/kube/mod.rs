pub mod apiserver;

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
