//! The embedded backend: functions declared in the configuration, replicas kept in memory.
//!
//! It is the default (a newcomer needs no cluster) and the test double for the other backends: it
//! follows the same contract, including version conflicts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Applied, Backend, FunctionState, FunctionSummary, Update};
use crate::config::MemoryFunction;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// One function as the memory backend keeps it.
#[derive(Debug)]
struct Slot {
    replicas: u32,
    labels: BTreeMap<String, String>,
    stored: Option<Stored>,
    version: u64,
}

/// In-memory functions. Cheap to share: wrap it in an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    functions: Mutex<BTreeMap<FunctionId, Slot>>,
}

impl MemoryBackend {
    pub fn new(specs: &[MemoryFunction]) -> Self {
        let functions = specs
            .iter()
            .map(|s| {
                let id = FunctionId {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                };
                let slot = Slot {
                    replicas: s.replicas,
                    labels: s.labels.clone(),
                    stored: None,
                    version: 1,
                };
                (id, slot)
            })
            .collect();
        Self {
            functions: Mutex::new(functions),
        }
    }

    /// Current replicas of a function (for tests and the simulator).
    pub fn replicas(&self, function: &FunctionId) -> Option<u32> {
        self.lock().get(function).map(|s| s.replicas)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<FunctionId, Slot>> {
        // A poisoned lock only means a panic elsewhere; the map itself is always consistent.
        self.functions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError> {
        let functions = self.lock();
        let s = functions
            .get(function)
            .ok_or_else(|| BackendError::NotFound(function.to_string()))?;
        Ok(FunctionState {
            replicas: s.replicas,
            labels: s.labels.clone(),
            stored: s.stored.clone(),
            version: s.version.to_string(),
        })
    }

    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError> {
        let mut functions = self.lock();
        let s = functions
            .get_mut(function)
            .ok_or_else(|| BackendError::NotFound(function.to_string()))?;
        if s.version.to_string() != update.version {
            return Err(BackendError::Conflict(format!(
                "{function} changed: version {} is not {}",
                s.version, update.version
            )));
        }
        if let Some(replicas) = update.replicas {
            s.replicas = replicas;
        }
        s.stored = Some(update.stored.clone());
        s.version += 1;
        Ok(Applied::as_asked(&update))
    }

    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        Ok(self
            .lock()
            .iter()
            .map(|(id, s)| {
                FunctionSummary::new(
                    id.name.clone(),
                    id.namespace.clone(),
                    s.replicas,
                    s.labels.clone(),
                    s.stored.as_ref(),
                )
            })
            .collect())
    }
}
