//! Fixtures shared by the integration tests: configurations, payloads and backends.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alertscaler::backend::memory::MemoryBackend;
use alertscaler::backend::{Backend, FunctionState, Update};
use alertscaler::config::Config;
use alertscaler::config::MemoryFunction;
use alertscaler::error::BackendError;
use alertscaler::id::FunctionId;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;

/// A config with memory functions `names` (default labels: min 1, max 20, factor 20).
pub fn config(names: &[&str]) -> Config {
    let mut config = Config::default();
    config.memory.functions = names
        .iter()
        .map(|n| MemoryFunction {
            name: (*n).into(),
            namespace: "openfaas-fn".into(),
            replicas: 1,
            labels: Default::default(),
        })
        .collect();
    config
}

#[path = "../shared/notification.rs"]
mod shared;

/// A firing (or resolved) AlertManager v4 notification for one function.
pub fn webhook(status: &str, function: &str, fingerprint: &str) -> Value {
    let alert = (function, fingerprint, "APIHighInvocationRate", status);
    shared::notification(&[alert], "2026-11-24T06:55:10.479Z")
}

pub fn function(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: "openfaas-fn".into(),
    }
}

/// A backend whose reads wait for `delay` (forever when `None`) after telling `started`.
pub struct Slow {
    pub inner: MemoryBackend,
    pub delay: Option<Duration>,
    pub started: Arc<Notify>,
    pub reads: AtomicUsize,
}

impl Slow {
    pub fn new(names: &[&str], delay: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryBackend::new(&config(names).memory.functions),
            delay,
            started: Arc::new(Notify::new()),
            reads: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Backend for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        match self.delay {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
        self.inner.read(function).await
    }

    async fn apply(&self, function: &FunctionId, update: Update<'_>) -> Result<(), BackendError> {
        self.inner.apply(function, update).await
    }
}

/// A backend that is always down.
pub struct Down;

#[async_trait]
impl Backend for Down {
    fn name(&self) -> &'static str {
        "down"
    }
    async fn read(&self, _: &FunctionId) -> Result<FunctionState, BackendError> {
        Err(BackendError::Unavailable("connection refused".into()))
    }
    async fn apply(&self, _: &FunctionId, _: Update<'_>) -> Result<(), BackendError> {
        Err(BackendError::Unavailable("connection refused".into()))
    }
    async fn ready(&self) -> Result<(), BackendError> {
        Err(BackendError::Unavailable("connection refused".into()))
    }
}
