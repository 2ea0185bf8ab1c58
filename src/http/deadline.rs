//! The request timeout (see [`super::with_timeout`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::AppError;

/// The request timeout as a layer whose timer is armed only when the request is still pending
/// after its first poll: a duplicate notification is answered within that poll, and a timer per
/// request (registered and cancelled in the runtime's timer wheel) was a measurable share of its
/// cost. The deadline is still counted from the call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadline {
    timeout: Duration,
}

impl Deadline {
    pub(super) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> tower::Layer<S> for Deadline {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct DeadlineService<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower::Service<Request> for DeadlineService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        DeadlineFuture::new(self.inner.call(request), self.timeout)
    }
}

pin_project_lite::pin_project! {
    /// A request under [`Deadline`]: the inner future, and the timer once it is needed.
    pub(crate) struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        deadline: tokio::time::Instant,
        timeout: Duration,
    }
}

impl<F> DeadlineFuture<F> {
    /// `inner`, answered 503 if it is still pending `timeout` from now.
    pub(crate) fn new(inner: F, timeout: Duration) -> Self {
        Self::starting_at(inner, tokio::time::Instant::now(), timeout)
    }

    /// As [`DeadlineFuture::new`], for a request that started at `started`. The listener wraps
    /// each request in this directly (as a router layer it would also cost a boxed service and a
    /// boxed future per request), from when the request's first bytes arrived, which it already
    /// knows: a clock read per request saved.
    pub(crate) fn starting_at(inner: F, started: tokio::time::Instant, timeout: Duration) -> Self {
        Self {
            deadline: started + timeout,
            timeout,
            inner,
            sleep: None,
        }
    }
}

impl<F> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            return Poll::Ready(response);
        }
        if this.sleep.is_none() {
            this.sleep
                .set(Some(tokio::time::sleep_until(*this.deadline)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                Poll::Ready(Ok(AppError::Timeout(*this.timeout).into_response()))
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// A service that answers 200 after `delay` (immediately, without pending, when zero).
    fn answering_after(
        delay: Duration,
    ) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone
    {
        tower::service_fn(move |_: Request| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        })
    }

    async fn status(delay: Duration, timeout: Duration) -> StatusCode {
        let service = Deadline::new(timeout).layer(answering_after(delay));
        let request = Request::new(Body::empty());
        service.oneshot(request).await.unwrap().status()
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_cuts_only_requests_pending_past_the_timeout() {
        let two = Duration::from_secs(2);
        assert_eq!(status(Duration::ZERO, two).await, StatusCode::OK);
        assert_eq!(status(Duration::from_secs(1), two).await, StatusCode::OK);
        assert_eq!(
            status(Duration::from_secs(3), two).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // The deadline counts from the call, not from when the timer was armed.
        let started = tokio::time::Instant::now();
        status(Duration::from_secs(30), two).await;
        assert_eq!(started.elapsed(), two);
    }
}
