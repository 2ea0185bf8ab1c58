//! Backends: where replicas are read and written. The trait is small so that Kubernetes, the
//! OpenFaaS provider API and the embedded memory backend plug in without touching decisions.
//!
//! A backend stores each function's state ([`Stored`]) beside the function and writes it together with
//! the replica count under one optimistic-concurrency version, so that two receivers (or a
//! restarted one) never apply the same alert episode twice.

pub mod instrumented;
pub mod kubernetes;
mod listing;
pub mod memory;
pub mod openfaas;
mod version;

pub use self::listing::{FunctionSummary, JsonListing, SummaryRef};

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::BackendError;
use crate::id::FunctionId;
use crate::stored::Stored;
pub use version::Version;

/// A function's labels (and annotations), as a backend reads them.
pub type Labels = BTreeMap<String, String>;

/// What a backend knows about a function at one moment. `S` and `L` are how the stored state and
/// the labels are held: owned ([`Backend::read`]) or shared with the backend ([`SharedState`],
/// [`Backend::read_shared`], the decision path).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionState<S = Stored, L = Labels> {
    pub replicas: u32,
    /// Labels (and annotations) that may hold `com.openfaas.scale.*`.
    pub labels: L,
    /// What alertscaler stored with the function; `None` when nothing was stored yet.
    pub stored: Option<S>,
    /// Opaque version for optimistic concurrency (e.g. Kubernetes' resourceVersion).
    pub version: Version,
    /// An earlier write of unknown outcome that this read settled as a move of the replicas.
    pub settled: Option<Settled>,
}

/// A function as the decision path reads it: its stored state and labels shared with the backend,
/// which then need not copy them for every duplicate notification (the hot path).
pub type SharedState = FunctionState<Arc<Stored>, Arc<Labels>>;

/// Settled moves a read made but could not hand to a decision (the read failed after settling):
/// the next successful read of the function takes them, so each is reported once.
#[derive(Debug, Default)]
pub(crate) struct Unreported {
    moves: std::sync::Mutex<std::collections::HashMap<FunctionId, Settled>>,
}

impl Unreported {
    /// Keep `settled` for `function`'s next read (a later move of the same function replaces the
    /// description but keeps the earliest `from`).
    pub(crate) fn keep(&self, function: &FunctionId, settled: Settled) {
        let mut moves = self.moves.lock().unwrap_or_else(|e| e.into_inner());
        moves
            .entry(function.clone())
            .and_modify(|kept| {
                kept.to = settled.to;
                kept.how.clone_from(&settled.how);
            })
            .or_insert(settled);
    }

    /// What a read of `function` settled now, with anything an earlier failed read kept.
    pub(crate) fn take(&self, function: &FunctionId, now: Option<Settled>) -> Option<Settled> {
        let mut moves = self.moves.lock().unwrap_or_else(|e| e.into_inner());
        match (moves.remove(function), now) {
            (None, now) => now,
            (Some(kept), None) => Some(kept),
            (Some(kept), Some(now)) => Some(Settled {
                from: kept.from,
                ..now
            }),
        }
    }
}

/// An earlier write whose outcome was unknown (its answer lost, or its writer gone before it
/// confirmed) that a read found and settled as a move: it had landed, or the read sent it again.
/// The decision that read reports it, so the move is in `/decisions` and the metrics once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub from: u32,
    pub to: u32,
    /// What was found or done, e.g. "an earlier scale 1 → 5, unconfirmed, was sent again".
    pub how: String,
}

impl Settled {
    /// An earlier scale `from` → `to`, unconfirmed, that a read found it `had` ("had landed", "was
    /// sent again"); `None` when it moved nothing.
    pub(crate) fn earlier(from: u32, to: u32, had: &str) -> Option<Self> {
        (from != to).then(|| Self {
            from,
            to,
            how: format!("an earlier scale {from} → {to}, unconfirmed, {had}"),
        })
    }
}

/// One write: the stored state, and the replica count when it changes.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub replicas: Option<u32>,
    pub stored: &'a Stored,
    /// The version that was read; the write must fail with [`BackendError::Conflict`] if it moved.
    pub version: &'a str,
}

/// What a write really did, as the backend reports it after the call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The replica count the backend has after a scale (`None` when only the ledger was written).
    /// It can differ from the count asked: the OpenFaaS CE gateway silently clamps to 1–5.
    pub replicas: Option<u32>,
    /// Why `replicas` differs from the count asked, in words for the decision's reason.
    pub note: Option<String>,
}

impl Applied {
    /// The write did exactly what `update` asked (backends that set counts verbatim).
    pub(crate) fn as_asked(update: &Update<'_>) -> Self {
        Self {
            replicas: update.replicas,
            note: None,
        }
    }
}

/// Read and scale functions.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Read a function's replicas, labels, stored state and version.
    async fn read(&self, function: &FunctionId) -> Result<FunctionState, BackendError>;

    /// As [`Backend::read`], the stored state and labels shared rather than owned: decisions only
    /// borrow them, and a backend that keeps them in memory then need not copy them for every
    /// duplicate notification (the hot path). By default, what `read` found.
    async fn read_shared(&self, function: &FunctionId) -> Result<SharedState, BackendError> {
        let state = self.read(function).await?;
        Ok(FunctionState {
            replicas: state.replicas,
            labels: Arc::new(state.labels),
            stored: state.stored.map(Arc::new),
            version: state.version,
            settled: state.settled,
        })
    }

    /// Write the stored state and, if set, the replica count, atomically, if the version still matches.
    /// Returns what the backend really set, which the service reports.
    async fn apply(
        &self,
        function: &FunctionId,
        update: Update<'_>,
    ) -> Result<Applied, BackendError>;

    /// List eligible functions.
    async fn list(&self) -> Result<Vec<FunctionSummary>, BackendError> {
        Err(BackendError::Unsupported("listing functions"))
    }

    /// Write one page of the JSON array `GET /system/functions` answers into `out`: the functions
    /// after `after` (from the first when `None`), in [`FunctionId`] order, until `out` is full
    /// ([`JsonListing::is_full`]), alerts last seen at or before `silent_before` (now − the
    /// episode TTL, as for [`Backend::settling`]) not listed as firing. Returns the last function
    /// written when more follow (the next page starts after it), `None` when the listing is done.
    ///
    /// By default the whole listing is one page serialized from [`Backend::list`] (such a backend
    /// holds its list in memory anyway) and a call with `after` set writes nothing. A backend that
    /// keeps its functions in memory should write each page straight from its state
    /// ([`SummaryRef`]) so that the listing never holds more than a page.
    async fn list_page(
        &self,
        after: Option<&FunctionId>,
        silent_before: DateTime<Utc>,
        out: &mut JsonListing,
    ) -> Result<Option<FunctionId>, BackendError> {
        if after.is_none() {
            for function in self.list().await? {
                out.push(&function.listed(silent_before))?;
            }
        }
        Ok(None)
    }

    /// Functions the settle pass re-decides: those whose stored state holds a scale-down the
    /// stabilization window held back, and those whose up alerts were all last seen before
    /// `silent_before` (a resolution that never came). By default filtered from
    /// [`Backend::list`]; a backend that can answer without listing everything should.
    async fn settling(
        &self,
        silent_before: DateTime<Utc>,
    ) -> Result<Vec<FunctionId>, BackendError> {
        let listed = self.list().await?;
        Ok(listed
            .into_iter()
            .filter(|f| {
                f.settling_to.is_some()
                    || f.up_last_seen().is_some_and(|seen| seen <= silent_before)
            })
            .map(|f| FunctionId {
                name: f.name,
                namespace: f.namespace,
            })
            .collect())
    }

    /// Whether the backend can be reached (for `/readyz`).
    async fn ready(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Whether this replica should run background passes now (settle loop). Backends shared by
    /// several replicas elect one (Kubernetes: a Lease); the default is "yes" (one replica).
    async fn leads_passes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(from: u32, to: u32) -> Settled {
        Settled {
            from,
            to,
            how: format!("{from} → {to}"),
        }
    }

    #[test]
    fn a_kept_move_is_taken_once_and_joins_a_later_one_from_where_it_started() {
        let f = FunctionId {
            name: "f".into(),
            namespace: "openfaas-fn".into(),
        };
        let unreported = Unreported::default();
        assert_eq!(unreported.take(&f, None), None);
        unreported.keep(&f, moved(1, 3));
        assert_eq!(
            unreported
                .take(&f, Some(moved(3, 5)))
                .map(|s| (s.from, s.to)),
            Some((1, 5))
        );
        assert_eq!(unreported.take(&f, None), None, "taken once");
        unreported.keep(&f, moved(1, 3));
        assert_eq!(unreported.take(&f, None), Some(moved(1, 3)));
    }
}
