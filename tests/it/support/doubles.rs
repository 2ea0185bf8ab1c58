//! Memory-backend fixtures and the one configurable backend double.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use alertscaler::backend::memory::MemoryBackend;
use alertscaler::backend::{Applied, Backend, FunctionState, FunctionSummary, Update};
use alertscaler::config::Config;
use alertscaler::config::MemoryFunction;
use alertscaler::error::BackendError;
use alertscaler::id::FunctionId;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{Barrier, Notify, Semaphore};

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

use super::notification as shared;

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

/// How long a read of the [`Double`] takes before it answers.
#[derive(Clone, Copy)]
enum ReadDelay {
    None,
    For(Duration),
    Forever,
}

/// The one configurable backend double: the memory backend with scripted faults, built with
/// [`Double::new`] and the builder methods. Counts reads and conflicts for the assertions.
pub struct Double {
    pub inner: MemoryBackend,
    delay: ReadDelay,
    gate: Option<(usize, Barrier)>,
    down: bool,
    ready_stuck: bool,
    fail_first_write_of: Option<String>,
    /// Told every time a read starts, so a test knows a webhook is inside the backend.
    pub started: Arc<Notify>,
    /// While set ([`Double::hold_writes`]), each write waits for [`Double::release_write`].
    writes_held: AtomicBool,
    write_permits: Semaphore,
    /// Told every time a held write starts waiting, so a test knows a decision is mid-write.
    pub writing: Arc<Notify>,
    pub reads: AtomicUsize,
    pub conflicts: AtomicUsize,
    failed_writes: AtomicUsize,
}

impl Double {
    /// A healthy double holding memory functions `names` (the labels of [`config`]).
    pub fn new(names: &[&str]) -> Self {
        Self::on(&config(names))
    }

    /// A healthy double holding the memory functions of `config`.
    pub fn on(config: &Config) -> Self {
        Self {
            inner: MemoryBackend::new(&config.memory.functions),
            delay: ReadDelay::None,
            gate: None,
            down: false,
            ready_stuck: false,
            fail_first_write_of: None,
            started: Arc::new(Notify::new()),
            writes_held: AtomicBool::new(false),
            write_permits: Semaphore::new(0),
            writing: Arc::new(Notify::new()),
            reads: AtomicUsize::new(0),
            conflicts: AtomicUsize::new(0),
            failed_writes: AtomicUsize::new(0),
        }
    }

    /// Every read takes `delay` (virtual time in paused tests).
    pub fn read_delay(mut self, delay: Duration) -> Self {
        self.delay = ReadDelay::For(delay);
        self
    }

    /// Every read hangs forever.
    pub fn read_stuck(mut self) -> Self {
        self.delay = ReadDelay::Forever;
        self
    }

    /// The first `parties` reads wait for each other, so that many concurrent notifications all
    /// read before any writes (deterministic, no sleep); later reads (retries) pass. A read waits
    /// at most 10 s for the others, so a test that expected concurrency fails instead of hanging.
    pub fn read_together(mut self, parties: usize) -> Self {
        self.gate = Some((parties, Barrier::new(parties)));
        self
    }

    /// Reads, writes and readiness all fail as an unreachable backend does.
    pub fn down(mut self) -> Self {
        self.down = true;
        self
    }

    /// The readiness check hangs forever (an apiserver that accepts the connection and never answers).
    pub fn ready_stuck(mut self) -> Self {
        self.ready_stuck = true;
        self
    }

    /// The first write of function `name` fails (an apiserver blip); later writes succeed.
    pub fn fail_first_write_of(mut self, name: &str) -> Self {
        self.fail_first_write_of = Some(name.to_owned());
        self
    }

    /// From now on every write waits inside the backend, until [`Double::release_write`] lets
    /// one through (a write held open, to act while a decision is in the middle of it).
    pub fn hold_writes(&self) {
        self.writes_held.store(true, Ordering::SeqCst);
    }

    /// Let one held write through.
    pub fn release_write(&self) {
        self.write_permits.add_permits(1);
    }

    pub fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }

    fn refused() -> BackendError {
        BackendError::Unavailable("connection refused".into())
    }
}

#[async_trait]
impl Backend for Double {
    /// Named as the memory backend it wraps, or "down" when it plays an unreachable backend.
    fn name(&self) -> &'static str {
        if self.down { "down" } else { self.inner.name() }
    }

    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        let earlier = self.reads.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        if self.down {
            return Err(Self::refused());
        }
        let state = self.inner.read(function).await;
        if let Some((parties, gate)) = &self.gate
            && earlier < *parties
        {
            let _ = tokio::time::timeout(Duration::from_secs(10), gate.wait()).await;
        }
        match self.delay {
            ReadDelay::None => {}
            ReadDelay::For(d) => tokio::time::sleep(d).await,
            ReadDelay::Forever => std::future::pending::<()>().await,
        }
        state
    }

    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        if self.down {
            return Err(Self::refused());
        }
        if self.fail_first_write_of.as_deref() == Some(function.name.as_str())
            && self.failed_writes.fetch_add(1, Ordering::SeqCst) == 0
        {
            return Err(Self::refused());
        }
        if self.writes_held.load(Ordering::SeqCst) {
            self.writing.notify_one();
            let permit = self.write_permits.acquire().await.expect("never closed");
            permit.forget();
        }
        let result = self.inner.apply(function, update).await;
        if matches!(result, Err(BackendError::Conflict(_))) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        if self.down {
            return Err(Self::refused());
        }
        self.inner.list().await
    }

    async fn ready(&self) -> Result<(), BackendError> {
        if self.down {
            return Err(Self::refused());
        }
        if self.ready_stuck {
            std::future::pending::<()>().await;
        }
        self.inner.ready().await
    }
}
