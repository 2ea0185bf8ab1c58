//! A [`Backend`] decorator that times every call into
//! `alertscaler_backend_request_duration_seconds`, so any backend is measured the same way
//! without instrumenting each implementation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Applied, Backend, FunctionState, FunctionSummary, Update};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::metrics::Metrics;

/// Wraps a backend and records the latency and result of each call.
pub(crate) struct Instrumented {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    /// Wrap `inner`; its calls are recorded in `metrics`.
    pub(crate) fn wrap(inner: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Arc<dyn Backend> {
        Arc::new(Self { inner, metrics })
    }

    fn record<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, BackendError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.metric_label(),
        };
        let elapsed: Duration = started.elapsed();
        self.metrics
            .backend_call(self.inner.name(), operation, outcome, elapsed);
    }
}

#[async_trait]
impl Backend for Instrumented {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        let started = Instant::now();
        let result = self.inner.read(function).await;
        self.record("read", started, &result);
        result
    }

    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        let started = Instant::now();
        let result = self.inner.apply(function, update).await;
        self.record("apply", started, &result);
        result
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let started = Instant::now();
        let result = self.inner.list().await;
        self.record("list", started, &result);
        result
    }

    async fn ready(&self) -> Result<(), BackendError> {
        let started = Instant::now();
        let result = self.inner.ready().await;
        self.record("ready", started, &result);
        result
    }

    async fn leads_passes(&self) -> bool {
        self.inner.leads_passes().await
    }
}
