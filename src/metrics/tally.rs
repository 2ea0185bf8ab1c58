//! Per-function bookkeeping behind the metrics, kept in shards: decisions for different functions
//! run in parallel and must not queue on one global lock to update a gauge.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::sync::{Mutex, RwLock};

use fnv::FnvBuildHasher;

use crate::id::FunctionId;
use crate::labels::{self, ScaleType};

/// Shards per map: enough that two cores rarely meet on one.
const SHARDS: usize = 16;

type Map<V> = HashMap<FunctionId, V, FnvBuildHasher>;

fn shard(function: &FunctionId) -> usize {
    let mut h = fnv::FnvHasher::default();
    function.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

/// Episodes per function as last seen; only functions with at least one are kept.
#[derive(Default)]
pub(super) struct LedgerTally {
    shards: [Mutex<Map<usize>>; SHARDS],
}

impl LedgerTally {
    /// Record that `function` holds `episodes`; returns how the total of episodes and the number
    /// of functions holding any changed.
    pub(super) fn set(&self, function: &FunctionId, episodes: usize) -> (i64, i64) {
        let mut map = self.shards[shard(function)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let old = match map.get_mut(function) {
            Some(n) if episodes == 0 => {
                let old = *n;
                map.remove(function);
                old
            }
            Some(n) => std::mem::replace(n, episodes),
            None if episodes == 0 => 0,
            None => {
                map.insert(function.clone(), episodes);
                0
            }
        };
        let functions = i64::from(episodes > 0) - i64::from(old > 0);
        (episodes as i64 - old as i64, functions)
    }
}

/// The per-function series one function's labels ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Exported {
    pub latency_target: Option<f64>,
    pub latency_tolerance: Option<f64>,
    pub capacity: Option<(ScaleType, f64)>,
}

impl Exported {
    pub(super) fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        // Most functions carry no scaling label at all: nothing to parse.
        let prefix = "com.openfaas.scale.";
        let any = labels
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix));
        if !any {
            return Self::default();
        }
        let Ok(policy) = labels::parse_policy(labels) else {
            return Self::default();
        };
        Self {
            latency_target: policy.latency_target_secs,
            latency_tolerance: policy.latency_tolerance,
            capacity: labels::has_capacity_labels(labels)
                .then(|| (policy.scale_type, policy.capacity_target())),
        }
    }
}

/// What was last exported per function; functions exporting nothing are not kept.
#[derive(Default)]
pub(super) struct ExportCache {
    shards: [RwLock<Map<Exported>>; SHARDS],
}

impl ExportCache {
    pub(super) fn last(&self, function: &FunctionId) -> Exported {
        let map = self.shards[shard(function)]
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(function).copied().unwrap_or_default()
    }

    pub(super) fn set(&self, function: &FunctionId, exported: Exported) {
        let mut map = self.shards[shard(function)]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if exported == Exported::default() {
            map.remove(function);
        } else {
            map.insert(function.clone(), exported);
        }
    }

    pub(super) fn clear(&self) {
        for shard in &self.shards {
            shard.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}
