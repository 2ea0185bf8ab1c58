//! The follow-up trigger's bookkeeping: which functions have a firing capacity alert, so the
//! background pass re-decides them (through [`Service::decide`]) until the alert resolves.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Cause, Service};
use crate::id::FunctionId;
use crate::ledger::{self, FollowUp};
use crate::report::FunctionReport;

impl Service {
    /// Trigger: the follow-up pass at `now`. Re-decides every function with a firing capacity
    /// alert from the desired count Prometheus holds now; returns what moved, was refused or
    /// failed. A function whose alert resolved (or went silent) drops out.
    pub async fn follow_up(&self, now: DateTime<Utc>) -> Vec<FunctionReport> {
        let followed: Vec<FunctionId> = self.followed().iter().cloned().collect();
        let mut reports = Vec::new();
        for id in followed {
            if let Some(report) = self.decide(&id, Cause::FollowUp, now).await {
                reports.push(report);
            }
        }
        reports
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
