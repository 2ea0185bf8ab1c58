//! The settle-pass trigger: which functions it re-decides (a scale-down the stabilization window
//! held back, or up alerts silent for the episode TTL), and what a lost resolution says: Prometheus
//! is asked first whether the silent alert still fires.

use chrono::{DateTime, Utc};

use super::{Cause, Service};
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::ledger;
use crate::policy::{self, Decision};
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
