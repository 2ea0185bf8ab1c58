//! The settle-pass trigger: which functions it re-decides (a scale-down the stabilization window
//! held back, or up alerts silent for the episode TTL), and its verdict: the held scale-down
//! resumed, or a lost resolution decided as if it came, and what that says: Prometheus is asked
//! first whether the silent alert still fires.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{Cause, Read, Service};
use crate::alert::Signal;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::labels::ScaleLabels;
use crate::ledger::{self, Trigger};
use crate::policy::{self, Decision, Verdict, stabilize};
use crate::report::FunctionReport;

impl Service {
    /// Trigger: the settle pass at `now`. Re-decides the listed functions whose stored state holds
    /// a scale-down the stabilization window held back, or whose up alerts all went silent for
    /// the episode TTL (their resolution was lost: decided as if it had come); returns what
    /// moved, was refused or failed.
    pub async fn settle(&self, now: DateTime<Utc>) -> Result<Vec<FunctionReport>, BackendError> {
        // Only those functions are read again: the others would cost a read each for nothing (a
        // GET per function per pass on Kubernetes).
        let silent_before = now - self.settings.timing.episode_ttl;
        let settling = self.backend.settling(silent_before).await?;
        let mut reports = Vec::new();
        for id in settling {
            if let Some(report) = self.decide(&id, Cause::Settle, now).await {
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// The settle pass's verdict: on a resolution that never came (`lapsed`: its signal, and the
    /// ledger without its episode) unless Prometheus still holds the alert firing, else resuming
    /// a held scale-down.
    pub(super) async fn settle_verdict<'r>(
        &self,
        read: &'r Read<'_>,
        labels: &ScaleLabels,
        lapsed: Option<(Signal, ledger::Entry)>,
    ) -> Option<(Verdict, Cow<'r, ledger::Entry>)> {
        let Some((signal, next)) = lapsed else {
            return self.resume(read, labels);
        };
        let stored = &read.stored;
        let ttl = self.settings.timing.episode_ttl.num_seconds();
        let firing = self.still_firing(read.function, &stored.ledger).await;
        if firing.is_empty() {
            let alertname = signal.alertname.clone();
            let mut verdict = self.judge(read, labels, &Trigger::Down { signal }, None);
            after_silence(&mut verdict.decision, &alertname, ttl);
            return Some((verdict, Cow::Owned(next)));
        }
        let seen = ledger::seen_firing(&stored.ledger, &firing, read.now);
        let verdict = Verdict {
            decision: still_in_prometheus(&firing, ttl),
            window: stored.window.clone(),
        };
        Some((verdict, Cow::Owned(seen)))
    }

    /// The held scale-down, if the stabilization window lets it go on this read.
    fn resume<'r>(
        &self,
        read: &'r Read<'_>,
        labels: &ScaleLabels,
    ) -> Option<(Verdict, Cow<'r, ledger::Entry>)> {
        let (s, stored) = (&self.settings, &read.stored);
        // A held scale-down waits while an up alert fires; that alert's resolution decides.
        if stored.ledger.fires_up(read.now, &s.timing) {
            return None;
        }
        let verdict =
            stabilize::resume(labels, read.replicas, &stored.window, read.now, &s.policy)?;
        Some((verdict, Cow::Borrowed(&stored.ledger)))
    }

    /// Which of the function's silent up alerts Prometheus (when configured) still holds firing:
    /// AlertManager repeats an alert only every repeat_interval, which may be longer than the
    /// episode TTL. Empty when none, or when Prometheus cannot tell (the silence decides then).
    pub(super) async fn still_firing(
        &self,
        function: &FunctionId,
        ledger: &ledger::Entry,
    ) -> Vec<String> {
        let id = &self.settings.identity;
        let silent = ledger.firing_up();
        self.load
            .firing_alerts(function, &id.function_label, &id.default_namespace, &silent)
            .await
            .unwrap_or_default()
    }
}

/// Up alerts silent for the episode TTL that Prometheus still holds firing: no resolution was lost.
pub(super) fn still_in_prometheus(firing: &[String], ttl_secs: i64) -> Decision {
    Decision::Unchanged {
        why: policy::Why::StillFiring,
        reason: format!(
            "no notification of {} for {ttl_secs}s (episode_ttl_secs), but Prometheus holds it \
             firing: not a lost resolution; asked again in {ttl_secs}s",
            firing.join(", ")
        ),
    }
}

/// A decision on a resolution that never came says so first.
pub(super) fn after_silence(decision: &mut Decision, alertname: &str, silent_secs: i64) {
    let (Decision::Scale { reason, .. }
    | Decision::Unchanged { reason, .. }
    | Decision::Refused { reason }) = decision;
    *reason = format!(
        "no notification of {alertname} for {silent_secs}s (episode_ttl_secs): its resolution was \
         lost, decided as if it came; {reason}"
    );
}
