//! Configuration: built-in defaults < TOML file < environment (`ALERTSCALER_…`, nested with `__`).
//!
//! Unknown keys are errors (a typo must not silently change behaviour), and `validate()` runs once at
//! load so that an invalid configuration never reaches a handler.
//!
//! Here: the settings' types and defaults, the errors, and what `check-config` shows. Loading
//! (the layering, the environment) is in `load`, the cross-field rules in `validate`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod bounded;
pub mod ca;
mod functions;
mod load;
mod platform;
mod policy;
mod prometheus;
mod sections;
pub mod selector;
mod table;
mod validate;

pub use functions::{LabelDefaults, MemoryConfig, MemoryFunction};
pub use load::environment;
pub(crate) use load::positioned;
pub use platform::{Limited, Platform, StepBase};
pub use policy::{PolicyConfig, PolicyKind, ScaleDown};
pub use prometheus::PrometheusConfig;
pub use sections::{
    AuthFailureLimit, ConnectionsConfig, KubernetesConfig, OpenFaasConfig, TlsConfig,
};

/// Decisions kept for `GET /decisions` by default.
pub const DEFAULT_AUDIT_CAPACITY: usize = 1000;

/// AlertManager retries a failed notification until max(group_interval, 10 s) has passed
/// (`notify.MinTimeout`); a scale-up cooldown shorter than that lets a retry step twice.
pub const ALERTMANAGER_RETRY_SECS: u64 = 10;

/// The longest `episode_ttl_secs`: 30 days (a silent episode is forgotten after it).
pub const MAX_EPISODE_TTL_SECS: u64 = 30 * 86_400;

/// The largest `body_limit_bytes`: 64 MiB. A webhook body is held in memory whole before it is
/// parsed, and an AlertManager notification is a few KiB per alert (thousands of alerts in one group
/// stay far below this); a larger limit only lets one request take that much memory.
pub const MAX_BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// Everything alertscaler can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Which backend scales functions.
    pub backend: BackendKind,
    /// Shadow mode: decide and record every trigger as usual, but write no replica count (the
    /// decision is reported as `unchanged`, why `dry_run`, saying what it would have done).
    pub dry_run: bool,
    /// Namespace for a `function_name` label without a `.namespace` suffix.
    pub default_namespace: String,
    /// Only functions in these namespaces are ever scaled.
    pub allowed_namespaces: Vec<String>,
    /// Alert label that names the function.
    pub function_label: String,
    /// Credentials AlertManager must present on `/system/*`.
    pub auth: AuthConfig,
    /// Largest accepted webhook body, in bytes: 1024 ..= [`MAX_BODY_LIMIT_BYTES`].
    pub body_limit_bytes: usize,
    /// Minimum seconds between two scale-ups of one function; must exceed AlertManager's retry window
    /// and stay below its repeat_interval.
    pub scale_up_cooldown_secs: u64,
    /// Resolved episodes are forgotten, and silent firing ones expire, after this many seconds.
    pub episode_ttl_secs: u64,
    /// Replicas no function may exceed, whatever its labels say.
    pub max_replicas_ceiling: u32,
    /// Scaling label defaults (OpenFaaS CE's).
    pub labels: LabelDefaults,
    /// The platform's replica limits (OpenFaaS CE: at most 5, never 0), whatever labels ask.
    pub platform: Platform,
    /// Functions of the embedded memory backend.
    pub memory: MemoryConfig,
    /// The OpenFaaS gateway (`backend = "openfaas"`).
    pub openfaas: OpenFaasConfig,
    /// Settings of the Kubernetes backend.
    pub kubernetes: KubernetesConfig,
    /// Scaling policies: default policy, scale-down mode, stabilization (see docs/policies.md).
    pub policy: PolicyConfig,
    /// Optional Prometheus for load at decision time (proportional policy).
    pub prometheus: PrometheusConfig,
    /// Decisions kept for `GET /decisions` (0 keeps none).
    pub audit_capacity: usize,
    /// Seconds in-flight requests may take to finish after SIGTERM/SIGINT before the server exits.
    pub shutdown_grace_secs: u64,
    /// Seconds a request may take before it is answered 503 (AlertManager retries it).
    pub request_timeout_secs: u64,
    /// Per-source-IP limit on failed authentications.
    pub auth_failure_limit: AuthFailureLimit,
    /// Header-read and idle timeouts, maximum concurrent connections.
    pub connections: ConnectionsConfig,
    /// Serve HTTPS with these PEM files instead of plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            backend: BackendKind::Memory,
            dry_run: false,
            default_namespace: "openfaas-fn".into(),
            allowed_namespaces: vec!["openfaas-fn".into()],
            function_label: "function_name".into(),
            auth: AuthConfig::None,
            body_limit_bytes: 1024 * 1024,
            scale_up_cooldown_secs: 20,
            episode_ttl_secs: 3600,
            max_replicas_ceiling: 100,
            labels: LabelDefaults::default(),
            platform: Platform::default(),
            memory: MemoryConfig::default(),
            openfaas: OpenFaasConfig::default(),
            kubernetes: KubernetesConfig::default(),
            policy: PolicyConfig::default(),
            prometheus: PrometheusConfig::default(),
            audit_capacity: DEFAULT_AUDIT_CAPACITY,
            shutdown_grace_secs: 20,
            request_timeout_secs: 10,
            auth_failure_limit: AuthFailureLimit::default(),
            connections: ConnectionsConfig::default(),
            tls: None,
        }
    }
}

/// The backend that reads and writes replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Embedded, in memory, functions from `[[memory.functions]]`.
    Memory,
    /// Kubernetes Deployments.
    Kubernetes,
    /// The OpenFaaS gateway's provider API.
    Openfaas,
}

/// Webhook authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthConfig {
    None,
    /// HTTP basic auth; the password is read from a file (as Kubernetes mounts secrets).
    Basic {
        username: String,
        password_file: PathBuf,
    },
    /// `Authorization: Bearer …`; the token is read from a file.
    Bearer {
        token_file: PathBuf,
    },
}

/// A configuration that cannot be used; the message names the key or file to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    // The I/O error is part of the message, not a `source`: anyhow would print it twice.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "config file {path} is larger than {}: no configuration is that large (is it the right file?)",
        bounded::size(*limit)
    )]
    TooLarge { path: PathBuf, limit: usize },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Figment(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("cannot read secret file {path} (for `{key}`): {cause}")]
    Secret {
        key: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl Config {
    /// The configuration as TOML with secrets redacted (secrets live in files; only paths are shown),
    /// with a note where a value shown does not apply.
    pub fn to_redacted_toml(&self) -> String {
        // A password in `prometheus.url` (reqwest sends it as basic auth) is the one secret a
        // configuration can hold in place; the gateway's URL refuses one at validation.
        let redacted = self.prometheus.url.as_deref().and_then(redact_password);
        let shown = match redacted {
            Some(url) => {
                let mut shown = self.clone();
                shown.prometheus.url = Some(url);
                std::borrow::Cow::Owned(shown)
            }
            None => std::borrow::Cow::Borrowed(self),
        };
        let mut text =
            toml::to_string_pretty(&*shown).unwrap_or_else(|e| format!("# cannot render: {e}"));
        if self.dry_run {
            text.push_str(
                "\n# dry_run = true: no replica count is written; decisions are recorded in the ledger \
                 as if made and reported as unchanged, why dry_run (\"dry run: would scale …\")\n",
            );
        }
        if self.policy.scale_down == ScaleDown::Ce {
            text.push_str(
                "\n# policy.scale_down = \"ce\": the stabilization window is 0 (straight to min); \
                 policy.scale_down_stabilization_secs applies only with \"stabilized\" \
                 (a function's com.openfaas.scale.down-stabilization label applies in both)\n",
            );
        }
        text
    }
}

/// The URL with its password replaced by `[redacted]`; `None` when it holds none.
fn redact_password(url: &str) -> Option<String> {
    let mut parsed = reqwest::Url::parse(url).ok()?;
    parsed.password()?;
    parsed.set_password(Some("[redacted]")).ok()?;
    // `Url` percent-encodes the brackets; the reader should see the word.
    Some(parsed.as_str().replacen("%5Bredacted%5D", "[redacted]", 1))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_ca;
