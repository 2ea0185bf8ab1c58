//! Scaling policies: pure functions from (labels, current replicas, trigger, ledger, now) to a
//! [`Decision`].
//!
//! They never read the clock and never await; the service supplies everything (including a load
//! measured from Prometheus, when configured). The alert's `scale_policy` label selects the policy
//! ([`PolicyKind`]); every policy proposes a desired count ([`Proposal`]) and
//! [`stabilize::apply`] turns it into the [`Verdict`]: the decision, holding scale-downs within the
//! stabilization window, and the window to store. Nothing here mutates its inputs: everything a
//! decision concludes is returned.

pub mod capacity;
pub mod latency;
pub mod platform;
pub mod proportional;
pub mod stabilize;
pub mod step;
#[cfg(test)]
mod testkit;
pub mod zero;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::config::{PolicyConfig, PolicyKind, ScaleDown};
pub use proportional::Load;

use crate::alert::{Signal, Status};
use crate::labels::ScaleLabels;
use crate::ledger::{Entry, Hold, Trigger};
use stabilize::Window;

/// Why nothing moved: a short code (for metrics and clients) plus the human reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    Duplicate,
    Cooldown,
    Disabled,
    AtMax,
    AtMin,
    StillFiring,
    Stale,
    Replay,
    NoStep,
    DownEnded,
    /// Proportional: load within the tolerance of current capacity.
    Tolerance,
    /// A scale-down held by the stabilization window.
    Stabilizing,
    /// Latency: an opposite move happened within the hold window.
    OppositeHold,
    /// Zero: the function does not allow scaling to zero.
    NoZero,
    /// An idle alert fired, but the function has not been idle for its zero-duration yet.
    IdleTooShort,
    /// Latency: a high-latency alert resolved; nothing to move.
    InBand,
    /// A function asleep (`com.openfaas.scale.zero=true`, at 0) and a scale-down trigger: only an up
    /// alert (or a request through the gateway) wakes it.
    Asleep,
    /// Dry run (`dry_run = true`): the decision would have moved replicas; only the ledger was
    /// written, and the reason says what would have been done.
    DryRun,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Cooldown => "cooldown",
            Self::Disabled => "disabled",
            Self::AtMax => "at_max",
            Self::AtMin => "at_min",
            Self::StillFiring => "still_firing",
            Self::Stale => "stale",
            Self::Replay => "replay",
            Self::NoStep => "no_step",
            Self::DownEnded => "down_ended",
            Self::Tolerance => "tolerance",
            Self::Stabilizing => "stabilizing",
            Self::OppositeHold => "opposite_hold",
            Self::NoZero => "no_zero",
            Self::IdleTooShort => "idle_too_short",
            Self::InBand => "in_band",
            Self::Asleep => "asleep",
            Self::DryRun => "dry_run",
        }
    }
}

/// The outcome for one function. Computed without I/O; the service carries it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    Scale { from: u32, to: u32, reason: String },
    Unchanged { why: Why, reason: String },
    Refused { reason: String },
}

impl Decision {
    fn unchanged(why: Why, reason: impl Into<String>) -> Self {
        Self::Unchanged {
            why,
            reason: reason.into(),
        }
    }

    pub(crate) fn refused(reason: impl Into<String>) -> Self {
        Self::Refused {
            reason: reason.into(),
        }
    }

    /// The replica count to write, if any.
    pub fn target(&self) -> Option<u32> {
        match self {
            Self::Scale { to, .. } => Some(*to),
            _ => None,
        }
    }

    /// The human reason, whatever the outcome.
    pub fn reason(&self) -> &str {
        match self {
            Self::Scale { reason, .. }
            | Self::Unchanged { reason, .. }
            | Self::Refused { reason } => reason,
        }
    }
}

/// Everything one decision concludes: what to do, and the stabilization window to store with it
/// (the caller stores it only when the decision is carried out).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    pub window: Window,
}

/// What a policy wants, before the stabilization window has its say.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The desired replica count (already clamped to [min, max], or 0 for scale to zero).
    pub desired: u32,
    /// The numbers used, for the reason.
    pub explain: String,
    /// The code to report when `desired` equals the current count.
    pub same: Why,
    /// For a sleep (`desired` 0): since when the function has been idle, when its idle alert says
    /// (annotation `window`). A sleep the window holds back keeps it, so that the settle pass
    /// checks the zero-duration the labels ask when it finishes the sleep.
    pub idle_since: Option<DateTime<Utc>>,
}

/// Everything one decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub labels: &'a ScaleLabels,
    pub current: u32,
    pub trigger: &'a Trigger,
    /// The ledger entry as read, before planning (for last_up / last_down).
    pub ledger: &'a Entry,
    /// The stabilization window as read.
    pub window: &'a Window,
    /// Load measured at decision time (Prometheus); `None` → the alert's `value` annotation.
    pub load: Option<&'a Load>,
    pub now: DateTime<Utc>,
}

/// Decide what to do with a function: the decision, and the window to store when it is carried out.
pub(crate) fn decide(input: &Input<'_>, config: &PolicyConfig) -> Verdict {
    let unchanged_window = |decision| Verdict {
        decision,
        window: input.window.clone(),
    };
    let kind = match input.trigger {
        // A scale-down alert that ended withdraws the scale-down it asked for: a sleep or a smaller count
        // the window still holds back is no longer wanted (FunctionIdle resolved: traffic is back).
        Trigger::Hold(hold @ Hold::DownEnded) => {
            let mut window = input.window.clone();
            window.release();
            return Verdict {
                decision: hold_decision(hold),
                window,
            };
        }
        Trigger::Hold(hold) => return unchanged_window(hold_decision(hold)),
        Trigger::Up { signal, .. } | Trigger::Down { signal } => {
            signal.policy.unwrap_or(config.default)
        }
    };
    let labels = input.labels;
    let sleeps = kind == PolicyKind::Zero && labels.zero;
    // A function asleep (zero=true, at 0) wakes to its min even where min = max disables autoscaling,
    // but only for an up trigger. A scale-down trigger says the load went away: a resolution, or a down
    // alert still firing (the capacity pack's FunctionOverProvisioned keeps firing for its
    // keep_firing_for after FunctionIdle put the function to sleep, and is followed up), which every
    // policy but zero sizes at the function's min and so woke it again.
    let asleep = labels.zero && input.current == 0;
    if let (true, Trigger::Down { signal }) = (asleep && kind != PolicyKind::Zero, input.trigger) {
        return unchanged_window(Decision::unchanged(
            Why::Asleep,
            format!(
                "{} {}: asleep at 0 (com.openfaas.scale.zero=true); only an up alert or a request wakes it",
                signal.alertname,
                status_word(signal.status)
            ),
        ));
    }
    let wakes = asleep && matches!(input.trigger, Trigger::Up { .. });
    if labels.autoscaling_disabled() && !sleeps && !wakes {
        return unchanged_window(Decision::unchanged(
            Why::Disabled,
            format!(
                "autoscaling disabled: min = max = {} (current {})",
                labels.min, input.current
            ),
        ));
    }
    let proposal = match kind {
        PolicyKind::Step => step::propose(labels, input.current, input.trigger),
        PolicyKind::Proportional => proportional::propose(input, config),
        PolicyKind::Latency => latency::propose(input, config),
        PolicyKind::Zero => zero::propose(input),
        PolicyKind::Capacity => capacity::propose(input),
    };
    match proposal {
        Ok(p) => stabilize::apply(input, config, p),
        Err(decision) => unchanged_window(decision),
    }
}

/// How a reason names a scale-down signal's status.
fn status_word(status: Status) -> &'static str {
    match status {
        Status::Resolved => "resolved",
        Status::Firing => "asks to scale down",
    }
}

/// The shared scale-down of an up alert that resolved: to min (the stabilization window may hold).
pub(crate) fn down_to_min(labels: &ScaleLabels, signal: &Signal) -> Proposal {
    let what = status_word(signal.status);
    Proposal {
        desired: labels.min,
        explain: format!(
            "{} {what} and no scale-up alert is firing: min {}",
            signal.alertname, labels.min
        ),
        same: Why::AtMin,
        idle_since: None,
    }
}

/// What a reason adds when sizing a serving function (never below 1, see
/// [`ScaleLabels::clamp_awake`]) changed `raw` to `to`: ", clamped to [low, max] = to".
pub(crate) fn clamp_note(labels: &ScaleLabels, raw: u32, to: u32) -> String {
    if raw == to {
        String::new()
    } else {
        format!(
            ", clamped to [{}, {}] = {to}",
            labels.min.max(1).min(labels.max),
            labels.max
        )
    }
}

/// Why a count sized for a serving function moves nothing when it is the current one: at max, at
/// its floor (min, and at least 1), else within tolerance.
pub(crate) fn same_as(labels: &ScaleLabels, to: u32) -> Why {
    if to == labels.max {
        Why::AtMax
    } else if to == labels.min.max(1) {
        Why::AtMin
    } else {
        Why::Tolerance
    }
}

pub(crate) fn hold_decision(hold: &Hold) -> Decision {
    match hold {
        Hold::Duplicate { ago_secs } => Decision::unchanged(
            Why::Duplicate,
            format!("duplicate: this alert episode was decided {ago_secs}s ago"),
        ),
        Hold::Cooldown { remaining_secs, up } => {
            let way = if *up { "up" } else { "down" };
            Decision::unchanged(
                Why::Cooldown,
                format!("scale-{way} cooldown: {remaining_secs}s left since the last scale-{way}"),
            )
        }
        Hold::StillFiring { alerts } => Decision::unchanged(
            Why::StillFiring,
            format!("not scaling down: still firing: {}", alerts.join(", ")),
        ),
        Hold::Stale => Decision::unchanged(
            Why::Stale,
            "stale: notification for an older episode than the one known",
        ),
        Hold::Replay => {
            Decision::unchanged(Why::Replay, "replay: this resolution was already applied")
        }
        Hold::DownEnded => Decision::unchanged(Why::DownEnded, "a scale-down alert ended"),
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
