//! Per-function bookkeeping behind the metrics, kept in shards: decisions for different functions
//! run in parallel and must not queue on one global lock to update a gauge.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::sync::{Mutex, RwLock};

use fnv::FnvBuildHasher;

use crate::id::FunctionId;
use crate::labels::{self, PolicyLabels, ScaleType};

/// Shards per map: enough that two cores rarely meet on one.
const SHARDS: usize = 16;

type Map<V> = HashMap<FunctionId, V, FnvBuildHasher>;

fn shard(function: &FunctionId) -> usize {
    let mut h = fnv::FnvHasher::default();
    function.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

/// Episodes per function as last seen; only functions with at least one are kept. Keyed by a
/// 64-bit hash of the function, not a copy of its name: with tens of thousands of functions the
/// names would be most of this map (two functions colliding, odds ~n²/2⁶⁵, would share a count).
#[derive(Default)]
pub(super) struct LedgerTally {
    shards: [Mutex<HashMap<u64, u32, FnvBuildHasher>>; SHARDS],
}

impl LedgerTally {
    /// Record that `function` holds `episodes`; returns how the total of episodes and the number
    /// of functions holding any changed.
    pub(super) fn set(&self, function: &FunctionId, episodes: usize) -> (i64, i64) {
        let key = key(function);
        let episodes = u32::try_from(episodes).unwrap_or(u32::MAX);
        let mut map = self.shards[(key % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let old = if episodes == 0 {
            map.remove(&key).unwrap_or(0)
        } else {
            map.insert(key, episodes).unwrap_or(0)
        };
        let functions = i64::from(episodes > 0) - i64::from(old > 0);
        (i64::from(episodes) - i64::from(old), functions)
    }
}

/// A well-mixed 64-bit key for a function (SipHash, the same throughout the process).
fn key(function: &FunctionId) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    function.hash(&mut h);
    h.finish()
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
        match labels::parse_policy(labels) {
            Ok(policy) => Self::from_policy(labels, &policy),
            Err(_) => Self::default(),
        }
    }

    /// What `labels` ask for, their policy labels parsed already (`policy`, as
    /// [`labels::parse_policy`] reads them).
    pub(super) fn from_policy(labels: &BTreeMap<String, String>, policy: &PolicyLabels) -> Self {
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

    /// Unless `exported` is what was last recorded for `function`, run `apply` (which updates the
    /// series) and record it, both under the shard's write lock: a function's series and its record
    /// change together, so two exports of one function (a webhook's and the label refresh's) cannot
    /// leave a record that says exported beside a series that was removed.
    pub(super) fn change(&self, function: &FunctionId, exported: Exported, apply: impl FnOnce()) {
        let mut map = self.shards[shard(function)]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if map.get(function).copied().unwrap_or_default() == exported {
            return;
        }
        apply();
        if exported == Exported::default() {
            map.remove(function);
        } else {
            map.insert(function.clone(), exported);
        }
    }

    /// The functions exporting something.
    pub(super) fn functions(&self) -> Vec<FunctionId> {
        self.shards
            .iter()
            .flat_map(|shard| {
                let map = shard.read().unwrap_or_else(|e| e.into_inner());
                map.keys().cloned().collect::<Vec<_>>()
            })
            .collect()
    }
}
