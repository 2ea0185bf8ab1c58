//! One apiserver call with alertscaler's own bounded retry, instead of kube's default layer.
//!
//! kube 5 retries 429/503/504 by itself up to 15 times with backoff up to 1000 s, inside whatever
//! timeout we put around the call: an apiserver that always answers 503 then shows up as "did not
//! answer within 2s", and a write that committed before a retried 503 comes back as a 409 that the
//! caller would take for someone else's change. So the client is built with `default_retry = false`
//! and calls go through [`run`]:
//! - reads (`get`, `list`) are retried on 429, 503 and 504; writes only on 429, which the apiserver
//!   sends before handling the request (so a write retried after it cannot have acted twice);
//! - at most [`MAX_ATTEMPTS`] attempts, backoff 100 ms doubling, all inside the request timeout;
//!   a retry that would not finish in time is not started;
//! - the LAST status is reported (a 503-always apiserver is a 503 to AlertManager, saying so).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::errors::{self, Call, Failure};

/// Attempts per call, first one included.
pub(crate) const MAX_ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled for each further one.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);

fn retryable(error: &kube::Error, call: Call<'_>) -> bool {
    match error {
        kube::Error::Api(status) if call.is_write() => status.code == 429,
        kube::Error::Api(status) => matches!(status.code, 429 | 503 | 504),
        _ => false,
    }
}

/// Run `request` (called again for each attempt) under `timeout`, retrying as described above.
pub async fn run<T, F, Fut>(call: Call<'_>, timeout: Duration, request: F) -> Result<T, Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut last: Option<Failure> = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match tokio::time::timeout_at(deadline, request()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => {
                let again = retryable(&error, call) && attempt < MAX_ATTEMPTS;
                let mut failure = errors::map(error, call, attempt);
                // An earlier attempt that may have acted makes the whole call uncertain.
                failure.maybe_applied |= last.as_ref().is_some_and(|l| l.maybe_applied);
                let delay = FIRST_BACKOFF * 2u32.pow(attempt - 1);
                if !again || Instant::now() + delay >= deadline {
                    return Err(failure);
                }
                debug!(attempt, ?delay, error = %failure.error, "retrying apiserver call");
                last = Some(failure);
                tokio::time::sleep(delay).await;
            }
            Err(_) => return Err(errors::timeout(call, timeout.as_secs(), last)),
        }
    }
}
