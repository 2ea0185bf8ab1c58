//! OpenFaaS CE's step policy: each firing notification adds `ceil(max * factor / 100)` replicas
//! up to max; resolved drops to min (held by the stabilization window unless `scale_down = "ce"`).
//!
//! Where the platform lowers max (`[platform] max_replicas`, 5 on OpenFaaS CE), the step is
//! computed from the label's max (`step_base = "label_max"`, CE before its cap) or from the lowered
//! max (`"capped_max"`, CE 0.27: `ceil(min(max, 5) * factor / 100)`); either way up to the lowered max.

use super::{Decision, Proposal, Why, down_to_min};
use crate::labels::ScaleLabels;
use crate::ledger::Trigger;

/// The step policy's proposal: a firing up alert adds one step; any scale-down goes to min.
pub(crate) fn propose(
    labels: &ScaleLabels,
    current: u32,
    trigger: &Trigger,
) -> Result<Proposal, Decision> {
    match trigger {
        Trigger::Up { signal, repeat } => {
            let base = labels.step_max();
            let step = step(base, labels.factor);
            let kind = if *repeat { "still firing" } else { "firing" };
            if step == 0 {
                // CE answers min: from below it (a min raised while the function ran lower, or a
                // function asleep at 0, which a scale-up alert wakes) that is a move up, and made.
                let asleep = labels.zero && current == 0;
                let floor = if asleep {
                    labels.clamp_awake(labels.min)
                } else {
                    labels.min
                };
                if current < floor {
                    return Ok(Proposal {
                        desired: floor,
                        explain: format!(
                            "{} {kind}: factor {} adds no step, but {current} is below min {floor}",
                            signal.alertname, labels.factor
                        ),
                        same: Why::AtMin,
                        idle_since: None,
                    });
                }
                return Err(Decision::unchanged(
                    Why::NoStep,
                    format!("factor {} disables scaling up", labels.factor),
                ));
            }
            Ok(Proposal {
                desired: labels.clamp(current.saturating_add(step)),
                explain: format!(
                    "{} {kind}: step ceil({} × {}%) = {step} (max {})",
                    signal.alertname, base, labels.factor, labels.max
                ),
                same: Why::AtMax,
                idle_since: None,
            })
        }
        Trigger::Down { signal } => Ok(down_to_min(labels, signal)),
        Trigger::Hold(hold) => Err(super::hold_decision(hold)),
    }
}

/// CE's step size, computed exactly as the gateway does (float64 `max / 100 * factor`, then ceil),
/// which differs from integer ceiling for some pairs (max 14, factor 50 → 8).
pub fn step(max: u32, factor: u32) -> u32 {
    (f64::from(max) / 100.0 * f64::from(factor)).ceil() as u32
}

/// OpenFaaS CE's `CalculateReplicas`, verbatim in behaviour: the reference the policy is tested against.
/// Note that CE answers `min` to a firing alert when the step is 0; alertscaler's policy instead
/// treats factor 0 as "scaling up disabled" and moves nothing, except up to min from below it.
pub(crate) fn ce_calculate_replicas(
    firing: bool,
    current: u32,
    max: u32,
    min: u32,
    factor: u32,
) -> u32 {
    let step = step(max, factor);
    if firing && step > 0 {
        current.saturating_add(step).min(max)
    } else {
        min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ce_calculate_replicas_cases() {
        // OpenFaaS CE's own CalculateReplicas table (status, current, max, min, factor → want),
        // with CE's max cap of 5 already applied to the max column.
        let cases = [
            (true, 1, 5, 1, 0, 1),
            (true, 1, 5, 0, 0, 0),
            (true, 5, 5, 5, 10, 5),
            (true, 1, 5, 1, 100, 5), // max 10 capped to 5
            (true, 1, 5, 1, 10, 2),
            (true, 4, 5, 1, 25, 5),
            (true, 5, 5, 1, 10, 5),
            (true, 19, 5, 1, 10, 5),
            (false, 8, 5, 1, 10, 1),
            // Older defaults (max 20, factor 20).
            (true, 1, 20, 1, 20, 5),
            (true, 4, 20, 1, 20, 8),
            (true, 19, 20, 1, 20, 20),
            (true, 20, 20, 1, 20, 20),
            (false, 8, 20, 1, 20, 1),
        ];
        for (firing, current, max, min, factor, want) in cases {
            let got = ce_calculate_replicas(firing, current, max, min, factor);
            assert_eq!(
                got, want,
                "firing={firing} current={current} max={max} min={min} factor={factor}"
            );
        }
        // CE cases that only assert growth.
        assert!(ce_calculate_replicas(true, 1, 5, 1, 30) > 1);
        assert!(ce_calculate_replicas(true, 1, 4, 1, 1) > 1);
    }

    #[test]
    fn step_uses_float_arithmetic_like_the_gateway() {
        assert_eq!(step(14, 50), 8);
        assert_eq!(step(20, 20), 4);
        assert_eq!(step(5, 10), 1);
        assert_eq!(step(5, 0), 0);
        assert_eq!(step(100, 100), 100);
    }
}
