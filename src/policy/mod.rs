//! Scaling policies: pure functions from (labels, current replicas, trigger) to a [`Decision`].
//!
//! They never read the clock and never await; the service supplies everything.

pub mod step;

use serde::Serialize;

use crate::alert::{Signal, Status};
use crate::labels::ScaleLabels;
use crate::ledger::{Hold, Trigger};

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

    /// The replica count to write, if any.
    pub fn target(&self) -> Option<u32> {
        match self {
            Self::Scale { to, .. } => Some(*to),
            _ => None,
        }
    }
}

/// Decide what to do with a function, given its validated labels, its current replicas and the
/// ledger's trigger.
pub fn decide(labels: &ScaleLabels, current: u32, trigger: &Trigger) -> Decision {
    let signal = match trigger {
        Trigger::Hold(hold) => return hold_decision(hold),
        Trigger::Up { signal, .. } | Trigger::Down { signal } => signal,
    };
    if let Err(reason) = known_policy(signal) {
        return Decision::Refused { reason };
    }
    if labels.autoscaling_disabled() {
        return Decision::unchanged(
            Why::Disabled,
            format!(
                "autoscaling disabled: min = max = {} (current {current})",
                labels.min
            ),
        );
    }
    match trigger {
        Trigger::Up { signal, repeat } => step_up(labels, current, signal, *repeat),
        Trigger::Down { signal } => to_min(labels, current, signal),
        Trigger::Hold(_) => unreachable!("handled above"),
    }
}

fn known_policy(signal: &Signal) -> Result<(), String> {
    match signal.policy.as_deref() {
        None | Some("step") => Ok(()),
        Some(other) => Err(format!(
            "alert {} asks for scale_policy={other:?}, which this alertscaler does not know (known: step)",
            signal.alertname
        )),
    }
}

fn step_up(labels: &ScaleLabels, current: u32, signal: &Signal, repeat: bool) -> Decision {
    let step = step::step(labels.max, labels.factor);
    if step == 0 {
        return Decision::unchanged(
            Why::NoStep,
            format!("factor {} disables scaling up", labels.factor),
        );
    }
    let to = labels.clamp(current.saturating_add(step));
    let kind = if repeat { "still firing" } else { "firing" };
    if to == current {
        return Decision::unchanged(
            Why::AtMax,
            format!("{} {kind}, already at max {}", signal.alertname, labels.max),
        );
    }
    Decision::Scale {
        from: current,
        to,
        reason: format!(
            "{} {kind}: step ceil({} × {}%) = {step}, {current} → {to} (max {})",
            signal.alertname, labels.max, labels.factor, labels.max
        ),
    }
}

fn to_min(labels: &ScaleLabels, current: u32, signal: &Signal) -> Decision {
    if current == labels.min {
        return Decision::unchanged(
            Why::AtMin,
            format!(
                "{} resolved, already at min {}",
                signal.alertname, labels.min
            ),
        );
    }
    let what = match signal.status {
        Status::Resolved => "resolved",
        Status::Firing => "asks to scale down",
    };
    Decision::Scale {
        from: current,
        to: labels.min,
        reason: format!(
            "{} {what} and no scale-up alert is firing: {current} → min {}",
            signal.alertname, labels.min
        ),
    }
}

fn hold_decision(hold: &Hold) -> Decision {
    match hold {
        Hold::Duplicate { ago_secs } => Decision::unchanged(
            Why::Duplicate,
            format!("duplicate: this alert episode was acted on {ago_secs}s ago"),
        ),
        Hold::Cooldown { remaining_secs } => Decision::unchanged(
            Why::Cooldown,
            format!("scale-up cooldown: {remaining_secs}s left since the last step"),
        ),
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
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::alert::{Direction, EpisodeKey};

    fn labels(min: u32, max: u32, factor: u32) -> ScaleLabels {
        ScaleLabels {
            min,
            max,
            factor,
            zero: false,
        }
    }

    fn signal(status: Status, policy: Option<&str>) -> Signal {
        Signal {
            alertname: "APIHighInvocationRate".into(),
            status,
            direction: Direction::Up,
            policy: policy.map(Into::into),
            episode: EpisodeKey {
                fingerprint: "f".into(),
                starts_at: Utc::now(),
            },
            annotations: Default::default(),
        }
    }

    fn up() -> Trigger {
        Trigger::Up {
            signal: signal(Status::Firing, None),
            repeat: false,
        }
    }

    fn down() -> Trigger {
        Trigger::Down {
            signal: signal(Status::Resolved, None),
        }
    }

    #[test]
    fn agrees_with_ce_wherever_ce_moves_replicas() {
        for current in 0..=25 {
            for (min, max, factor) in [(1, 20, 20), (1, 5, 10), (2, 14, 50), (1, 5, 100), (3, 9, 1)]
            {
                let l = labels(min, max, factor);
                let ce_up = step::ce_calculate_replicas(true, current, max, min, factor).max(min);
                let ce_down = step::ce_calculate_replicas(false, current, max, min, factor);
                let want_up = if ce_up == current { None } else { Some(ce_up) };
                let want_down = if ce_down == current {
                    None
                } else {
                    Some(ce_down)
                };
                assert_eq!(
                    decide(&l, current, &up()).target(),
                    want_up,
                    "up {current} {l:?}"
                );
                assert_eq!(
                    decide(&l, current, &down()).target(),
                    want_down,
                    "down {current} {l:?}"
                );
            }
        }
    }

    #[test]
    fn table() {
        type Case = (ScaleLabels, u32, Trigger, Option<u32>, Option<Why>);
        let cases: &[Case] = &[
            (labels(1, 20, 20), 1, up(), Some(5), None),
            (labels(1, 20, 20), 20, up(), None, Some(Why::AtMax)),
            (labels(1, 20, 0), 3, up(), None, Some(Why::NoStep)),
            (labels(2, 2, 20), 1, up(), None, Some(Why::Disabled)),
            (labels(1, 1, 20), 1, down(), None, Some(Why::Disabled)),
            (labels(1, 20, 20), 1, down(), None, Some(Why::AtMin)),
            (labels(1, 20, 20), 8, down(), Some(1), None),
            (labels(3, 20, 20), 0, up(), Some(4), None),
            (labels(1, 10, 20), 15, up(), Some(10), None),
        ];
        for (l, current, trigger, to, why) in cases {
            let d = decide(l, *current, trigger);
            assert_eq!(d.target(), *to, "{l:?} {current} → {d:?}");
            if let Some(why) = why {
                assert!(
                    matches!(&d, Decision::Unchanged { why: w, .. } if w == why),
                    "{d:?}"
                );
            }
        }
    }

    #[test]
    fn unknown_policy_is_refused() {
        let t = Trigger::Up {
            signal: signal(Status::Firing, Some("magic")),
            repeat: false,
        };
        assert!(
            matches!(decide(&labels(1, 20, 20), 1, &t), Decision::Refused { reason } if reason.contains("magic"))
        );
    }

    #[test]
    fn reasons_carry_the_numbers() {
        let Decision::Scale { reason, .. } = decide(&labels(1, 20, 20), 1, &up()) else {
            panic!()
        };
        assert!(
            reason.contains("step ceil(20 × 20%) = 4") && reason.contains("1 → 5"),
            "{reason}"
        );
    }
}
