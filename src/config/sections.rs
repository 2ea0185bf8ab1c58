//! Configuration sections of the backends and of operations, with their validation.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// `[auth_failure_limit]`: after `max_failures` failed authentications from one IP within
/// `window_secs`, that IP is answered 429 until the window has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthFailureLimit {
    pub max_failures: u32,
    pub window_secs: u64,
}

impl Default for AuthFailureLimit {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_secs: 60,
        }
    }
}

/// `[connections]`: limits of the HTTP listener against slow, idle and too many clients (see
/// [`crate::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Seconds from the first byte of a request to the end of its head.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may wait for its next (or first) request.
    pub idle_timeout_secs: u64,
    /// Open connections at most; when full, the longest-idle one is closed for a new one. Lowered
    /// at start-up to fit the open-file limit.
    pub max_connections: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        let d = crate::connections::ConnectionLimits::default();
        Self {
            header_read_timeout_secs: d.header_read_timeout.as_secs(),
            idle_timeout_secs: d.idle_timeout.as_secs(),
            max_connections: d.max_connections,
        }
    }
}

impl ConnectionsConfig {
    /// The limits as the listener uses them.
    pub fn limits(&self) -> crate::connections::ConnectionLimits {
        crate::connections::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| {
            Err(ConfigError::Invalid {
                key,
                problem: problem.into(),
            })
        };
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            return invalid(
                "connections.header_read_timeout_secs",
                "must be between 1 and 300",
            );
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            return invalid(
                "connections.idle_timeout_secs",
                "must be between 1 and 3600",
            );
        }
        if !(1..=100_000).contains(&self.max_connections) {
            return invalid(
                "connections.max_connections",
                "must be between 1 and 100000",
            );
        }
        Ok(())
    }
}

/// `[tls]`: certificate chain and private key, PEM files (the key is a secret: only its path is
/// ever shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[openfaas]` section: how to reach the gateway's provider API and where the ledger is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenFaasConfig {
    /// Gateway base URL, e.g. `http://127.0.0.1:8080` (faasd) or `http://gateway.openfaas:8080`.
    pub gateway_url: String,
    /// Basic-auth user of the gateway.
    pub username: String,
    /// File holding the gateway's basic-auth password (as OpenFaaS mounts it); unset = no auth.
    pub password_file: Option<PathBuf>,
    /// PEM file of CA certificates trusted beside the platform's roots, for a gateway served over
    /// HTTPS with a certificate from a private CA.
    pub ca_file: Option<PathBuf>,
    /// Local JSON file holding the dedup ledger (one alertscaler replica only).
    pub state_file: PathBuf,
    /// TCP connect timeout per attempt.
    pub connect_timeout_ms: u64,
    /// Whole-request timeout per attempt.
    pub request_timeout_ms: u64,
    /// Extra attempts after the first on connection errors, timeouts and 5xx (never on 4xx).
    pub retries: u32,
    /// Backoff before the first retry; doubled for each further retry.
    pub retry_backoff_ms: u64,
}

impl Default for OpenFaasConfig {
    fn default() -> Self {
        Self {
            gateway_url: "http://127.0.0.1:8080".into(),
            username: "admin".into(),
            password_file: None,
            ca_file: None,
            state_file: PathBuf::from("alertscaler-state.json"),
            connect_timeout_ms: 2000,
            request_timeout_ms: 5000,
            retries: 3,
            retry_backoff_ms: 200,
        }
    }
}

/// `[kubernetes]` section: which Deployments are functions, where the ledger is stored, and the
/// Lease that picks the one replica doing background passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Label selector a Deployment must match to be scaled (`key`, `key=value`, `key!=value`,
    /// `!key`, comma-separated). faas-netes puts `faas_function=<name>` on every function.
    pub selector: String,
    /// Annotation where older versions kept the ledger on the Deployment. It is only READ now, to
    /// migrate a function's ledger into its state ConfigMap on the first write.
    pub ledger_annotation: String,
    /// Name prefix of the per-function state ConfigMap (`<prefix><function>`, in the function's
    /// namespace), which holds the ledger so that a redeploy cannot wipe it.
    pub state_prefix: String,
    /// Seconds one apiserver call (retries included) may take before the webhook answers 503.
    pub request_timeout_secs: u64,
    /// Namespace of the Lease that elects the replica doing settle passes; empty: no election
    /// (every replica runs passes, as with a single replica).
    pub lease_namespace: String,
    /// Name of that Lease.
    pub lease_name: String,
    /// Seconds a leader holds the Lease without renewing it (renewed on every pass).
    pub lease_duration_secs: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            selector: "faas_function".into(),
            ledger_annotation: "alertscaler.openfaas.com/ledger".into(),
            state_prefix: "alertscaler-".into(),
            request_timeout_secs: 10,
            lease_namespace: "openfaas".into(),
            lease_name: "alertscaler-passes".into(),
            lease_duration_secs: 45,
        }
    }
}

impl OpenFaasConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        match reqwest::Url::parse(&self.gateway_url) {
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                // Not echoed: the URL holds a secret.
                return invalid(
                    "openfaas.gateway_url",
                    "holds credentials (user:password@): set the user in openfaas.username and \
                     the password in openfaas.password_file, which is never logged"
                        .into(),
                );
            }
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            Ok(_) => {
                return invalid(
                    "openfaas.gateway_url",
                    format!("{:?} must be an http(s) URL", self.gateway_url),
                );
            }
            Err(e) => {
                return invalid(
                    "openfaas.gateway_url",
                    format!("{:?}: {e}", self.gateway_url),
                );
            }
        }
        if self.username.is_empty() || self.username.contains(':') {
            return invalid(
                "openfaas.username",
                "must be non-empty and contain no ':'".into(),
            );
        }
        if self.state_file.as_os_str().is_empty() || self.state_file.file_name().is_none() {
            return invalid("openfaas.state_file", "must name a file".into());
        }
        for (key, value) in [
            ("openfaas.connect_timeout_ms", self.connect_timeout_ms),
            ("openfaas.request_timeout_ms", self.request_timeout_ms),
        ] {
            if !(1..=600_000).contains(&value) {
                return invalid(key, format!("{value} must be between 1 and 600000"));
            }
        }
        if self.retries > 10 {
            return invalid("openfaas.retries", "must be at most 10".into());
        }
        if self.retry_backoff_ms > 60_000 {
            return invalid("openfaas.retry_backoff_ms", "must be at most 60000".into());
        }
        Ok(())
    }
}

impl KubernetesConfig {
    /// The selector, parsed (validated at load, so a loaded configuration always has one).
    pub fn selector(&self) -> Result<super::selector::Selector, String> {
        super::selector::Selector::parse(&self.selector)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let k = self;
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        if let Err(problem) = k.selector() {
            return invalid("kubernetes.selector", problem);
        }
        if super::selector::valid_key(&k.ledger_annotation).is_err() {
            return invalid(
                "kubernetes.ledger_annotation",
                format!("{:?} is not a valid annotation key", k.ledger_annotation),
            );
        }
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !s.starts_with('-')
        };
        if !dns(&k.state_prefix) {
            return invalid(
                "kubernetes.state_prefix",
                format!(
                    "{:?} must be 1-63 of [a-z0-9-], not starting with '-'",
                    k.state_prefix
                ),
            );
        }
        let lease_ok = dns(&k.lease_namespace) && dns(&k.lease_name);
        if !(k.lease_namespace.is_empty() || lease_ok) {
            return invalid(
                "kubernetes.lease_name",
                format!(
                    "lease {:?}/{:?} must be DNS labels (or set lease_namespace = \"\" to turn election off)",
                    k.lease_namespace, k.lease_name
                ),
            );
        }
        if k.lease_duration_secs < 5 || k.lease_duration_secs > 3600 {
            return invalid(
                "kubernetes.lease_duration_secs",
                "must be between 5 and 3600".into(),
            );
        }
        if k.request_timeout_secs == 0 || k.request_timeout_secs > 300 {
            return invalid(
                "kubernetes.request_timeout_secs",
                "must be between 1 and 300".into(),
            );
        }
        Ok(())
    }
}

/// Limits of the operations settings (audit, shutdown, timeouts, auth failures).
pub(super) fn validate_ops(config: &Config) -> Result<(), ConfigError> {
    let invalid = |key, problem: &str| {
        Err(ConfigError::Invalid {
            key,
            problem: problem.into(),
        })
    };
    if config.audit_capacity > 1_000_000 {
        return invalid("audit_capacity", "must be at most 1000000");
    }
    if config.request_timeout_secs == 0 || config.request_timeout_secs > 3600 {
        return invalid("request_timeout_secs", "must be between 1 and 3600");
    }
    if config.shutdown_grace_secs > 3600 {
        return invalid("shutdown_grace_secs", "must be at most 3600");
    }
    let l = config.auth_failure_limit;
    if l.max_failures == 0 || l.window_secs == 0 || l.window_secs > 86_400 {
        return invalid(
            "auth_failure_limit",
            "max_failures must be at least 1 and window_secs between 1 and 86400",
        );
    }
    config.connections.validate()
}
