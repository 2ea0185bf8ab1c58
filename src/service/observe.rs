//! Observing one decision, whatever its trigger: counted in the metrics, logged as one `decided`
//! line (at info when something acted or failed, at debug for holds and repeated settle
//! refusals), and kept in the audit ring.

use chrono::{DateTime, Utc};
use tracing::{debug, info};

use super::{Cause, Service};
use crate::report::{FunctionReport, Outcome};

impl Service {
    /// Count, log and remember one function's decision. A background pass that moved nothing is
    /// logged at debug only: it polls, and recording every poll would flood the audit ring.
    pub(super) fn observe(
        &self,
        cause: Cause<'_>,
        report: FunctionReport,
        now: DateTime<Utc>,
    ) -> Option<FunctionReport> {
        let outcome = report.outcome_label();
        // Background triggers name no alerts: the reason says what they acted on.
        let signals = match cause {
            Cause::Notification(signals) => signals,
            Cause::Settle | Cause::FollowUp => &[],
        };
        let alerts = || signals.iter().map(|s| s.alertname.as_str());
        let trigger = cause.name();
        // Holds (duplicates above all: AlertManager retries and HA peers) are the hot path and the
        // bulk of decisions: logged at debug so they do not cost a log line each. Everything that
        // acted (or, in dry run, would have) or failed is logged at info. (Fields are evaluated only when the level is enabled.)
        macro_rules! decided {
            ($level:ident) => {
                $level!(
                    function = %report.function,
                    trigger,
                    alerts = ?crate::logging::JsonList(alert_names(alerts().map(|a| crate::skipped::shorten(a, crate::audit::MAX_NAME)))),
                    outcome,
                    from = report.from,
                    to = report.to,
                    reason = %report.reason,
                    "decided"
                )
            };
        }
        // A settle pass refused again as the last time (labels still invalid while a scale-down is
        // held: every pass until they are mended) says nothing new.
        let repeated = if matches!(cause, Cause::Settle) && report.outcome == Outcome::Refused {
            self.settle_refusals
                .repeated(&report.function, &report.reason)
        } else {
            self.settle_refusals.forget(&report.function);
            false
        };
        if report.is_hold() || repeated {
            decided!(debug);
            if !matches!(cause, Cause::Notification(_)) {
                return None;
            }
        } else {
            decided!(info);
        }
        self.metrics.decision(outcome);
        if let (Some(from), Some(to)) = (report.from, report.to) {
            self.metrics.scaled(&report.function, from, to);
        }
        self.audit.record(now, trigger, alerts(), &report);
        Some(report)
    }
}

/// Alert names as a decision lists them: sorted, without repeats.
fn alert_names<T: Ord>(names: impl Iterator<Item = T>) -> Vec<T> {
    let mut names: Vec<T> = names.collect();
    names.sort_unstable();
    names.dedup();
    names
}
