//! Configuration: built-in defaults < TOML file < environment (`ALERTSCALER_…`, nested with `__`).
//!
//! Unknown keys are errors (a typo must not silently change behaviour), and `validate()` runs once at
//! load so that an invalid configuration never reaches a handler.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::backend::memory::FunctionSpec;
use crate::labels::LabelDefaults;
use crate::load::PrometheusConfig;
use crate::policy::PolicyConfig;

/// Everything alertscaler can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Which backend scales functions.
    pub backend: BackendKind,
    /// Namespace for a `function_name` label without a `.namespace` suffix.
    pub default_namespace: String,
    /// Only functions in these namespaces are ever scaled.
    pub allowed_namespaces: Vec<String>,
    /// Alert label that names the function.
    pub function_label: String,
    /// Credentials AlertManager must present on `/system/*`.
    pub auth: AuthConfig,
    /// Largest accepted webhook body, in bytes.
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
    /// Serve HTTPS with these PEM files instead of plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

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

/// `[tls]`: certificate chain and private key, PEM files (the key is a secret: only its path is
/// ever shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            backend: BackendKind::Memory,
            default_namespace: "openfaas-fn".into(),
            allowed_namespaces: vec!["openfaas-fn".into()],
            function_label: "function_name".into(),
            auth: AuthConfig::None,
            body_limit_bytes: 1024 * 1024,
            scale_up_cooldown_secs: 20,
            episode_ttl_secs: 3600,
            max_replicas_ceiling: 100,
            labels: LabelDefaults::default(),
            memory: MemoryConfig::default(),
            openfaas: OpenFaasConfig::default(),
            kubernetes: KubernetesConfig::default(),
            policy: PolicyConfig::default(),
            prometheus: PrometheusConfig::default(),
            audit_capacity: crate::audit::DEFAULT_CAPACITY,
            shutdown_grace_secs: 20,
            request_timeout_secs: 10,
            auth_failure_limit: AuthFailureLimit::default(),
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

/// `[memory]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    pub functions: Vec<FunctionSpec>,
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
            state_file: PathBuf::from("alertscaler-state.json"),
            connect_timeout_ms: 2000,
            request_timeout_ms: 5000,
            retries: 3,
            retry_backoff_ms: 200,
        }
    }
}

/// `[kubernetes]` section: which Deployments are functions, and where the ledger is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Label selector a Deployment must match to be scaled (`key`, `key=value`, `key!=value`,
    /// `!key`, comma-separated). faas-netes puts `faas_function=<name>` on every function.
    pub selector: String,
    /// Annotation on the Deployment that holds the function's ledger (JSON).
    pub ledger_annotation: String,
    /// Seconds one apiserver request may take before the webhook answers 503.
    pub request_timeout_secs: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            selector: "faas_function".into(),
            ledger_annotation: "alertscaler.openfaas.com/ledger".into(),
            request_timeout_secs: 10,
        }
    }
}

impl OpenFaasConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        match reqwest::Url::parse(&self.gateway_url) {
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

/// A configuration that cannot be used; the message names the key or file to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Figment(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("cannot read secret file {path} (for `{key}`): {source}")]
    Secret {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Load defaults < `file` < environment, then validate.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, Env::prefixed("ALERTSCALER_").split("__"))
    }

    /// As [`Config::load`], with the environment provider given (tests pass a fake one).
    pub fn load_with_env(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            // Parse the file on its own first: toml's errors carry the line and column.
            toml::from_str::<Config>(&text).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: e.to_string().trim_end().replace('\n', " "),
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Figment(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Check cross-field rules that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        if self.allowed_namespaces.is_empty() {
            return invalid(
                "allowed_namespaces",
                "must name at least one namespace".into(),
            );
        }
        if !self.allowed_namespaces.contains(&self.default_namespace) {
            return invalid(
                "default_namespace",
                format!(
                    "{:?} is not in allowed_namespaces {:?}",
                    self.default_namespace, self.allowed_namespaces
                ),
            );
        }
        if self.body_limit_bytes < 1024 {
            return invalid("body_limit_bytes", "must be at least 1024".into());
        }
        if self.max_replicas_ceiling == 0 {
            return invalid("max_replicas_ceiling", "must be at least 1".into());
        }
        let l = &self.labels;
        if l.min == 0 || l.min > l.max || l.max > self.max_replicas_ceiling || l.factor > 100 {
            return invalid(
                "labels",
                format!(
                    "need 1 ≤ min ≤ max ≤ max_replicas_ceiling ({}) and factor ≤ 100, got min {} max {} factor {}",
                    self.max_replicas_ceiling, l.min, l.max, l.factor
                ),
            );
        }
        if self.scale_up_cooldown_secs >= self.episode_ttl_secs {
            return invalid(
                "scale_up_cooldown_secs",
                "must be shorter than episode_ttl_secs".into(),
            );
        }
        if let Err((key, problem)) = self.policy.validate().and(self.prometheus.validate()) {
            return invalid(key, problem);
        }
        self.validate_ops()?;
        for f in &self.memory.functions {
            let label = format!("{}.{}", f.name, f.namespace);
            if crate::alert::FunctionId::parse(&label, &self.default_namespace).is_err() {
                return invalid(
                    "memory.functions",
                    format!("{label:?} is not a valid function name.namespace"),
                );
            }
        }
        let k = &self.kubernetes;
        if let Err(problem) = crate::backend::kubernetes::Selector::parse(&k.selector) {
            return invalid("kubernetes.selector", problem);
        }
        if crate::backend::kubernetes::selector::valid_key(&k.ledger_annotation).is_err() {
            return invalid(
                "kubernetes.ledger_annotation",
                format!("{:?} is not a valid annotation key", k.ledger_annotation),
            );
        }
        if k.request_timeout_secs == 0 || k.request_timeout_secs > 300 {
            return invalid(
                "kubernetes.request_timeout_secs",
                "must be between 1 and 300".into(),
            );
        }
        self.openfaas.validate()
    }

    /// Limits of the operations settings (audit, shutdown, timeouts, auth failures).
    fn validate_ops(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| {
            Err(ConfigError::Invalid {
                key,
                problem: problem.into(),
            })
        };
        if self.audit_capacity > 1_000_000 {
            return invalid("audit_capacity", "must be at most 1000000");
        }
        if self.request_timeout_secs == 0 {
            return invalid("request_timeout_secs", "must be at least 1");
        }
        if self.shutdown_grace_secs > 3600 {
            return invalid("shutdown_grace_secs", "must be at most 3600");
        }
        let l = self.auth_failure_limit;
        if l.max_failures == 0 || l.window_secs == 0 {
            return invalid(
                "auth_failure_limit",
                "max_failures and window_secs must be at least 1",
            );
        }
        Ok(())
    }

    /// The configuration as TOML with secrets redacted (secrets live in files; only paths are shown).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        // A prefix per call: tests run in parallel threads of one process and share its environment.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prefix = format!("TEST_{}_{call}_", std::process::id());
        for (k, v) in env {
            // SAFETY: test-local variables with a per-process prefix; read back immediately below.
            unsafe { std::env::set_var(format!("{prefix}{k}"), v) };
        }
        let result = Config::load_with_env(Some(&path), Env::prefixed(&prefix).split("__"));
        for (k, _) in env {
            unsafe { std::env::remove_var(format!("{prefix}{k}")) };
        }
        result
    }

    #[test]
    fn defaults_validate() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((c.labels.min, c.labels.max, c.labels.factor), (1, 20, 20));
    }

    #[test]
    fn file_then_env_layering() {
        let c = load_str(
            "listen = \"127.0.0.1:9999\"\n[labels]\nmax = 30\n",
            &[("LABELS__FACTOR", "50"), ("SCALE_UP_COOLDOWN_SECS", "7")],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!((c.labels.max, c.labels.factor, c.labels.min), (30, 50, 1));
        assert_eq!(c.scale_up_cooldown_secs, 7);
    }

    #[test]
    fn unknown_keys_are_errors_with_line() {
        let err = load_str("listen = \"127.0.0.1:1\"\nscale_up_cooldwn_secs = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("scale_up_cooldwn_secs") && err.contains("line 2"),
            "{err}"
        );
        let err = load_str("[labels]\nmaximum = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("maximum"), "{err}");
        let err = load_str("", &[("LISTN", "x")]).unwrap_err().to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn auth_modes_parse() {
        let c = load_str(
            "[auth]\nmode = \"basic\"\nusername = \"admin\"\npassword_file = \"/p\"\n",
            &[],
        )
        .unwrap();
        assert!(matches!(c.auth, AuthConfig::Basic { .. }));
        let err = load_str("[auth]\nmode = \"bearer\"\ntoken = \"inline\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }

    #[test]
    fn openfaas_section_defaults_and_overrides() {
        let c = load_str(
            "backend = \"openfaas\"\n[openfaas]\ngateway_url = \"http://gw:8080\"\npassword_file = \"/var/secrets/basic-auth-password\"\n",
            &[("OPENFAAS__RETRIES", "5")],
        )
        .unwrap();
        assert_eq!(c.backend, BackendKind::Openfaas);
        assert_eq!(c.openfaas.gateway_url, "http://gw:8080");
        assert_eq!(c.openfaas.retries, 5);
        assert_eq!(c.openfaas.username, "admin");
        assert_eq!(
            c.openfaas.state_file,
            PathBuf::from("alertscaler-state.json")
        );
        let err = load_str("[openfaas]\npasword_file = \"/p\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pasword_file"), "{err}");
    }

    #[test]
    fn invalid_combinations_name_the_key() {
        for (text, key) in [
            ("max_replicas_ceiling = 10\n", "labels"),
            ("default_namespace = \"other\"\n", "default_namespace"),
            ("allowed_namespaces = []\n", "allowed_namespaces"),
            ("body_limit_bytes = 10\n", "body_limit_bytes"),
            (
                "[[memory.functions]]\nname = \"Bad_Name\"\n",
                "memory.functions",
            ),
            (
                "[openfaas]\ngateway_url = \"ftp://x\"\n",
                "openfaas.gateway_url",
            ),
            (
                "[openfaas]\ngateway_url = \"not a url\"\n",
                "openfaas.gateway_url",
            ),
            (
                "[openfaas]\nrequest_timeout_ms = 0\n",
                "openfaas.request_timeout_ms",
            ),
            ("[openfaas]\nretries = 1000\n", "openfaas.retries"),
            ("[openfaas]\nstate_file = \"\"\n", "openfaas.state_file"),
            (
                "[kubernetes]\nselector = \"env in (prod)\"\n",
                "kubernetes.selector",
            ),
            (
                "[kubernetes]\nledger_annotation = \"bad key!\"\n",
                "kubernetes.ledger_annotation",
            ),
            (
                "[kubernetes]\nrequest_timeout_secs = 0\n",
                "kubernetes.request_timeout_secs",
            ),
        ] {
            let err = load_str(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn ops_settings_parse_and_validate() {
        let c = load_str(
            "audit_capacity = 5\nshutdown_grace_secs = 3\nrequest_timeout_secs = 4\n\
             [auth_failure_limit]\nmax_failures = 2\nwindow_secs = 9\n\
             [tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            (
                c.audit_capacity,
                c.shutdown_grace_secs,
                c.request_timeout_secs
            ),
            (5, 3, 4)
        );
        assert_eq!(
            (
                c.auth_failure_limit.max_failures,
                c.auth_failure_limit.window_secs
            ),
            (2, 9)
        );
        assert_eq!(c.tls.unwrap().key_file, PathBuf::from("/k.pem"));
        for (text, key) in [
            ("request_timeout_secs = 0\n", "request_timeout_secs"),
            ("audit_capacity = 2000000\n", "audit_capacity"),
            (
                "[auth_failure_limit]\nmax_failures = 0\n",
                "auth_failure_limit",
            ),
            ("[tls]\ncert_file = \"/c.pem\"\n", "key_file"),
        ] {
            let err = load_str(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
