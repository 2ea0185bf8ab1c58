//! Load measured at decision time: an optional Prometheus instant query for the proportional
//! policy, falling back to the alert's `value` annotation on any error or timeout; for the capacity
//! policy, the desired replica count the capacity rule pack records
//! ([`DESIRED_SERIES`]) if it is fresh ([`answer::fresh`]), falling back to the alert's `desired` annotation.
//!
//! This is the only I/O a policy input needs, so it lives here and not in [`crate::policy`]: the
//! service measures, then hands the number to the pure decision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tracing::warn;

use crate::alert::Signal;
use crate::config::{ConfigError, PrometheusConfig, ca};
use crate::id::FunctionId;
use crate::ledger::Trigger;
use crate::policy::{Load, PolicyConfig, PolicyKind, proportional};

mod answer;
mod credentials;
mod promql;

pub(crate) use answer::desired_answer;
#[cfg(test)]
use answer::fresh;
use answer::{error_answer, parse_alertnames, parse_answer, parse_desired};
use credentials::Credentials;
pub use promql::firing_query;
pub(crate) use promql::{DESIRED_SERIES, desired_query};

/// Why a query gave no load (logged; the annotation is used instead).
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("prometheus query timed out after {0} ms")]
    Timeout(u64),
    #[error("prometheus request failed: {0}")]
    Request(String),
    #[error("prometheus answered {0}")]
    Status(u16),
    /// 401 or 403, often from an auth proxy in front of Prometheus: what to check.
    #[error("prometheus answered {status}: {hint}")]
    Unauthorized {
        status: reqwest::StatusCode,
        hint: &'static str,
    },
    #[error("prometheus answered {status}: {kind}: {message}")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
    #[error(
        "prometheus answered more than {0} bytes (an instant query for one number needs a few hundred: \
         does the query return many series? wrap it in sum(...))"
    )]
    TooLarge(usize),
    #[error("prometheus answer not understood: {0}")]
    Answer(String),
    #[error(
        "the desired count was sampled {age_secs:.0} s before Prometheus evaluated the query, more than \
         prometheus.desired_max_age_secs = {max_secs} (is the recording rule failing to evaluate?)"
    )]
    Stale { age_secs: f64, max_secs: u64 },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A credentials file that cannot be used at start-up.
    #[error(transparent)]
    Setup(#[from] ConfigError),
}

/// What happens without a measured desired count (said in the warning that tells why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otherwise {
    /// A notification: the alert's `desired` annotation decides.
    Annotation,
    /// A follow-up: nothing newer than the annotation already acted on, so nothing moves.
    Hold,
}

impl Otherwise {
    fn says(self) -> &'static str {
        match self {
            Self::Annotation => "using the alert's desired annotation",
            Self::Hold => "the follow-up holds",
        }
    }
}

/// Fetches load from Prometheus when configured.
#[derive(Debug, Clone, Default)]
pub struct LoadSource {
    prometheus: Option<Prometheus>,
}

#[derive(Debug, Clone)]
struct Prometheus {
    client: reqwest::Client,
    endpoint: String,
    timeout_ms: u64,
    queries: BTreeMap<String, String>,
    desired_max_age_secs: u64,
    /// Sent as `Authorization` with every query; shared by the clones of a source.
    credentials: Option<Arc<Credentials>>,
    /// What a 401 or 403 asks to check.
    hint: &'static str,
    /// Whether `prometheus.ca_file` is set (what an untrusted certificate asks to check).
    ca_file: bool,
}

impl LoadSource {
    /// No Prometheus: the proportional policy reads the annotation.
    pub fn none() -> Self {
        Self::default()
    }

    /// From a validated configuration. Requires the process's rustls provider (main installs it).
    pub fn from_config(config: &PrometheusConfig) -> Result<Self, LoadError> {
        let Some(url) = &config.url else {
            return Ok(Self::none());
        };
        // Read whatever the URL's scheme: a file that cannot be used is refused while the URL is
        // plain HTTP too (it may turn to https later).
        let roots = ca::roots("prometheus.ca_file", config.ca_file.as_deref())?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.query_timeout_ms))
            // Added to the platform's roots (rustls-platform-verifier), not in their place.
            .tls_certs_merge(roots)
            .build()
            .map_err(|e| LoadError::Client(e.to_string()))?;
        let credentials = Credentials::from_config(config)?;
        let hint = credentials::hint(credentials.as_ref(), url);
        Ok(Self {
            prometheus: Some(Prometheus {
                client,
                endpoint: format!("{}/api/v1/query", url.trim_end_matches('/')),
                timeout_ms: config.query_timeout_ms,
                queries: config.queries.clone(),
                desired_max_age_secs: config.desired_max_age_secs,
                credentials: credentials.map(Arc::new),
                hint,
                ca_file: config.ca_file.is_some(),
            }),
        })
    }

    /// The measured load for a trigger that selects the proportional policy and has a query;
    /// `None` (annotation) otherwise or when the query fails, which is logged.
    pub(crate) async fn for_trigger(
        &self,
        trigger: &Trigger,
        config: &PolicyConfig,
        function: &FunctionId,
    ) -> Option<Load> {
        let signal = match trigger {
            Trigger::Up { signal, .. } | Trigger::Down { signal } => signal,
            Trigger::Hold(_) => return None,
        };
        match signal.policy.unwrap_or(config.default) {
            PolicyKind::Proportional => self.measure(&signal.alertname, function).await,
            PolicyKind::Capacity => self.desired(function, Otherwise::Annotation).await,
            _ => None,
        }
    }

    /// The function's desired replica count as the capacity rule pack last recorded it; `None`
    /// when Prometheus is not configured, the query fails or the count is older than
    /// `desired_max_age_secs`, which is logged with what the caller does `otherwise`. Public so a
    /// follow-up loop can re-read it while an alert fires.
    pub async fn desired(&self, function: &FunctionId, otherwise: Otherwise) -> Option<Load> {
        let p = self.prometheus.as_ref()?;
        let query = desired_query(function);
        let answer = p.fetch(&query).await;
        match answer.and_then(|b| parse_desired(&b, p.desired_max_age_secs)) {
            Ok(value) => Some(Load {
                value,
                source: "prometheus",
            }),
            Err(e) => {
                let otherwise = otherwise.says();
                warn!(error = %e, %query, "desired replicas query failed; {otherwise}");
                None
            }
        }
    }

    /// Which of `alertnames` Prometheus holds firing for `function` now (its `ALERTS` series,
    /// matched on the alert label `function_label`); `None` when Prometheus is not configured or
    /// the query fails (logged). Asked before a resolution that never came is decided: an alert
    /// AlertManager repeats less often than the episode TTL is still firing.
    pub async fn firing_alerts(
        &self,
        function: &FunctionId,
        function_label: &str,
        default_namespace: &str,
        alertnames: &[String],
    ) -> Option<Vec<String>> {
        let p = self.prometheus.as_ref()?;
        let query = firing_query(function, function_label, default_namespace, alertnames);
        match p.fetch(&query).await.and_then(|b| parse_alertnames(&b)) {
            Ok(names) => Some(names),
            Err(e) => {
                warn!(error = %e, %query, "firing alerts query failed; deciding on the silence alone");
                None
            }
        }
    }

    /// Query the load for this alert and function; `None` when not configured or on failure.
    pub(crate) async fn measure(&self, alertname: &str, function: &FunctionId) -> Option<Load> {
        let p = self.prometheus.as_ref()?;
        // Exactly, else ignoring case: a query set through the environment arrives with its key
        // lowercased (`ALERTSCALER_PROMETHEUS__QUERIES__APIHighInvocationRate`).
        let template = p.queries.get(alertname).or_else(|| {
            p.queries
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(alertname))
                .map(|(_, query)| query)
        })?;
        let query = template
            .replace("{function}", &function.to_string())
            .replace("{name}", &function.name)
            .replace("{namespace}", &function.namespace);
        match p.query(&query).await {
            Ok(value) => Some(Load {
                value,
                source: "prometheus",
            }),
            Err(e) => {
                warn!(error = %e, %query, alert = alertname, "load query failed; using the alert's value annotation");
                None
            }
        }
    }

    /// The load to use: measured, else the annotation (the error names the annotation).
    pub async fn load(&self, signal: &Signal, function: &FunctionId) -> Result<Load, String> {
        match self.measure(&signal.alertname, function).await {
            Some(load) => Ok(load),
            None => proportional::annotation_load(signal),
        }
    }
}

impl Prometheus {
    async fn query(&self, query: &str) -> Result<f64, LoadError> {
        parse_answer(&self.fetch(query).await?)
    }

    /// GET /api/v1/query and the JSON body, within the timeout.
    async fn fetch(&self, query: &str) -> Result<serde_json::Value, LoadError> {
        let url = reqwest::Url::parse_with_params(&self.endpoint, [("query", query)])
            .map_err(|e| LoadError::Request(e.to_string()))?;
        let mut request = self.client.get(url);
        if let Some(credentials) = &self.credentials {
            request = request.header(reqwest::header::AUTHORIZATION, credentials.header());
        }
        let timeout = Duration::from_millis(self.timeout_ms);
        // The client's own timeout covers the whole exchange; this one also bounds a future that
        // never completes.
        let answer = async {
            let response = request.send().await.map_err(|e| self.transport(e))?;
            let status = response.status().as_u16();
            Ok::<_, LoadError>((status, self.read_body(response).await?))
        };
        let (status, body) = tokio::time::timeout(timeout, answer)
            .await
            .map_err(|_| LoadError::Timeout(self.timeout_ms))??;
        if matches!(status, 401 | 403) {
            return Err(LoadError::Unauthorized {
                status: reqwest::StatusCode::from_u16(status).unwrap_or_default(),
                hint: self.hint,
            });
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(body) if (200..300).contains(&status) => Ok(body),
            Ok(body) => Err(error_answer(status, &body)),
            Err(_) if (200..300).contains(&status) => {
                Err(LoadError::Answer("the body is not JSON".into()))
            }
            Err(_) => Err(LoadError::Status(status)),
        }
    }

    /// The body, at most [`MAX_ANSWER_BYTES`]: a larger one is refused as soon as it is seen, not
    /// held in memory; a body cut off (by the timeout or the peer) is the transport's error.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, LoadError> {
        let too_large = |n: u64| n > MAX_ANSWER_BYTES as u64;
        if response.content_length().is_some_and(too_large) {
            return Err(LoadError::TooLarge(MAX_ANSWER_BYTES));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if too_large((body.len() + chunk.len()) as u64) {
                return Err(LoadError::TooLarge(MAX_ANSWER_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// A reqwest error: the timeout by name, anything else with its causes (reqwest's own words
    /// name only the URL), and an untrusted certificate with what to do about it.
    fn transport(&self, e: reqwest::Error) -> LoadError {
        if e.is_timeout() {
            return LoadError::Timeout(self.timeout_ms);
        }
        let mut text = crate::error::error_chain(&e);
        if let Some(hint) = crate::error::ca_hint(&e, "prometheus.ca_file", self.ca_file) {
            text = format!("{text}: {hint}");
        }
        LoadError::Request(text)
    }
}

/// The largest answer read: one number, or the `ALERTS` series of one function, is far below it;
/// more is a query that returns many series (refused anyway), and is not held in memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 1 << 20;

#[cfg(test)]
#[path = "measure_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "measure_http_tests.rs"]
mod http_tests;
