//! A small client of the OpenFaaS gateway's provider API (faasd, faas-netes, any provider):
//! read a function, scale it, list functions, health. Bounded retries with doubling backoff on
//! connection errors, timeouts and 5xx; never on 4xx; never forever.
//!
//! Separate from [`super`] so that HTTP status mapping is read in one place and the
//! backend file keeps to the ledger logic.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::config::OpenFaasConfig;
use crate::error::BackendError;
use crate::error::error_chain;
use crate::id::FunctionId;

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

/// The first answer of a call that was not a 5xx.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    /// An earlier attempt got a 5xx or lost its connection after sending: it may have acted.
    earlier_maybe_applied: bool,
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

    /// One request with bounded retries. Returns the first non-5xx answer, and whether an attempt
    /// before it may have acted.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, CallFailure> {
        let mut maybe_applied = false;
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                let delay = self.backoff.saturating_mul(1 << (attempt - 1).min(16));
                debug!(attempt, ?delay, %url, "retrying gateway call");
                tokio::time::sleep(delay).await;
            }
            match self
                .attempt(method.clone(), url.clone(), body.clone())
                .await
            {
                Ok((status, bytes)) if status.is_server_error() => {
                    maybe_applied = true;
                    last = format!("gateway answered {status}: {}", snippet(&bytes));
                }
                Ok((status, body)) => {
                    return Ok(Answer {
                        status,
                        body,
                        earlier_maybe_applied: maybe_applied,
                    });
                }
                Err(e) => {
                    // A connection that was never made cannot have acted; anything later might have.
                    maybe_applied |= !e.is_connect();
                    last = format!("gateway call failed: {}", self.describe(&e));
                }
            }
            warn!(attempt, %url, error = %last, "gateway call failed");
        }
        Err(CallFailure {
            error: BackendError::Unavailable(format!(
                "{last} (after {} attempts to {} {})",
                self.retries + 1,
                method,
                url.path()
            )),
            maybe_applied,
        })
    }

    /// A transport error with its causes, and an untrusted certificate with what to do about it.
    fn describe(&self, e: &reqwest::Error) -> String {
        let text = error_chain(e);
        match crate::error::ca_hint(e, "openfaas.ca_file", self.ca_file) {
            Some(hint) => format!("{text}: {hint}"),
            None => text,
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Vec<u8>), reqwest::Error> {
        let mut request = self.client.request(method, url);
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        Ok((status, bytes.to_vec()))
    }
}

/// A 4xx other than 404: credentials, or a namespace/request the gateway will not serve.
/// The one namespace an OpenFaaS CE provider serves.
const CE_NAMESPACE: &str = "openfaas-fn";

fn refusal(id: &FunctionId, status: StatusCode, body: &[u8]) -> BackendError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => credentials(status),
        StatusCode::BAD_REQUEST => {
            let refused = format!(
                "{id}: the gateway refused the request (400: {})",
                snippet(body)
            );
            // CE's provider answers 400 for any namespace but its own; in openfaas-fn a 400 is
            // something else, said by the body alone.
            BackendError::Ineligible(if id.namespace == CE_NAMESPACE {
                refused
            } else {
                format!("{refused}; OpenFaaS CE serves only the {CE_NAMESPACE} namespace")
            })
        }
        s => BackendError::Unavailable(format!("{id}: gateway answered {s}: {}", snippet(body))),
    }
}

/// A 400 to a scale: the gateway's own words; faasd's refusal of 0 is named only for a scale to 0
/// (another 400 is something else: a quota, a namespace, a body the provider did not accept).
fn scale_refused(id: &FunctionId, replicas: u32, body: &[u8]) -> BackendError {
    let refused = format!(
        "{id}: the gateway refused to scale to {replicas} (400: {})",
        snippet(body)
    );
    BackendError::Ineligible(if replicas == 0 {
        format!(
            "{refused}; faasd rejects 0: set [platform] scale_to_zero = false to plan within it"
        )
    } else {
        refused
    })
}

fn credentials(status: StatusCode) -> BackendError {
    BackendError::Forbidden(format!(
        "gateway rejected the credentials ({status}): check openfaas.username/password_file"
    ))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None if text.is_empty() => "(empty body)".into(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figlet() -> FunctionId {
        FunctionId::parse("figlet.openfaas-fn", "openfaas-fn").unwrap()
    }

    fn message(replicas: u32, body: &str) -> String {
        match scale_refused(&figlet(), replicas, body.as_bytes()) {
            BackendError::Ineligible(m) => m,
            other => panic!("not ineligible: {other:?}"),
        }
    }

    #[test]
    fn a_refused_scale_to_0_names_faasd_and_carries_the_body() {
        let m = message(0, "replicas must be greater than 0\n");
        assert!(
            m.contains("scale to 0 (400: replicas must be greater than 0)"),
            "{m}"
        );
        assert!(
            m.contains("faasd rejects 0") && m.contains("scale_to_zero = false"),
            "{m}"
        );
    }

    #[test]
    fn a_refused_read_names_ce_s_namespace_only_outside_it() {
        let refused = |id: &str| match refusal(
            &FunctionId::parse(id, "openfaas-fn").unwrap(),
            StatusCode::BAD_REQUEST,
            b"bad request\n",
        ) {
            BackendError::Ineligible(m) => m,
            other => panic!("not ineligible: {other:?}"),
        };
        let m = refused("figlet.dev");
        assert!(
            m.contains("(400: bad request); OpenFaaS CE serves only the openfaas-fn namespace"),
            "{m}"
        );
        let m = refused("figlet.openfaas-fn");
        assert!(m.ends_with("(400: bad request)"), "{m}");
    }

    #[test]
    fn a_refused_scale_to_another_count_carries_only_the_gateways_words() {
        for (replicas, body, words) in [
            (3, "  quota exceeded\r\n", "(400: quota exceeded)"),
            (1, "", "(400: (empty body))"),
        ] {
            let m = message(replicas, body);
            assert!(m.contains(&format!("scale to {replicas} {words}")), "{m}");
            assert!(!m.contains("faasd") && !m.contains("scale_to_zero"), "{m}");
        }
        let long = "é".repeat(5000);
        let m = message(7, &long);
        assert_eq!(m.matches('é').count(), 200, "{m}");
        assert!(m.ends_with("…)"), "{m}");
    }
}
