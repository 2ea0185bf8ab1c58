//! `[prometheus]`: where load is measured at decision time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[prometheus]` section: where to query the load, how long to wait, and which query per alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Base URL of Prometheus (e.g. `http://prometheus:9090`); unset → always the annotation.
    pub url: Option<String>,
    /// Time allowed for one query, connection included.
    pub query_timeout_ms: u64,
    /// PromQL per alertname; `{function}` (name.namespace), `{name}` and `{namespace}` are
    /// replaced. Alerts without a query use the annotation.
    pub queries: BTreeMap<String, String>,
    /// Oldest desired count (`alertscaler:function_desired_replicas`) the capacity policy acts on,
    /// in seconds before Prometheus evaluated the query: a recording rule that stops evaluating
    /// leaves its last sample answering for Prometheus's whole 5 min lookback. Default 45: three
    /// evaluations at the 15 s interval the rule packs assume.
    pub desired_max_age_secs: u64,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: None,
            query_timeout_ms: 500,
            queries: BTreeMap::new(),
            desired_max_age_secs: 45,
        }
    }
}

impl PrometheusConfig {
    /// Check the URL and timeout; the error names the key and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(url) = &self.url {
            let problem = match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    // `/api/v1/query` is appended: a query or fragment would come before it.
                    (u.query().is_some() || u.fragment().is_some())
                        .then_some("has a query or fragment (only a path prefix is allowed)")
                }
                _ => Some("is not an http(s) URL"),
            };
            if let Some(problem) = problem {
                return Err(("prometheus.url", format!("{url:?} {problem}")));
            }
        }
        if !(1..=60_000).contains(&self.query_timeout_ms) {
            return Err((
                "prometheus.query_timeout_ms",
                "must be between 1 and 60000".into(),
            ));
        }
        if !(1..=86_400).contains(&self.desired_max_age_secs) {
            return Err((
                "prometheus.desired_max_age_secs",
                "must be between 1 and 86400".into(),
            ));
        }
        Ok(())
    }
}
