//! The follow-up trigger's bookkeeping: which functions have a firing capacity alert, so the
//! background pass re-decides them (through [`Service::decide`]) until the alert resolves.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Cause, Service};
use crate::alert::Signal;
use crate::id::FunctionId;
use crate::ledger;
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

    /// Follow `function` up while its stored ledger has a firing capacity alert; returns that
    /// alert's signal (what a follow-up decides for), if any.
    pub(super) fn track_follow_up(
        &self,
        function: &FunctionId,
        ledger: &ledger::Entry,
        now: DateTime<Utc>,
    ) -> Option<Signal> {
        let signal = ledger::follow_up(ledger, now, &self.settings.timing);
        let firing = signal.is_some();
        // Without a capacity alert anywhere (the common case) there is nothing to look up: the
        // set's lock stays off the hot path.
        if !firing && self.following.load(Ordering::Acquire) == 0 {
            return signal;
        }
        let mut followed = self.followed();
        if firing == followed.contains(function) {
            return signal;
        }
        if firing {
            followed.insert(function.clone());
        } else {
            followed.remove(function);
        }
        self.following.store(followed.len(), Ordering::Release);
        signal
    }
}
