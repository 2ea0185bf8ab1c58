//! The embedded backend: functions declared in the configuration, replicas kept in memory.
//!
//! It is the default (a newcomer needs no cluster) and the test double for the other backends: it
//! follows the same contract, including version conflicts.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Applied, Backend, FunctionState, FunctionSummary, JsonListing, Labels, SharedState, SummaryRef,
    Update,
};
use crate::config::MemoryFunction;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// One function as the memory backend keeps it: compact, since there may be tens of thousands
/// (the stored state is behind a pointer: most functions never receive an alert). It is shared
/// with the decisions that read it ([`Backend::read_shared`]), and replaced, not changed, when one
/// of them is still reading it at a write. The labels are shared with them too (they never change).
#[derive(Debug)]
struct Slot {
    replicas: u32,
    version: u64,
    labels: Arc<Labels>,
    stored: Option<Arc<Stored>>,
}

/// In-memory functions. Cheap to share: wrap it in an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    functions: Mutex<BTreeMap<FunctionId, Slot>>,
}

impl MemoryBackend {
    /// The functions of `specs` (copied; see [`MemoryBackend::from_specs`] to move them).
    pub fn new(specs: &[MemoryFunction]) -> Self {
        Self::from_specs(specs.to_vec())
    }

    /// The functions of `specs`, moved in: a large function table is never held twice.
    pub fn from_specs(specs: Vec<MemoryFunction>) -> Self {
        // Most functions carry no scaling label: they share one empty map instead of one each
        // (an allocation per function in a table of 10 000).
        let unlabelled = Arc::new(Labels::new());
        let functions = specs
            .into_iter()
            .map(|s| {
                let id = FunctionId {
                    name: s.name,
                    namespace: s.namespace,
                };
                let slot = Slot {
                    replicas: s.replicas,
                    labels: if s.labels.is_empty() {
                        Arc::clone(&unlabelled)
                    } else {
                        Arc::new(s.labels)
                    },
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
        let state = self.read_shared(function).await?;
        Ok(FunctionState {
            replicas: state.replicas,
            labels: Arc::unwrap_or_clone(state.labels),
            stored: state.stored.as_deref().cloned(),
            version: state.version,
            settled: state.settled,
        })
    }

    async fn read_shared(&self, function: &FunctionId) -> Result<SharedState, BackendError> {
        let functions = self.lock();
        let s = functions
            .get(function)
            .ok_or_else(|| BackendError::NotFound(function.to_string()))?;
        Ok(FunctionState {
            replicas: s.replicas,
            labels: Arc::clone(&s.labels),
            stored: s.stored.clone(),
            version: s.version.into(),
            settled: None,
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
        if update.version.parse::<u64>() != Ok(s.version) {
            return Err(BackendError::Conflict(format!(
                "{function} changed: version {} is not {}",
                s.version, update.version
            )));
        }
        if let Some(replicas) = update.replicas {
            s.replicas = replicas;
        }
        // Changed in place unless a decision still holds the state it read.
        match s.stored.as_mut().and_then(Arc::get_mut) {
            Some(stored) => stored.clone_from(update.stored),
            None => s.stored = Some(Arc::new(update.stored.clone())),
        }
        s.version += 1;
        Ok(Applied::as_asked(&update))
    }

    async fn settling(
        &self,
        silent_before: DateTime<Utc>,
    ) -> Result<Vec<FunctionId>, BackendError> {
        // Only the few to settle are copied, not the whole table.
        Ok(self
            .lock()
            .iter()
            .filter(|(_, s)| {
                s.stored.as_ref().is_some_and(|s| {
                    s.window.pending.is_some()
                        || crate::ledger::up_last_seen(&s.ledger)
                            .is_some_and(|seen| seen <= silent_before)
                })
            })
            .map(|(id, _)| id.clone())
            .collect())
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
                    Labels::clone(&s.labels),
                    s.stored.as_deref(),
                )
            })
            .collect())
    }

    async fn list_page(
        &self,
        after: Option<&FunctionId>,
        silent_before: DateTime<Utc>,
        out: &mut JsonListing,
    ) -> Result<Option<FunctionId>, BackendError> {
        // Written straight from the table, one page under the lock: a listing of 10 000 functions
        // costs a page of its JSON. The next page starts after the last function written (the
        // table's order), so a function added or removed between pages is listed once or not at all.
        let functions = self.lock();
        let after = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = functions.range((after, Bound::Unbounded)).peekable();
        while let Some((id, s)) = rest.next() {
            out.push(&SummaryRef::new(
                id,
                s.replicas,
                &s.labels,
                s.stored.as_deref(),
                silent_before,
            ))?;
            if out.is_full() && rest.peek().is_some() {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
