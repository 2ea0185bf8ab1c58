//! One gateway request with bounded retries (doubling backoff on connection errors, timeouts and
//! 5xx; never on 4xx), and whether an attempt may have acted. Apart from the endpoints because
//! this is where "the outcome is unknown" is decided for every call.

use reqwest::{Method, StatusCode, Url};
use tracing::{debug, warn};

use super::refusals::snippet;
use super::{CallFailure, Gateway};
use crate::error::{BackendError, error_chain};

/// The first answer of a call that was not a 5xx.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
    /// An earlier attempt got a 5xx or lost its connection after sending: it may have acted.
    pub(super) earlier_maybe_applied: bool,
}

impl Gateway {
    /// One request with bounded retries. Returns the first non-5xx answer, and whether an attempt
    /// before it may have acted.
    pub(super) async fn call(
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
    pub(super) fn describe(&self, e: &reqwest::Error) -> String {
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
