//! A [`Backend`] decorator that times every call into
//! `alertscaler_backend_request_duration_seconds`, so any backend is measured the same way
//! without instrumenting each implementation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Applied, Backend, FunctionState, FunctionSummary, JsonListing, SharedState, Update};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::metrics::Metrics;
use prometheus_client::metrics::histogram::Histogram;

/// Wraps a backend and records the latency and result of each call.
pub(crate) struct Instrumented {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
    /// The `ok` histograms of the operations on every request's path, looked up once.
    read_ok: Histogram,
    apply_ok: Histogram,
}

impl Instrumented {
    /// Wrap `inner`; its calls are recorded in `metrics`.
    pub(crate) fn wrap(inner: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Arc<dyn Backend> {
        let name = inner.name();
        Arc::new(Self {
            read_ok: metrics.backend_histogram(name, "read", "ok"),
            apply_ok: metrics.backend_histogram(name, "apply", "ok"),
            inner,
            metrics,
        })
    }

    /// A read (owned or shared) as one operation: a success into the `ok` histogram looked up once,
    /// a failure as any other call.
    fn record_read<T>(&self, started: Instant, result: &Result<T, BackendError>) {
        match result {
            Ok(_) => self.read_ok.observe(started.elapsed().as_secs_f64()),
            Err(_) => self.record("read", started, result),
        }
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
        self.record_read(started, &result);
        result
    }

    async fn read_shared(&self, function: &FunctionId) -> Result<SharedState, BackendError> {
        let started = Instant::now();
        let result = self.inner.read_shared(function).await;
        self.record_read(started, &result);
        result
    }

    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        let started = Instant::now();
        let result = self.inner.apply(function, update).await;
        match &result {
            Ok(_) => self.apply_ok.observe(started.elapsed().as_secs_f64()),
            Err(_) => self.record("apply", started, &result),
        }
        result
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        let started = Instant::now();
        let result = self.inner.list().await;
        self.record("list", started, &result);
        result
    }

    async fn list_page(
        &self,
        after: Option<&FunctionId>,
        silent_before: DateTime<Utc>,
        out: &mut JsonListing,
    ) -> Result<Option<FunctionId>, BackendError> {
        let started = Instant::now();
        let result = self.inner.list_page(after, silent_before, out).await;
        self.record("list", started, &result);
        result
    }

    async fn settling(
        &self,
        silent_before: DateTime<Utc>,
    ) -> Result<Vec<FunctionId>, BackendError> {
        let started = Instant::now();
        let result = self.inner.settling(silent_before).await;
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
