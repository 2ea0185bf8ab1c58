//! `[prometheus]`: where load is measured at decision time.

use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// File holding a bearer token sent to Prometheus (an auth proxy's, e.g. a projected
    /// service-account token); re-read when it changes, so a rotated token needs no restart.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic-auth user of Prometheus (with `password_file`).
    pub username: Option<String>,
    /// File holding the basic-auth password of Prometheus; re-read when it changes.
    pub password_file: Option<PathBuf>,
    /// PEM file of CA certificates trusted beside the platform's roots, for a Prometheus (or its
    /// proxy) served over HTTPS with a certificate from a private CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: None,
            query_timeout_ms: 500,
            queries: BTreeMap::new(),
            desired_max_age_secs: 45,
            bearer_token_file: None,
            username: None,
            password_file: None,
            ca_file: None,
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
        self.validate_credentials()?;
        if self.ca_file.is_some() && self.url.is_none() {
            return Err((
                "prometheus.ca_file",
                "is set but prometheus.url is not: nothing would use it".into(),
            ));
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

    /// One kind of credentials at a time: a bearer token file, a user with a password file, or
    /// `user:password@` in the URL (kept from before the keys existed). Two kinds would leave which
    /// one is sent to chance; a file without a URL would never be used. Never echoes the URL.
    fn validate_credentials(&self) -> Result<(), (&'static str, String)> {
        let basic = self.username.is_some() || self.password_file.is_some();
        if self.bearer_token_file.is_some() && basic {
            return Err((
                "prometheus.bearer_token_file",
                "is set beside prometheus.username/prometheus.password_file: choose bearer or \
                 basic authentication"
                    .into(),
            ));
        }
        match (&self.username, &self.password_file) {
            (Some(_), None) => {
                return Err((
                    "prometheus.password_file",
                    "is unset while prometheus.username is set: basic auth needs both".into(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "prometheus.username",
                    "is unset while prometheus.password_file is set: basic auth needs both".into(),
                ));
            }
            (Some(user), Some(_)) if user.is_empty() || user.contains(':') => {
                return Err((
                    "prometheus.username",
                    "must be non-empty and contain no ':'".into(),
                ));
            }
            _ => {}
        }
        let key = if self.bearer_token_file.is_some() {
            "prometheus.bearer_token_file"
        } else if basic {
            "prometheus.password_file"
        } else {
            return Ok(());
        };
        let Some(url) = &self.url else {
            return Err((
                key,
                "is set but prometheus.url is not: nothing would use it".into(),
            ));
        };
        let in_url = reqwest::Url::parse(url)
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
        if in_url {
            return Err((
                "prometheus.url",
                format!(
                    "holds credentials (user:password@) and {key} is set too: keep one (the \
                     file is never logged)"
                ),
            ));
        }
        Ok(())
    }
}
