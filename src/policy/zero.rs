//! Scale to zero: a firing idle alert (`FunctionIdle`, scale_direction=down) takes a function
//! labelled `com.openfaas.scale.zero=true` to 0 replicas; never a function without that label.
//! The rule pack fires after 15m without invocations and says so in annotation `window`; the
//! function sleeps once it has been idle for its `com.openfaas.scale.zero-duration` (default 15m).
//! An up-direction alert with this policy wakes the function to min; every other policy's
//! scale-up also starts from min, since their counts are clamped to [min, max].

use chrono::{DateTime, TimeDelta, Utc};

use super::{Decision, Input, Proposal, Why};
use crate::alert::Signal;
use crate::alert::Status;
use crate::labels::{ZERO, ZERO_DURATION, parse_duration};
use crate::ledger::Trigger;

/// How long the function has been idle, when the alert says how idle it was when it became active
/// (annotation `window`, e.g. the pack's `15m`): that window plus the time since `startsAt`.
/// Without the annotation the alert itself is the judge and the function may sleep at once; a
/// malformed one is a refusal, not a guess.
fn idle_for(signal: &Signal, now: DateTime<Utc>) -> Result<Option<TimeDelta>, Decision> {
    let Some(text) = signal.annotations.get("window") else {
        return Ok(None);
    };
    let window = parse_duration(text).ok_or_else(|| Decision::Refused {
        reason: format!(
            "{} has annotation window={:?}, which is not a duration (like 15m)",
            signal.alertname,
            crate::skipped::shorten(text, crate::skipped::MAX_VALUE_CHARS)
        ),
    })?;
    let since_start = (now - signal.episode.starts_at).max(TimeDelta::zero());
    Ok(Some(
        window.checked_add(&since_start).unwrap_or(TimeDelta::MAX),
    ))
}

/// The zero policy's proposal.
pub(crate) fn propose(input: &Input<'_>) -> Result<Proposal, Decision> {
    let (labels, current) = (input.labels, input.current);
    match input.trigger {
        Trigger::Hold(hold) => Err(super::hold_decision(hold)),
        Trigger::Down { signal } if signal.status == Status::Firing => {
            if !labels.zero {
                // Where the platform cannot scale to zero, its note says so (`platform::explain`).
                let but = if labels.limit.zero_blocked {
                    format!("{ZERO}=true cannot apply on this platform")
                } else {
                    format!("the function has no label {ZERO}=true")
                };
                return Err(Decision::unchanged(
                    Why::NoZero,
                    format!(
                        "{} firing, but {but}: never scaled to zero (current {current})",
                        signal.alertname
                    ),
                ));
            }
            let idle = labels.policy.zero_duration.num_seconds();
            let idle_for = idle_for(signal, input.now)?;
            if let Some(idle_for) = idle_for
                && idle_for.num_seconds() < idle
            {
                return Err(Decision::unchanged(
                    Why::IdleTooShort,
                    format!(
                        "{} firing: idle for {}s, but {ZERO_DURATION} asks for {idle}s (current {current})",
                        signal.alertname,
                        idle_for.num_seconds()
                    ),
                ));
            }
            Ok(Proposal {
                desired: 0,
                explain: format!(
                    "{} firing: idle (zero-duration {idle}s) and {ZERO}=true → 0",
                    signal.alertname
                ),
                same: Why::AtMin,
                idle_since: idle_for.and_then(|d| input.now.checked_sub_signed(d)),
            })
        }
        // A min of 0 (zero=true) still wakes to one replica.
        Trigger::Up { signal, .. } => Ok(Proposal {
            desired: current.max(labels.clamp_awake(labels.min)),
            explain: format!(
                "{} firing: wake to at least min {}",
                signal.alertname,
                labels.clamp_awake(labels.min)
            ),
            same: Why::AtMin,
            idle_since: None,
        }),
        Trigger::Down { signal } => Err(Decision::unchanged(
            Why::DownEnded,
            format!("{} resolved: nothing to move", signal.alertname),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::labels::ScaleLabels;
    use crate::policy::PolicyConfig;
    use crate::stored::Stored;

    fn idle() -> Trigger {
        down("FunctionIdle", Some("zero"), Some("0"))
    }

    /// The pack's idle alert, which says the function was idle for `window` when it became active.
    fn idle_window(window: &str) -> Trigger {
        let mut s = signal(
            "FunctionIdle",
            Status::Firing,
            crate::alert::Direction::Down,
            Some("zero"),
            Some("0"),
        );
        s.annotations.insert("window".into(), window.into());
        Trigger::Down { signal: s }
    }

    fn sleepy_after(minutes: i64) -> ScaleLabels {
        let mut l = sleepy(1, 20);
        l.policy.zero_duration = chrono::TimeDelta::minutes(minutes);
        l
    }

    #[test]
    fn waits_for_the_functions_own_zero_duration() {
        // The alert started 1000 s ago with a 15m window: idle for 900 + 1000 = 1900 s.
        let cases = [
            (sleepy_after(15), Some(0), None),
            (sleepy_after(30), Some(0), None),
            (sleepy_after(60), None, Some(Why::IdleTooShort)),
        ];
        for (labels, to, why) in cases {
            let (d, _) = run(
                &labels,
                3,
                &idle_window("15m"),
                &Stored::default(),
                None,
                1000,
                &PolicyConfig::default(),
            );
            assert_eq!(d.target(), to, "{d:?}");
            assert_eq!(super::super::testkit::why(&d), why, "{d:?}");
            if why.is_some() {
                let reason = d.reason();
                assert!(
                    reason.contains("1900s") && reason.contains("3600s"),
                    "{reason}"
                );
            }
        }
        // The hold lasts until idle time reaches the label, not beyond: window 1m + 1000 s since the
        // alert started = 1060 s sleeps with a zero-duration of 1060 s, and is held with 1061 s.
        for (secs, to) in [(1060, Some(0)), (1061, None)] {
            let mut labels = sleepy(1, 20);
            labels.policy.zero_duration = chrono::TimeDelta::seconds(secs);
            let (d, _) = run(
                &labels,
                3,
                &idle_window("1m"),
                &Stored::default(),
                None,
                1000,
                &PolicyConfig::default(),
            );
            assert_eq!(d.target(), to, "zero-duration {secs}s: {d:?}");
        }
        // A malformed window is refused, naming it.
        let (d, _) = run(
            &sleepy_after(60),
            3,
            &idle_window("soon"),
            &Stored::default(),
            None,
            1000,
            &PolicyConfig::default(),
        );
        assert!(
            matches!(&d, Decision::Refused { reason } if reason.contains("window=\"soon\"")),
            "{d:?}"
        );
    }

    #[test]
    fn table() {
        // (labels, current, trigger, history, want target, want why)
        type Case = (ScaleLabels, u32, Trigger, Stored, Option<u32>, Option<Why>);
        let empty = Stored::default;
        let cases: Vec<Case> = vec![
            (sleepy(1, 20), 3, idle(), empty(), Some(0), None),
            // min = max does not prevent sleeping when zero=true.
            (sleepy(2, 2), 2, idle(), empty(), Some(0), None),
            (sleepy(1, 20), 0, idle(), empty(), None, Some(Why::AtMin)),
            // Never without the label.
            (
                labels(1, 20, 20),
                3,
                idle(),
                empty(),
                None,
                Some(Why::NoZero),
            ),
            // Stabilization: 4 was wanted 60 s ago → held at 3 (no lower than min(4, current)).
            (
                sleepy(1, 20),
                3,
                idle(),
                history(&[(940, 4)]),
                None,
                Some(Why::Stabilizing),
            ),
            // …and 2 wanted 60 s ago → partial move to 2.
            (
                sleepy(1, 20),
                3,
                idle(),
                history(&[(940, 2)]),
                Some(2),
                None,
            ),
            // Min 2: a recommendation at min (a capacity follow-up's, 5 s ago) does not hold the
            // sleep; one above min does.
            (
                sleepy(2, 20),
                2,
                idle(),
                history(&[(995, 2)]),
                Some(0),
                None,
            ),
            (
                sleepy(2, 20),
                5,
                idle(),
                history(&[(995, 3)]),
                Some(3),
                None,
            ),
            // Outside the 300 s window → straight to zero.
            (
                sleepy(1, 20),
                3,
                idle(),
                history(&[(600, 4)]),
                Some(0),
                None,
            ),
            // Waking: an up alert with the zero policy goes to min, and to 1 with a min of 0.
            (
                sleepy(0, 20),
                0,
                up("FunctionWake", Some("zero"), None),
                empty(),
                Some(1),
                None,
            ),
            (
                sleepy(2, 20),
                0,
                up("FunctionWake", Some("zero"), None),
                empty(),
                Some(2),
                None,
            ),
            (
                sleepy(2, 20),
                3,
                up("FunctionWake", Some("zero"), None),
                empty(),
                None,
                Some(Why::AtMin),
            ),
            // Waking through the step policy: 0 + 4 = 4 ≥ min.
            (
                sleepy(2, 20),
                0,
                up("APIHighInvocationRate", None, None),
                empty(),
                Some(4),
                None,
            ),
            // Step factor 1 from zero: 0 + 1 → at least min 3.
            (
                ScaleLabels {
                    factor: 1,
                    ..sleepy(3, 20)
                },
                0,
                up("APIHighInvocationRate", None, None),
                empty(),
                Some(3),
                None,
            ),
            (
                sleepy(1, 20),
                3,
                Trigger::Down {
                    signal: signal(
                        "FunctionIdle",
                        Status::Resolved,
                        crate::alert::Direction::Down,
                        Some("zero"),
                        None,
                    ),
                },
                empty(),
                None,
                Some(Why::DownEnded),
            ),
        ];
        for (labels, current, trigger, entry, to, why) in &cases {
            let (d, next) = run(
                labels,
                *current,
                trigger,
                entry,
                None,
                1000,
                &PolicyConfig::default(),
            );
            assert_eq!(d.target(), *to, "{current} {trigger:?} {entry:?} → {d:?}");
            if let Some(w) = why {
                assert_eq!(super::super::testkit::why(&d), Some(*w), "{d:?}");
            }
            if matches!(d, Decision::Scale { to: 2, .. }) && *current == 3 {
                assert_eq!(
                    next.window.pending,
                    Some(0),
                    "partial move remembers the target"
                );
            }
        }
    }
}
