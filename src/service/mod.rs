//! The one decision path. Every trigger — an AlertManager notification, the settle pass that
//! finishes scale-downs held by the stabilization window, any later background trigger — goes
//! through [`Service::decide`]: read → plan → decide (pure) → write, re-reading on a version
//! conflict → observe (metrics, audit, one log line).
//!
//! Background loops ([`crate::background`]) only choose which functions to re-decide and when.
//! Decisions for one function are serialized inside the process, so a version conflict always
//! means another writer (a second receiver, a person, a controller).
//!
//! Here: the service, [`Service::decide`] and the round it repeats on a conflict. Beside it, each
//! trigger (`notification`, `settle`, `follow`), the observation of a decision (`observe`), what a
//! write did (`applied`), the listing and label exports (`listing`), and the settings.

mod applied;
mod follow;
mod listing;
mod notification;
mod observe;
mod refusals;
mod settings;
mod settle;

pub use listing::Listing;
pub use settings::{Cause, Settings};

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use chrono::{DateTime, Utc};
use tracing::{info, instrument, warn};

use crate::alert::Direction;
use crate::audit::Audit;
use crate::backend::{Backend, Settled, Update};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::ledger::{self, FollowUp, Trigger};
use crate::measure::{LoadSource, Otherwise};
use crate::metrics::Metrics;
use crate::policy::{self, Decision, Load, stabilize};
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
        let mut h = fnv::FnvHasher::default();
        function.hash(&mut h);
        let stripe = usize::try_from(h.finish() % self.locks.len() as u64).unwrap_or(0);
        &self.locks[stripe]
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
        let mut state = self.backend.read(function).await?;
        if let Some(moved) = state.settled.take() {
            *settled = Some(moved);
        }
        self.decide_on(function, cause, now, state).await
    }

    /// [`Self::attempt`] on what the read found.
    async fn decide_on(
        &self,
        function: &FunctionId,
        cause: Cause<'_>,
        now: DateTime<Utc>,
        state: crate::backend::FunctionState,
    ) -> Result<Option<Decision>, BackendError> {
        let s = &self.settings;
        let stored = state.stored.unwrap_or_default();
        // The settle pass decides on a resolution that never came, else resumes a held scale-down.
        let lapsed = match cause {
            Cause::Settle => ledger::lapsed(&stored.ledger, now, &s.timing),
            Cause::Notification(_) | Cause::FollowUp => None,
        };
        if matches!(cause, Cause::Settle) && stored.window.pending.is_none() && lapsed.is_none() {
            return Ok(None);
        }
        // A follow-up decides for the capacity alert still firing, holds, or stops following.
        let follow = match cause {
            Cause::FollowUp => match self.track_follow_up(function, &stored.ledger, now) {
                FollowUp::Decide(signal) => Some(signal),
                FollowUp::Hold | FollowUp::Stop => return Ok(None),
            },
            Cause::Notification(_) | Cause::Settle => None,
        };
        // A refused notification stores nothing, but an alert it resolved is no longer followed up
        // (AlertManager sends a resolution once). A refused follow-up is recorded once and lets
        // go: AlertManager's next repeat of the firing alert follows it again (every pass until
        // then would be refused the same way).
        let refused = |decision: Decision| {
            match cause {
                Cause::Notification(signals) => {
                    let (_, next) = ledger::plan_borrowed(&stored.ledger, signals, now, &s.timing);
                    self.stop_follow_up_unless_firing(function, &next, now);
                }
                Cause::FollowUp => self.set_followed(function, false),
                Cause::Settle => {}
            }
            Ok(Some(decision))
        };
        self.metrics.export_labels(function, &state.labels);
        let labels = match s.labels.parse(&state.labels) {
            Ok(labels) => labels,
            Err(e) => return refused(Decision::refused(e.to_string())),
        };
        // What the policy decides on this read, for a trigger and what was measured for it.
        let decide = |trigger: &Trigger, load: Option<&Load>| {
            let input = policy::Input {
                labels: &labels,
                current: state.replicas,
                trigger,
                ledger: &stored.ledger,
                window: &stored.window,
                load,
                now,
            };
            policy::decide(&input, &s.policy)
        };
        let (verdict, ledger) = match cause {
            Cause::Notification(signals) => {
                let (trigger, next) =
                    ledger::plan_borrowed(&stored.ledger, signals, now, &s.timing);
                // A hold measures nothing; a measurement (an HTTP query) is boxed, so that its
                // large state does not sit in every webhook's future.
                let load = match trigger {
                    Trigger::Hold(_) => None,
                    _ => Box::pin(self.load.for_trigger(&trigger, &s.policy, function)).await,
                };
                (decide(&trigger, load.as_ref()), next)
            }
            Cause::Settle => match lapsed {
                Some((signal, next)) => {
                    let ttl = s.timing.episode_ttl.num_seconds();
                    let firing = Box::pin(self.still_firing(function, &stored.ledger)).await;
                    if firing.is_empty() {
                        let alertname = signal.alertname.clone();
                        let mut verdict = decide(&Trigger::Down { signal }, None);
                        settle::after_silence(&mut verdict.decision, &alertname, ttl);
                        (verdict, Cow::Owned(next))
                    } else {
                        let seen = ledger::seen_firing(&stored.ledger, &firing, now);
                        let verdict = policy::Verdict {
                            decision: settle::still_in_prometheus(&firing, ttl),
                            window: stored.window.clone(),
                        };
                        (verdict, Cow::Owned(seen))
                    }
                }
                None => {
                    // A held scale-down waits while an up alert fires; that alert's resolution
                    // decides.
                    if stored.ledger.fires_up(now, &s.timing) {
                        return Ok(None);
                    }
                    let Some(verdict) =
                        stabilize::resume(&labels, state.replicas, &stored.window, now, &s.policy)
                    else {
                        return Ok(None);
                    };
                    (verdict, Cow::Borrowed(&stored.ledger))
                }
            },
            Cause::FollowUp => {
                let Some(signal) = follow else {
                    return Ok(None);
                };
                // Without a measured count there is nothing newer than the alert's annotation,
                // which the notification already acted on.
                let Some(load) = Box::pin(self.load.desired(function, Otherwise::Hold)).await
                else {
                    return Ok(None);
                };
                // The alert's own direction: a followed scale-down alert is not a wake-up.
                let trigger = match signal.direction {
                    Direction::Up => Trigger::Up {
                        signal,
                        repeat: true,
                    },
                    Direction::Down => Trigger::Down { signal },
                };
                (decide(&trigger, Some(&load)), Cow::Borrowed(&stored.ledger))
            }
        };
        let mut decision = policy::platform::explain(verdict.decision, &labels, &s.labels.platform);
        if matches!(decision, Decision::Refused { .. }) {
            return refused(decision);
        }
        // Written when replicas move or the stored state changed; a hold that changed nothing (a
        // duplicate) copies and writes nothing.
        let mut replicas = decision.target();
        // When the replicas last went up or down, whatever moved them (the latency policy's hold,
        // the cooldown). Never moved back: a background pass reads its clock once and may decide
        // after waiting for this function's lock, behind a decision stamped later.
        let mut ledger = ledger;
        // Dry run: the real count never reaches a would-be move, so a follow-up (every few seconds
        // while its alert fires) would say the same move at every pass: it says it once per
        // cooldown, as a notification's repeat would.
        let last_said = match replicas {
            Some(to) if to > state.replicas => ledger.scaled_up,
            Some(to) if to < state.replicas => ledger.scaled_down,
            _ => None,
        };
        if s.dry_run
            && matches!(cause, Cause::FollowUp)
            && last_said.is_some_and(|at| now - at < s.timing.cooldown)
        {
            replicas = None;
            decision = applied::dry_run_said(decision, s.timing.cooldown);
        }
        match replicas {
            Some(to) if to > state.replicas => ledger::stamp(&mut ledger.to_mut().scaled_up, now),
            Some(to) if to < state.replicas => ledger::stamp(&mut ledger.to_mut().scaled_down, now),
            _ => {}
        }
        // Dry run: the move is recorded as made (the cooldown and the window go on as they
        // would), but only the ledger is written; the decision says what it would have done.
        if s.dry_run && replicas.take().is_some() {
            decision = applied::dry_run(decision);
        }
        let changed = matches!(&ledger, Cow::Owned(l) if *l != stored.ledger)
            || verdict.window != stored.window;
        let next = (replicas.is_some() || changed).then(|| Stored {
            ledger: ledger.into_owned(),
            window: verdict.window,
        });
        if let Some(next) = &next {
            let update = Update {
                replicas,
                stored: next,
                version: &state.version,
            };
            let applied = self.backend.apply(function, update).await?;
            decision = applied::carried_out(decision, &applied);
        }
        let next = next.as_ref().unwrap_or(&stored);
        self.metrics.ledger_size(function, next.ledger.len());
        if matches!(cause, Cause::Notification(_)) {
            self.track_follow_up(function, &next.ledger, now);
        }
        Ok(Some(decision))
    }
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
