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

pub mod bounded;
mod functions;
mod platform;
mod policy;
mod prometheus;
mod sections;
pub mod selector;
mod table;

pub use functions::{LabelDefaults, MemoryConfig, MemoryFunction};
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

/// The configuration file's text, read with a bound ([`bounded::CONFIG_MAX_BYTES`]).
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let unreadable = |cause| ConfigError::Read {
        path: path.to_owned(),
        cause,
    };
    let bytes = bounded::read_bounded(path, bounded::CONFIG_MAX_BYTES).map_err(|e| match e {
        bounded::BoundedError::Io(cause) => unreadable(cause),
        bounded::BoundedError::TooLarge { limit } => ConfigError::TooLarge {
            path: path.to_owned(),
            limit,
        },
    })?;
    String::from_utf8(bytes).map_err(|_| {
        unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The configuration's environment variables: `<prefix><KEY>`, nested keys with `__`. Kubernetes'
/// service links are left out: a Service named `alertscaler` beside the pod gives it
/// `ALERTSCALER_SERVICE_HOST`, `ALERTSCALER_PORT_8080_TCP_ADDR` and the like, which are no keys of
/// ours (refused as unknown, they stopped the pod at start-up).
pub fn environment(prefix: &str) -> Env {
    Env::prefixed(prefix)
        .filter(|key| !service_link(key.as_str()))
        .split("__")
}

/// Whether a variable (its name after the prefix) is one Kubernetes sets for a Service:
/// `SERVICE_HOST`, `SERVICE_PORT[_<name>]`, `PORT`, `PORT_<port>_<protocol>[_PROTO|_PORT|_ADDR]`.
fn service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    let port_n = key
        .strip_prefix("PORT_")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    key == "SERVICE_HOST"
        || key == "SERVICE_PORT"
        || key.starts_with("SERVICE_PORT_")
        || key == "PORT"
        || port_n
}

/// The environment's keys arrive lowercased: a query set there for an alert the file names in
/// another case (`ALERTSCALER_PROMETHEUS__QUERIES__APIHighInvocationRate` beside the file's
/// `APIHighInvocationRate`) is the same query and overrides the file's, under the file's name.
fn fold_environment_queries(queries: &mut std::collections::BTreeMap<String, String>) {
    let lowered: Vec<String> = queries
        .keys()
        .filter(|k| k.chars().all(|c| !c.is_uppercase()))
        .cloned()
        .collect();
    for low in lowered {
        let named = queries
            .keys()
            .find(|k| **k != low && k.eq_ignore_ascii_case(&low))
            .cloned();
        if let (Some(named), Some(query)) = (named, queries.get(&low).cloned()) {
            queries.insert(named, query);
            queries.remove(&low);
        }
    }
}

impl Config {
    /// Load defaults < `file` < environment, then validate.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, environment("ALERTSCALER_"))
    }

    /// As [`Config::load`], with `listen`'s built-in default replaced by `listen` when given: the
    /// container image listens on every interface (a loopback address in a container cannot be
    /// reached from outside it) unless the file or the environment says otherwise.
    pub fn load_with_default_listen(
        file: Option<&Path>,
        listen: Option<SocketAddr>,
    ) -> Result<Self, ConfigError> {
        let mut defaults = Config::default();
        defaults.listen = listen.unwrap_or(defaults.listen);
        Self::load_over(defaults, file, environment("ALERTSCALER_"))
    }

    /// As [`Config::load`], with the environment provider given (tests pass a fake one).
    pub fn load_with_env(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        Self::load_over(Config::default(), file, env)
    }

    /// `defaults` < `file` < `env`, then validate: the one loader the others call.
    pub fn load_over(defaults: Config, file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(defaults));
        let mut text = None;
        let mut functions = Vec::new();
        if let Some(path) = file {
            let read = read_config_file(path)?;
            // The function table is read apart (see `table`); a table that does not parse is
            // reported below with its position, from the whole file.
            match table::split(&read) {
                Ok(split) => {
                    figment = figment.merge(Toml::string(&split.settings));
                    functions = split.functions;
                }
                Err(()) => figment = figment.merge(Toml::string(&read)),
            }
            text = Some((path, read));
        }
        let mut config: Config = figment.merge(env).extract().map_err(|e| {
            // figment names the key but not the line: parse the file alone again, only now, for
            // an error with line and column. If the file is fine, the problem came from the
            // environment and figment's message stands.
            let positioned = text.as_ref().and_then(|(path, text)| {
                let e = toml::from_str::<Config>(text).err()?;
                Some(ConfigError::File {
                    path: path.to_path_buf(),
                    message: plain_types(&positioned(text, &e)),
                })
            });
            positioned.unwrap_or_else(|| ConfigError::Figment(plain_types(&e.to_string())))
        })?;
        // Functions set through the environment replace the file's, as any other key would.
        if config.memory.functions.is_empty() {
            config.memory.functions = functions;
        }
        fold_environment_queries(&mut config.prometheus.queries);
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
        if let Some(bad) = self
            .allowed_namespaces
            .iter()
            .find(|ns| !crate::id::is_namespace(ns))
        {
            return invalid(
                "allowed_namespaces",
                format!(
                    "{bad:?} is not a namespace (a DNS-1123 label: 1 to 63 of [a-z0-9-], \
                     alphanumeric at both ends): no function could ever be in it"
                ),
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
        // An alert label name, as Prometheus allows them: anything else never names a function.
        let label = self.function_label.as_bytes();
        let label_char = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        if label.first().is_none_or(u8::is_ascii_digit) || !label.iter().all(label_char) {
            return invalid(
                "function_label",
                format!(
                    "{:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                    self.function_label
                ),
            );
        }
        if !(1024..=MAX_BODY_LIMIT_BYTES).contains(&self.body_limit_bytes) {
            return invalid(
                "body_limit_bytes",
                format!(
                    "{} is outside 1024 ..= {MAX_BODY_LIMIT_BYTES} (64 MiB): a body is held in memory \
                     whole, and a webhook of thousands of alerts is a few MiB",
                    self.body_limit_bytes
                ),
            );
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
        if self.scale_up_cooldown_secs < ALERTMANAGER_RETRY_SECS {
            return invalid(
                "scale_up_cooldown_secs",
                format!(
                    "{} s is shorter than AlertManager's retry window: it resends a notification \
                     that failed for at least {ALERTMANAGER_RETRY_SECS} s (up to group_interval), and a \
                     resend after the cooldown steps again; use at least {ALERTMANAGER_RETRY_SECS} and \
                     more than your group_interval",
                    self.scale_up_cooldown_secs
                ),
            );
        }
        if self.episode_ttl_secs > MAX_EPISODE_TTL_SECS {
            return invalid(
                "episode_ttl_secs",
                format!("must be at most {MAX_EPISODE_TTL_SECS} (30 days)"),
            );
        }
        if self.scale_up_cooldown_secs >= self.episode_ttl_secs {
            return invalid(
                "scale_up_cooldown_secs",
                "must be shorter than episode_ttl_secs".into(),
            );
        }
        let platform = self.platform.validate(self.max_replicas_ceiling, l.min);
        if let Err((key, problem)) = platform
            .and(self.policy.validate())
            .and(self.prometheus.validate())
        {
            return invalid(key, problem);
        }
        sections::validate_ops(self)?;
        // The webhook's request timeout cuts a notification off with a 503: a query that may take it
        // all never reaches its fallback (the annotation) while Prometheus hangs, and every retry ends
        // the same way. Half of it is left to the backend's read and write.
        let half_request_ms = self.request_timeout_secs.saturating_mul(500);
        if self.prometheus.query_timeout_ms > half_request_ms {
            return invalid(
                "prometheus.query_timeout_ms",
                format!(
                    "{} ms is more than half of request_timeout_secs ({} s): with Prometheus hanging a \
                     notification would be answered 503 before its query gives up and falls back to the \
                     alert's annotation; use at most {half_request_ms}",
                    self.prometheus.query_timeout_ms, self.request_timeout_secs
                ),
            );
        }
        // A second table of one function would silently replace the first.
        let mut seen = std::collections::HashSet::with_capacity(self.memory.functions.len());
        for f in &self.memory.functions {
            let label = format!("{}.{}", f.name, f.namespace);
            if crate::id::FunctionId::parse(&label, &self.default_namespace).is_err() {
                return invalid(
                    "memory.functions",
                    format!("{label:?} is not a valid function name.namespace"),
                );
            }
            if !seen.insert((f.name.as_str(), f.namespace.as_str())) {
                return invalid(
                    "memory.functions",
                    format!("{label:?} is declared twice (one [[memory.functions]] per function)"),
                );
            }
        }
        self.kubernetes.validate()?;
        self.openfaas.validate()
    }

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

/// A TOML error on one line, for a log line or a terminal: "line L, column C: what". toml's own `Display`
/// draws the offending line with a caret under it over several lines, which a one-line log flattens into a
/// misaligned run of `|`s.
pub(crate) fn positioned(text: &str, e: &toml::de::Error) -> String {
    // Some messages say what was expected on a second line.
    let what = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(mut before) = e.span().and_then(|span| text.get(..span.start)) else {
        return what;
    };
    // An error at the end of the text (an unclosed array) is past the last line's end, not on a line
    // after the file's final newline (as toml says too).
    if before.len() == text.len() {
        before = before.strip_suffix('\n').unwrap_or(before);
        before = before.strip_suffix('\r').unwrap_or(before);
    }
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {what}")
}

/// serde's "expected u64" in words a configuration's reader knows.
fn plain_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, words) in [
        ("usize", "a whole number ≥ 0"),
        ("u64", "a whole number ≥ 0"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u16", "a whole number from 0 to 65535"),
        ("u8", "a whole number from 0 to 255"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    // toml's words for an integer past its own range (i64), whatever the key's type.
    out.replace(
        "number too large to fit in target type",
        "number too large (at most 9223372036854775807)",
    )
    // `listen` is the only socket address.
    .replace(
        "invalid socket address syntax",
        "invalid listen address: an IP address and a port, e.g. 0.0.0.0:8080 or [::]:8080 \
         (host names are not resolved)",
    )
}

#[cfg(test)]
mod tests;
