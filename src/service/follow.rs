//! The follow-up trigger: which functions have a firing capacity alert, so the background pass
//! re-decides them (through [`Service::decide`]) until the alert resolves, and its verdict from
//! the desired count Prometheus holds now.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Cause, Read, Service};
use crate::alert::{Direction, Signal};
use crate::id::FunctionId;
use crate::labels::ScaleLabels;
use crate::ledger::{self, FollowUp, Trigger};
use crate::measure::Otherwise;
use crate::policy::Verdict;
use crate::report::FunctionReport;

/// Functions the follow-up pass decides at once.
pub const FOLLOW_UP_CONCURRENCY: usize = 16;

/// The report of one finished follow-up decision, if it made one; a decision that panicked (a defect)
/// is logged and skipped, as the pass goes on for the other functions.
fn decided(
    done: Option<Result<Option<FunctionReport>, tokio::task::JoinError>>,
) -> Option<FunctionReport> {
    match done? {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, "a follow-up decision failed");
            None
        }
    }
}

impl Service {
    /// Trigger: the follow-up pass at `now`. Re-decides every function with a firing capacity
    /// alert from the desired count Prometheus holds now; returns what moved, was refused or
    /// failed. A function whose alert resolved (or went silent) drops out.
    ///
    /// Up to [`FOLLOW_UP_CONCURRENCY`] functions are decided at once: each decision asks
    /// Prometheus, and one after the other a Prometheus that hangs would make a pass over N
    /// functions last N × `query_timeout_ms`, holding up the settle pass that shares the loop.
    pub async fn follow_up(&self, now: DateTime<Utc>) -> Vec<FunctionReport> {
        let followed: Vec<FunctionId> = self.followed().iter().cloned().collect();
        let mut deciding = tokio::task::JoinSet::new();
        let mut reports = Vec::new();
        for id in followed {
            if deciding.len() >= FOLLOW_UP_CONCURRENCY {
                reports.extend(decided(deciding.join_next().await));
            }
            let service = self.clone();
            deciding.spawn(async move { service.decide(&id, Cause::FollowUp, now).await });
        }
        while let Some(done) = deciding.join_next().await {
            reports.extend(decided(Some(done)));
        }
        // In the order of the functions, whatever order their decisions finished in.
        reports.sort_by(|a, b| a.function.cmp(&b.function));
        reports
    }

    /// A follow-up's verdict for the capacity alert still firing (`signal`), from the desired
    /// count Prometheus holds now; `None` when it holds none.
    pub(super) async fn follow_up_verdict<'r>(
        &self,
        read: &'r Read<'_>,
        labels: &ScaleLabels,
        signal: Signal,
    ) -> Option<(Verdict, Cow<'r, ledger::Entry>)> {
        // Without a measured count there is nothing newer than the alert's annotation,
        // which the notification already acted on.
        let load = self.load.desired(read.function, Otherwise::Hold).await?;
        // The alert's own direction: a followed scale-down alert is not a wake-up.
        let trigger = match signal.direction {
            Direction::Up => Trigger::Up {
                signal,
                repeat: true,
            },
            Direction::Down => Trigger::Down { signal },
        };
        let verdict = self.judge(read, labels, &trigger, Some(&load));
        Some((verdict, Cow::Borrowed(&read.stored.ledger)))
    }

    /// Functions the follow-up pass re-decides.
    pub fn followed_functions(&self) -> Vec<FunctionId> {
        self.followed().iter().cloned().collect()
    }

    pub(super) fn followed(&self) -> std::sync::MutexGuard<'_, BTreeSet<FunctionId>> {
        self.followed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follow `function` up while `ledger` has a firing capacity alert; returns what a follow-up
    /// does for it now.
    pub(super) fn track_follow_up(
        &self,
        function: &FunctionId,
        ledger: &ledger::Entry,
        now: DateTime<Utc>,
    ) -> FollowUp {
        let follow_up = self.follow_up_for(ledger, now);
        self.set_followed(function, follow_up != FollowUp::Stop);
        follow_up
    }

    /// Stop following `function` if `ledger` has no firing capacity alert (never starts following:
    /// for a notification that was refused, whose follow-ups would only be refused again).
    pub(super) fn stop_follow_up_unless_firing(
        &self,
        function: &FunctionId,
        ledger: &ledger::Entry,
        now: DateTime<Utc>,
    ) {
        if self.follow_up_for(ledger, now) == FollowUp::Stop {
            self.set_followed(function, false);
        }
    }

    fn follow_up_for(&self, ledger: &ledger::Entry, now: DateTime<Utc>) -> FollowUp {
        let s = &self.settings;
        ledger::follow_up(ledger, now, &s.timing, s.policy.default)
    }

    /// Add `function` to the followed set or take it out.
    pub(super) fn set_followed(&self, function: &FunctionId, follow: bool) {
        // Without a capacity alert anywhere (the common case) there is nothing to look up: the
        // set's lock stays off the hot path.
        if !follow && self.following.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut followed = self.followed();
        if follow == followed.contains(function) {
            return;
        }
        if follow {
            followed.insert(function.clone());
        } else {
            followed.remove(function);
        }
        self.following.store(followed.len(), Ordering::Release);
    }
}
