//! The embedded backend: functions declared in the configuration, replicas kept in memory.
//!
//! It is the default (a newcomer needs no cluster) and the test double for the other backends: it
//! follows the same contract, including version conflicts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Applied, Backend, FunctionState, FunctionSummary, JsonListing, SummaryRef, Update};
use crate::config::MemoryFunction;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;

/// One function as the memory backend keeps it: compact, since there may be tens of thousands
/// (the stored state is boxed: most functions never receive an alert).
#[derive(Debug)]
struct Slot {
    replicas: u32,
    version: u64,
    labels: BTreeMap<String, String>,
    stored: Option<Box<Stored>>,
}

/// In-memory functions. Cheap to share: wrap it in an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    functions: Mutex<BTreeMap<FunctionId, Slot>>,
    /// Length of the last JSON listing, to allocate the next one at about its final size.
    listed: AtomicUsize,
}

impl MemoryBackend {
    /// The functions of `specs` (copied; see [`MemoryBackend::from_specs`] to move them).
    pub fn new(specs: &[MemoryFunction]) -> Self {
        Self::from_specs(specs.to_vec())
    }

    /// The functions of `specs`, moved in: a large function table is never held twice.
    pub fn from_specs(specs: Vec<MemoryFunction>) -> Self {
        let functions = specs
            .into_iter()
            .map(|s| {
                let id = FunctionId {
                    name: s.name,
                    namespace: s.namespace,
                };
                let slot = Slot {
                    replicas: s.replicas,
                    labels: s.labels,
                    stored: None,
                    version: 1,
                };
                (id, slot)
            })
            .collect();
        Self {
            functions: Mutex::new(functions),
            listed: AtomicUsize::new(0),
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
            stored: s.stored.as_deref().cloned(),
            version: s.version.to_string(),
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
        match &mut s.stored {
            Some(stored) => (**stored).clone_from(update.stored),
            None => s.stored = Some(Box::new(update.stored.clone())),
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
                    s.labels.clone(),
                    s.stored.as_deref(),
                )
            })
            .collect())
    }

    async fn list_json(&self, silent_before: DateTime<Utc>) -> Result<Vec<u8>, BackendError> {
        // Written straight from the table: a listing of 10 000 functions costs its JSON only.
        let functions = self.lock();
        let last = self.listed.load(Ordering::Relaxed);
        let mut json = match last {
            0 => JsonListing::with_capacity(functions.len()),
            last => JsonListing::with_bytes(last + last / 16),
        };
        for (id, s) in functions.iter() {
            json.push(&SummaryRef::new(
                id,
                s.replicas,
                &s.labels,
                s.stored.as_deref(),
                silent_before,
            ))?;
        }
        let json = json.finish();
        self.listed.store(json.len(), Ordering::Relaxed);
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::alert::Direction;
    use crate::ledger::Firing;

    fn function(name: &str, labels: &[(&str, &str)]) -> MemoryFunction {
        MemoryFunction {
            name: name.into(),
            namespace: "openfaas-fn".into(),
            replicas: 2,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[tokio::test]
    async fn the_json_listing_is_the_listing_serialized() {
        let backend = MemoryBackend::from_specs(vec![
            function("a", &[("com.openfaas.scale.max", "9")]),
            function("b\"quoted", &[]),
            function("c", &[]),
        ]);
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 6, 55, 10).unwrap();
        let mut stored = Stored::default();
        for (fp, alertname) in [("f1", "Up"), ("f2", "Also")] {
            let firing = Firing {
                starts_at: at,
                alertname: alertname.into(),
                direction: Direction::Up,
                last_seen: at,
                policy: None,
            };
            stored.ledger.firing.insert(fp.into(), firing);
        }
        stored.window.pending = Some(1);
        let id = FunctionId::parse("a", "openfaas-fn").unwrap();
        let update = Update {
            replicas: Some(3),
            stored: &stored,
            version: "1",
        };
        backend.apply(&id, update).await.unwrap();

        let listed = backend.list().await.unwrap();
        assert_eq!(listed[0].firing, ["Also", "Up"]);
        assert_eq!(listed[0].settling_to, Some(1));
        // Straight from the table as through the default (`list`, then `listed`): the alerts last
        // seen at `at` fire while `at` is after `silent_before`, and are silent from then on.
        let second = chrono::TimeDelta::seconds(1);
        for (silent_before, firing) in [(at - second, 2), (at, 0)] {
            let expected: Vec<FunctionSummary> = listed
                .iter()
                .map(|f| f.clone().listed(silent_before))
                .collect();
            assert_eq!(expected[0].firing.len(), firing, "{expected:?}");
            let expected = serde_json::to_vec(&expected).unwrap();
            assert_eq!(backend.list_json(silent_before).await.unwrap(), expected);
        }
        // An empty table is an empty array.
        let empty = MemoryBackend::default();
        assert_eq!(empty.list_json(at).await.unwrap(), b"[]");
    }
}
