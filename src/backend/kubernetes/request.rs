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
//!   a retry whose pause would reach the deadline is not started (how long the retry itself
//!   would take is unknown: one that starts is cut at the deadline, naming the status before it);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::backend::kubernetes::errors::DEPLOYMENTS;

    fn unavailable() -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            status: None,
            code: 503,
            message: "down".into(),
            metadata: None,
            reason: "ServiceUnavailable".into(),
            details: None,
        }))
    }

    /// Calls made and time taken by a `get` whose every attempt answers 503 after `answer`.
    async fn always_503(answer: Duration, timeout: Duration) -> (u32, Duration, String) {
        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let call = Call::on("get", DEPLOYMENTS, "openfaas-fn", "echo");
        let result: Result<(), _> = run(call, timeout, || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(answer).await;
                Err(unavailable())
            }
        })
        .await;
        let message = result.unwrap_err().error.to_string();
        (calls.load(Ordering::SeqCst), start.elapsed(), message)
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_tried_four_times_with_a_doubling_pause_from_100_ms() {
        let (calls, took, message) = always_503(Duration::ZERO, Duration::from_secs(10)).await;
        assert_eq!(calls, MAX_ATTEMPTS);
        assert_eq!(took, Duration::from_millis(100 + 200 + 400));
        assert!(message.contains("answered 503") && message.contains("after 4 attempts"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_whose_pause_reaches_the_deadline_is_not_started() {
        let second = Duration::from_secs(1);
        // 950 ms + the 100 ms pause passes the 1 s deadline: no retry, the 503 itself.
        let (calls, _, message) = always_503(Duration::from_millis(950), second).await;
        assert_eq!(calls, 1, "{message}");
        assert!(!message.contains("within"), "{message}");
        // 850 ms + 100 ms does not: the retry starts, is cut, and the 503 before it is named.
        let (calls, took, message) = always_503(Duration::from_millis(850), second).await;
        assert_eq!((calls, took), (2, second), "{message}");
        assert!(message.contains("answered 503") && message.contains("within 1s"));
    }
}
