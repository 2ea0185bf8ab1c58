//! A small client of the OpenFaaS gateway's provider API (faasd, faas-netes, any provider):
//! read a function, scale it, list functions, health. Bounded retries with doubling backoff on
//! connection errors, timeouts and 5xx; never on 4xx; never forever.
//!
//! Separate from [`super`] so that HTTP status mapping is read in one place and the
//! backend file keeps to the ledger logic.
//!
//! # Layout
//! This file holds the client and its calls, one method per provider endpoint. Beside it:
//! - `transport`: one request with bounded retries, and what a failed attempt may have done;
//! - `refusals`: the errors a gateway's answer maps to, in the gateway's own words.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::config::OpenFaasConfig;
use crate::error::BackendError;
use crate::id::FunctionId;

mod refusals;
#[cfg(test)]
mod tests;
mod transport;

use refusals::{credentials, refusal, scale_refused, snippet};
use transport::Answer;

/// The provider's `FunctionStatus`: every field is `omitempty`, so every field is optional here and
/// unknown fields are ignored. An absent `replicas` means 0.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FunctionStatus {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub replicas: Option<u64>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl FunctionStatus {
    /// Replicas, absent = 0, saturating at `u32::MAX`.
    pub fn replicas(&self) -> u32 {
        u32::try_from(self.replicas.unwrap_or(0)).unwrap_or(u32::MAX)
    }

    /// Annotations overlaid by labels: where both carry a `com.openfaas.scale.*` key, the LABEL wins
    /// (labels are what `faas-cli deploy --label` sets and what OpenFaaS CE reads).
    pub(crate) fn scaling_labels(&self) -> BTreeMap<String, String> {
        let mut merged = self.annotations.clone().unwrap_or_default();
        merged.extend(self.labels.clone().unwrap_or_default());
        merged
    }
}

/// Body of `POST /system/scale-function/{name}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScaleRequest<'a> {
    service_name: &'a str,
    namespace: &'a str,
    replicas: u64,
}

/// A call that failed after all attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    pub error: BackendError,
    /// Whether some attempt may have reached the gateway and acted (a timeout after sending, a 5xx):
    /// for a scale call, the outcome is then unknown.
    pub maybe_applied: bool,
}

/// The gateway client: base URL, credentials, timeouts and the retry budget.
#[derive(Clone)]
pub struct Gateway {
    client: Client,
    base: Url,
    credentials: Option<(String, String)>,
    retries: u32,
    backoff: Duration,
    /// Whether `openfaas.ca_file` is set (what an untrusted certificate asks to check).
    ca_file: bool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("base", &self.base.as_str())
            .field("auth", &self.credentials.as_ref().map(|_| "[redacted]"))
            .field("retries", &self.retries)
            .finish()
    }
}

impl Gateway {
    /// Build the client; `password` is the content of `openfaas.password_file` (None = no auth),
    /// `roots` the certificates of `openfaas.ca_file`, trusted beside the platform's.
    pub fn new(
        config: &OpenFaasConfig,
        password: Option<String>,
        roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, String> {
        let base = Url::parse(&config.gateway_url).map_err(|e| e.to_string())?;
        // reqwest is built without a default TLS provider; main installs ring, tests may not.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .user_agent(concat!("alertscaler/", env!("CARGO_PKG_VERSION")))
            // Added to the platform's roots (rustls-platform-verifier), not in their place.
            .tls_certs_merge(roots)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base,
            credentials: password.map(|p| (config.username.clone(), p)),
            retries: config.retries,
            backoff: Duration::from_millis(config.retry_backoff_ms),
            ca_file: config.ca_file.is_some(),
        })
    }

    /// `GET /system/function/{name}?namespace={ns}`.
    pub async fn function(&self, id: &FunctionId) -> Result<FunctionStatus, BackendError> {
        let url = self.url(&["system", "function", &id.name], Some(&id.namespace));
        let Answer { status, body, .. } = self
            .call(Method::GET, url, None)
            .await
            .map_err(|f| f.error)?;
        match status {
            s if s.is_success() => serde_json::from_slice(&body).map_err(|e| {
                BackendError::Unavailable(format!("gateway sent an unreadable FunctionStatus: {e}"))
            }),
            StatusCode::NOT_FOUND => Err(BackendError::NotFound(format!(
                "{id}: the gateway knows no such function"
            ))),
            s => Err(refusal(id, s, &body)),
        }
    }

    /// `POST /system/scale-function/{name}?namespace={ns}`; 200 and 202 are success.
    pub async fn scale(&self, id: &FunctionId, replicas: u32) -> Result<(), CallFailure> {
        let url = self.url(&["system", "scale-function", &id.name], Some(&id.namespace));
        let body = serde_json::to_vec(&ScaleRequest {
            service_name: &id.name,
            namespace: &id.namespace,
            replicas: u64::from(replicas),
        })
        .unwrap_or_default();
        let answer = self.call(Method::POST, url, Some(body)).await?;
        let (status, text) = (answer.status, answer.body);
        // A refusal after an attempt that may have acted (a 5xx, then a 429 from a proxy) leaves
        // the outcome unknown: only a refusal on every attempt is definite.
        let definite = |error| {
            Err(CallFailure {
                error,
                maybe_applied: answer.earlier_maybe_applied,
            })
        };
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => definite(BackendError::NotFound(format!(
                "{id}: the gateway knows no such function"
            ))),
            StatusCode::BAD_REQUEST => definite(scale_refused(id, replicas, &text)),
            s => definite(refusal(id, s, &text)),
        }
    }

    /// `GET /system/functions?namespace={ns}`; `Ok(None)` when the gateway refuses the namespace.
    pub async fn functions(
        &self,
        namespace: &str,
    ) -> Result<Option<Vec<FunctionStatus>>, BackendError> {
        let url = self.url(&["system", "functions"], Some(namespace));
        let Answer { status, body, .. } = self.call(Method::GET, url, None).await.map_err(|f| {
            BackendError::Unavailable(format!(
                "cannot list functions through the gateway ({}); an OpenFaaS CE gateway fails this \
                 call while its Prometheus is unreachable: check the gateway's Prometheus",
                f.error
            ))
        })?;
        match status {
            s if s.is_success() => serde_json::from_slice(&body).map(Some).map_err(|e| {
                BackendError::Unavailable(format!("gateway sent an unreadable function list: {e}"))
            }),
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(credentials(status)),
            s => Err(BackendError::Unavailable(format!(
                "gateway answered {s} to a function list: {}",
                snippet(&body)
            ))),
        }
    }

    /// `GET /healthz`, one attempt, for `/readyz`.
    pub async fn healthz(&self) -> Result<(), BackendError> {
        let url = self.url(&["healthz"], None);
        let response = self.client.get(url).send().await.map_err(|e| {
            BackendError::Unavailable(format!("gateway unreachable: {}", self.describe(&e)))
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(BackendError::Unavailable(format!(
                "gateway /healthz answered {}",
                response.status()
            )))
        }
    }

    fn url(&self, segments: &[&str], namespace: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if let Some(ns) = namespace {
            url.query_pairs_mut().append_pair("namespace", ns);
        }
        url
    }
}
