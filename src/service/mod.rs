//! The one decision path. Every trigger — an AlertManager notification, the settle pass that
//! finishes scale-downs held by the stabilization window, any later background trigger — goes
//! through [`Service::decide`]: read → plan → decide (pure) → write, re-reading on a version
//! conflict → observe (metrics, audit, one log line).
//!
//! Background loops ([`crate::background`]) only choose which functions to re-decide and when.
//! Decisions for one function are serialized inside the process, so a version conflict always
//! means another writer (a second receiver, a person, a controller).
//!
//! Here: the service, [`Service::decide`], the round it repeats on a conflict, and the sequence
//! of a decision on what one read found. Beside it, the steps every trigger shares (what it asks,
//! a refusal, the policy's verdict: `verdict`), each trigger with its own verdict (`notification`,
//! `settle`, `follow`), the write (`write`) and what it did (`applied`), the observation of a
//! decision (`observe`; settle refusals already said: `refusals`), the listing and label exports
//! (`listing`), and the settings.

mod applied;
mod follow;
mod listing;
mod notification;
mod observe;
mod parsed;
mod refusals;
mod settings;
mod settle;
mod verdict;
mod write;

pub use listing::Listing;
pub use settings::{Cause, Settings};

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use crate::audit::Audit;
use crate::backend::{Backend, Labels, Settled, SharedState, Version};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::labels::{LabelError, ScaleLabels};
use crate::measure::LoadSource;
use crate::metrics::Metrics;
use crate::policy::{self, Decision};
pub use crate::report::{FunctionReport, Outcome, Report};
use crate::stored::Stored;

/// Reads and writes of one function per trigger: the first, plus one per version conflict.
pub const MAX_ATTEMPTS: usize = 6;

/// Decisions of functions that hash alike wait for each other; 256 locks bound memory whatever
/// the number of functions, and a webhook takes one at a time, so they cannot deadlock.
const LOCK_STRIPES: usize = 256;

/// Applies triggers to functions through a backend.
#[derive(Clone)]
pub struct Service {
    backend: Arc<dyn Backend>,
    settings: Arc<Settings>,
    load: Arc<LoadSource>,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
    locks: Arc<[tokio::sync::Mutex<()>]>,
    /// The labels last parsed under each lock.
    parsed: Arc<parsed::ParsedLabels>,
    /// Functions with a firing capacity alert, as this process last decided them: the follow-up
    /// pass re-decides these.
    followed: Arc<std::sync::Mutex<BTreeSet<FunctionId>>>,
    /// How many functions `followed` holds, readable without its lock.
    following: Arc<AtomicUsize>,
    /// Settle-pass refusals already recorded.
    settle_refusals: Arc<refusals::SettleRefusals>,
}

impl Service {
    pub fn new(backend: Arc<dyn Backend>, settings: Settings) -> Self {
        Self {
            backend,
            settings: Arc::new(settings),
            load: Arc::new(LoadSource::none()),
            metrics: Arc::new(Metrics::new()),
            audit: Arc::new(Audit::default()),
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            parsed: Arc::new(parsed::ParsedLabels::new(LOCK_STRIPES)),
            followed: Arc::default(),
            following: Arc::default(),
            settle_refusals: Arc::default(),
        }
    }

    /// Measure load from Prometheus for the proportional policy (default: the alert annotation).
    pub fn with_load_source(mut self, load: LoadSource) -> Self {
        self.load = Arc::new(load);
        self
    }

    /// Record into these metrics (the backend should be wrapped with the same ones).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Keep decisions in this audit ring.
    pub fn with_audit(mut self, audit: Arc<Audit>) -> Self {
        self.audit = audit;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The one path from a trigger to a write, for one function. `None` when a background
    /// trigger found nothing to do (nothing is recorded then).
    // A debug-level span: at info it costs a formatted allocation per webhook on the duplicate hot
    // path. The log lines name the function themselves.
    #[instrument(level = "debug", skip_all, fields(%function, trigger = cause.name()))]
    pub async fn decide(
        &self,
        function: &FunctionId,
        cause: Cause<'_>,
        now: DateTime<Utc>,
    ) -> Option<FunctionReport> {
        let _serialized = self.lock_for(function).lock().await;
        let mut conflicts = 0;
        let mut settled = None;
        let report = loop {
            match self.attempt(function, cause, now, &mut settled).await {
                Ok(decision) => {
                    let decision = match (decision, settled.take()) {
                        (decision, Some(moved)) => applied::after_settling(moved, decision),
                        (Some(decision), None) => decision,
                        (None, None) => return None,
                    };
                    break FunctionReport::from_decision(function, decision);
                }
                Err(BackendError::Conflict(why)) if conflicts + 1 < MAX_ATTEMPTS => {
                    conflicts += 1;
                    info!(%function, %why, attempt = conflicts + 1, "version conflict; reading again");
                }
                Err(BackendError::Conflict(why)) => {
                    let reason = format!(
                        "gave up after {MAX_ATTEMPTS} attempts: the function's version kept \
                         changing ({why}); retry later"
                    );
                    break failed(function, Outcome::Error, reason, None, &settled);
                }
                Err(e @ (BackendError::NotFound(_) | BackendError::Ineligible(_))) => {
                    if matches!(cause, Cause::FollowUp) {
                        // Deleted, or no longer one alertscaler may scale: nothing to re-decide
                        // until a notification names it again (every pass would be refused).
                        self.set_followed(function, false);
                        info!(%function, why = %e, "no longer followed up");
                        return None;
                    }
                    break failed(
                        function,
                        Outcome::Refused,
                        e.to_string(),
                        Some(&e),
                        &settled,
                    );
                }
                Err(e) => {
                    warn!(%function, error = %e, backend = self.backend.name(), "backend failed");
                    break failed(function, Outcome::Error, e.to_string(), Some(&e), &settled);
                }
            }
        };
        self.observe(cause, report, now)
    }

    fn lock_for(&self, function: &FunctionId) -> &tokio::sync::Mutex<()> {
        &self.locks[self.stripe(function)]
    }

    /// The lock stripe of `function`.
    fn stripe(&self, function: &FunctionId) -> usize {
        let mut h = fnv::FnvHasher::default();
        function.hash(&mut h);
        usize::try_from(h.finish() % self.locks.len() as u64).unwrap_or(0)
    }

    /// One read → plan → decide → write round; a conflict means "do it again". `None`: nothing
    /// to do for a background trigger. A move the read settled (an earlier write of unknown
    /// outcome) goes to `settled`, for the decision to report.
    async fn attempt(
        &self,
        function: &FunctionId,
        cause: Cause<'_>,
        now: DateTime<Utc>,
        settled: &mut Option<Settled>,
    ) -> Result<Option<Decision>, BackendError> {
        let mut state = self.backend.read_shared(function).await?;
        if let Some(moved) = state.settled.take() {
            *settled = Some(moved);
        }
        self.decide_on(function, cause, now, state).await
    }

    /// [`Self::attempt`] on what the read found: what the trigger asks, the labels, the policy's
    /// verdict, then the write.
    async fn decide_on(
        &self,
        function: &FunctionId,
        cause: Cause<'_>,
        now: DateTime<Utc>,
        state: SharedState,
    ) -> Result<Option<Decision>, BackendError> {
        let read = Read {
            function,
            cause,
            now,
            replicas: state.replicas,
            version: state.version,
            stored: state.stored.unwrap_or_default(),
        };
        let Some(ask) = self.ask(&read) else {
            return Ok(None);
        };
        let labels = match self.labels(function, &state.labels) {
            Ok(labels) => labels,
            Err(e) => return Ok(Some(self.refused(&read, Decision::refused(e.to_string())))),
        };
        let Some((verdict, ledger)) = self.verdict(&read, &labels, ask).await else {
            return Ok(None);
        };
        let platform = &self.settings.labels.platform;
        let decision = policy::platform::explain(verdict.decision, &labels, platform);
        if matches!(decision, Decision::Refused { .. }) {
            return Ok(Some(self.refused(&read, decision)));
        }
        let decision = self.write(&read, decision, ledger, verdict.window).await?;
        Ok(Some(decision))
    }
}

impl Service {
    /// A function's scaling labels as read, parsed once (and not again while the backend shares
    /// the same labels): for the decision, and for the series exported from them.
    fn labels(
        &self,
        function: &FunctionId,
        labels: &Arc<Labels>,
    ) -> Result<ScaleLabels, LabelError> {
        let rules = &self.settings.labels;
        let parsed = self
            .parsed
            .parse(self.stripe(function), labels, |l| rules.parse(l));
        match &parsed {
            Ok(scale) => self
                .metrics
                .export_parsed_labels(function, labels, &scale.policy),
            Err(_) => self.metrics.export_labels(function, labels),
        }
        parsed
    }
}

/// What one read gives a decision on it, with the trigger that asked for it and when.
struct Read<'a> {
    function: &'a FunctionId,
    cause: Cause<'a>,
    now: DateTime<Utc>,
    /// The replicas as read.
    replicas: u32,
    /// The read's version, which the write must still find.
    version: Version,
    /// What alertscaler stored with the function (the default when nothing was stored yet); shared
    /// with the backend, which need not copy it for a decision that only reads it.
    stored: Arc<Stored>,
}

/// A failed decision's report. A move that happened on the way stays in it, from where it started:
/// one the read settled (the reason says so first), or one written but not confirmed.
fn failed(
    function: &FunctionId,
    outcome: Outcome,
    reason: String,
    error: Option<&BackendError>,
    settled: &Option<Settled>,
) -> FunctionReport {
    let mut report =
        FunctionReport::new(function, outcome, applied::after(settled.as_ref(), reason));
    let moved = match (error, settled) {
        (Some(BackendError::Unconfirmed { from, to, .. }), s) => {
            Some((s.as_ref().map_or(*from, |s| s.from), *to))
        }
        (_, Some(s)) => Some((s.from, s.to)),
        _ => None,
    };
    (report.from, report.to) = (moved.map(|m| m.0), moved.map(|m| m.1));
    report
}

#[cfg(test)]
mod tests;
