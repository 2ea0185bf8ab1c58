//! Shared fixtures of the OpenFaaS backend tests: configuration, backend, service, webhooks.

use std::path::PathBuf;
use std::sync::Arc;

use alertscaler::alert::{self, Webhook};
use alertscaler::backend::openfaas::OpenFaasBackend;
use alertscaler::config::{BackendKind, Config, OpenFaasConfig};
use alertscaler::id::FunctionId;
use alertscaler::policy::{PolicyConfig, ScaleDown};
use alertscaler::service::{Outcome, Report, Service, Settings};
use chrono::{DateTime, Utc};

use super::mock::{self, Function};

use crate::support::notification as shared;

pub const STARTS: &str = "2026-11-24T06:55:10Z";

pub fn t0() -> DateTime<Utc> {
    "2026-11-24T06:55:20Z".parse().unwrap()
}

pub fn figlet() -> FunctionId {
    FunctionId::parse("figlet.openfaas-fn", "openfaas-fn").unwrap()
}

/// figlet: 1 replica, max 10 and factor 50 as labels → one step is +5.
pub fn labelled(replicas: u64) -> Function {
    let labels = [
        ("com.openfaas.scale.max", "10"),
        ("com.openfaas.scale.factor", "50"),
    ];
    Function {
        replicas,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Function::default()
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Env {
    pub fn new(gateway: &mock::Running) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("basic-auth-password");
        std::fs::write(&password_file, format!("{}\n", mock::PASSWORD)).unwrap();
        let config = Config {
            backend: BackendKind::Openfaas,
            openfaas: OpenFaasConfig {
                gateway_url: gateway.url(),
                password_file: Some(password_file),
                state_file: dir.path().join("state.json"),
                connect_timeout_ms: 1000,
                request_timeout_ms: 1000,
                retries: 2,
                retry_backoff_ms: 10,
                ..OpenFaasConfig::default()
            },
            // These tests are about the backend: resolved goes straight to min, as in CE.
            policy: PolicyConfig {
                scale_down: ScaleDown::Ce,
                ..PolicyConfig::default()
            },
            ..Config::default()
        };
        config.validate().unwrap();
        Self { dir, config }
    }

    pub fn state_path(&self) -> PathBuf {
        self.config.openfaas.state_file.clone()
    }

    pub fn backend(&self) -> Arc<OpenFaasBackend> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(OpenFaasBackend::new(&self.config, false).unwrap())
    }

    pub fn service(&self, backend: Arc<OpenFaasBackend>) -> Service {
        Service::new(backend, Settings::from_config(&self.config))
    }
}

pub fn webhook(status: &str, function: &str) -> Webhook {
    let alert = (
        function,
        "6a65bd8dfb3af9ad",
        "APIHighInvocationRate",
        status,
    );
    let body = shared::notification(&[alert], STARTS);
    alert::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

pub fn firing() -> Webhook {
    webhook("firing", "figlet.openfaas-fn")
}

pub fn only(report: &Report) -> &alertscaler::service::FunctionReport {
    assert_eq!(report.functions.len(), 1, "{report:?}");
    &report.functions[0]
}

pub fn assert_scaled(report: &Report, from: u32, to: u32) {
    let f = only(report);
    assert_eq!(
        (f.outcome, f.from, f.to),
        (Outcome::Scaled, Some(from), Some(to)),
        "{report:?}"
    );
}

pub fn assert_outcome(report: &Report, outcome: Outcome) -> String {
    let f = only(report);
    assert_eq!(f.outcome, outcome, "{report:?}");
    f.reason.clone()
}
