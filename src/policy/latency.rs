//! Latency band policy (the latency watch-tower idea).
//!
//! A firing up-direction alert (`FunctionLatencyHigh`) adds ceil(current × up% / 100) replicas,
//! at least 1; a firing down-direction alert (`FunctionLatencyLow`) removes
//! floor(current × down% / 100), at least 1; both clamped to [min, max]. No move opposite to the
//! last one within the hold window (label `com.openfaas.scale.latency-hold-secs`, else
//! `policy.latency_hold_secs`), judged from when the replicas last went up or down (the ledger's
//! `scaled_up` / `scaled_down`, whatever moved them; not when an alert was last acted on): a move
//! the wanted way since the opposite one ends the hold. A high-latency
//! alert that resolves moves nothing: latency is back within the band.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Decision, Input, PolicyConfig, Proposal, Why};
use crate::alert::Status;
use crate::ledger::Trigger;

/// The latency policy's proposal.
pub(crate) fn propose(input: &Input<'_>, config: &PolicyConfig) -> Result<Proposal, Decision> {
    let (labels, current, now) = (input.labels, input.current, input.now);
    let hold = labels
        .policy
        .latency_hold
        .unwrap_or_else(|| config.latency_hold());
    match input.trigger {
        Trigger::Hold(hold) => Err(super::hold_decision(hold)),
        Trigger::Up { signal, .. } => {
            // The hold keeps a serving function from flapping; at 0 (asleep: the sleep was a
            // scale-down) it serves nothing, and a wake is never held.
            let serving = current > 0;
            let last_down = last(input.ledger.scaled_down, input.ledger.scaled_up);
            if let Some(ago) = within(last_down, now, hold).filter(|_| serving) {
                return Err(held(&signal.alertname, "down", "up", ago, hold));
            }
            let pct = labels.policy.latency_up_percent;
            let step = percent_of(current, pct, true).max(1);
            let raw = current.saturating_add(step);
            let desired = labels.clamp(raw);
            Ok(Proposal {
                desired,
                explain: format!(
                    "{} firing: up {pct}% of {current} = +{step} (at least 1) → {raw}{}",
                    signal.alertname,
                    super::clamp_note(labels, raw, desired)
                ),
                same: Why::AtMax,
                idle_since: None,
            })
        }
        Trigger::Down { signal } if signal.status == Status::Firing => {
            let last_up = last(input.ledger.scaled_up, input.ledger.scaled_down);
            if let Some(ago) = within(last_up, now, hold) {
                return Err(held(&signal.alertname, "up", "down", ago, hold));
            }
            let pct = labels.policy.latency_down_percent;
            let step = percent_of(current, pct, false).max(1);
            let raw = current.saturating_sub(step);
            let desired = labels.clamp_awake(raw);
            Ok(Proposal {
                desired,
                explain: format!(
                    "{} firing: down {pct}% of {current} = -{step} (at least 1) → {raw}{}",
                    signal.alertname,
                    super::clamp_note(labels, raw, desired)
                ),
                same: Why::AtMin,
                idle_since: None,
            })
        }
        Trigger::Down { signal } => Err(Decision::unchanged(
            Why::InBand,
            format!(
                "{} resolved: latency is back within the band; scaling down is left to the low-latency alert",
                signal.alertname
            ),
        )),
    }
}

/// `current × pct / 100`, rounded up or down, without overflow.
fn percent_of(current: u32, pct: u32, round_up: bool) -> u32 {
    let product = u64::from(current) * u64::from(pct);
    let v = if round_up {
        product.div_ceil(100)
    } else {
        product / 100
    };
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The opposite move, when it is the last move of the replicas: once they went the wanted way since
/// (another policy's alert, the settle pass), the flap the hold guards against is over, and holding
/// on would only delay the move (a scale-up after a capacity scale-up, while latency is still high).
/// Two moves stamped alike count as opposite.
fn last(opposite: Option<DateTime<Utc>>, same: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    opposite.filter(|o| same.is_none_or(|s| s <= *o))
}

/// How long ago the last opposite move was, when it is within `hold`. One stamped after `now` (a
/// decision that read its clock earlier, or another replica whose clock is behind) is within it, as
/// the stabilization window and the ledger's cooldown count it; a hold of zero holds nothing.
fn within(last: Option<DateTime<Utc>>, now: DateTime<Utc>, hold: TimeDelta) -> Option<TimeDelta> {
    if hold <= TimeDelta::zero() {
        return None;
    }
    last.map(|t| (now - t).max(TimeDelta::zero()))
        .filter(|ago| *ago < hold)
}

fn held(alertname: &str, last: &str, wanted: &str, ago: TimeDelta, hold: TimeDelta) -> Decision {
    Decision::unchanged(
        Why::OppositeHold,
        format!(
            "{alertname} firing, but the function scaled {last} {}s ago: no scale-{wanted} within the latency hold of {}s",
            ago.num_seconds(),
            hold.num_seconds()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::labels::ScaleLabels;
    use crate::ledger::Entry;
    use crate::stored::Stored;

    fn high() -> Trigger {
        up("FunctionLatencyHigh", Some("latency"), Some("0.8"))
    }

    fn low() -> Trigger {
        down("FunctionLatencyLow", Some("latency"), Some("0.05"))
    }

    fn entry(scaled_up: Option<i64>, scaled_down: Option<i64>) -> Stored {
        let ledger = Entry {
            scaled_up: scaled_up.map(t),
            scaled_down: scaled_down.map(t),
            ..Entry::default()
        };
        Stored {
            ledger,
            ..Stored::default()
        }
    }

    #[test]
    fn table() {
        let ce = PolicyConfig {
            scale_down: crate::policy::ScaleDown::Ce,
            ..Default::default()
        };
        let mut custom = labels(1, 40, 20);
        custom.policy.latency_up_percent = 100;
        custom.policy.latency_down_percent = 50;
        custom.policy.latency_hold = Some(TimeDelta::seconds(30));
        // (labels, current, trigger, entry, now, want target, want why)
        type Case = (
            ScaleLabels,
            u32,
            Trigger,
            Stored,
            i64,
            Option<u32>,
            Option<Why>,
        );
        let none = || entry(None, None);
        let cases: Vec<Case> = vec![
            // +50% of 4 = 2.
            (labels(1, 20, 20), 4, high(), none(), 1000, Some(6), None),
            // +50% of 3 = 1.5 → 2 (rounded up).
            (labels(1, 20, 20), 3, high(), none(), 1000, Some(5), None),
            // At least 1: 50% of 1 = 0.5 → 1.
            (labels(1, 20, 20), 1, high(), none(), 1000, Some(2), None),
            // From 0 (after scale to zero): at least min.
            (labels(2, 20, 20), 0, high(), none(), 1000, Some(2), None),
            // Clamp to max.
            (labels(1, 20, 20), 18, high(), none(), 1000, Some(20), None),
            (
                labels(1, 20, 20),
                20,
                high(),
                none(),
                1000,
                None,
                Some(Why::AtMax),
            ),
            // -25% of 8 = 2.
            (labels(1, 20, 20), 8, low(), none(), 1000, Some(6), None),
            // -25% of 3 = 0.75 → at least 1.
            (labels(1, 20, 20), 3, low(), none(), 1000, Some(2), None),
            // Clamp to min.
            (
                labels(2, 20, 20),
                2,
                low(),
                none(),
                1000,
                None,
                Some(Why::AtMin),
            ),
            // Labels: +100%, -50%.
            (custom, 5, high(), none(), 1000, Some(10), None),
            (custom, 10, low(), none(), 1000, Some(5), None),
            // Hold: scaled up 100 s ago (default hold 300 s) → no scale-down.
            (
                labels(1, 20, 20),
                8,
                low(),
                entry(Some(900), None),
                1000,
                None,
                Some(Why::OppositeHold),
            ),
            // …but after the hold it moves.
            (
                labels(1, 20, 20),
                8,
                low(),
                entry(Some(600), None),
                1000,
                Some(6),
                None,
            ),
            // Scaled down 10 s ago → no scale-up; custom hold 30 s: 40 s ago → moves.
            (
                labels(1, 20, 20),
                4,
                high(),
                entry(None, Some(990)),
                1000,
                None,
                Some(Why::OppositeHold),
            ),
            (
                custom,
                4,
                high(),
                entry(None, Some(960)),
                1000,
                Some(8),
                None,
            ),
            // The hold ends when it has lasted its length: scaled up exactly 300 s ago → moves.
            (
                labels(1, 20, 20),
                8,
                low(),
                entry(Some(700), None),
                1000,
                Some(6),
                None,
            ),
            // A hold label of 0 holds nothing: scaled down 1 s ago, high latency still scales up.
            (
                ScaleLabels {
                    policy: crate::labels::PolicyLabels {
                        latency_hold: Some(TimeDelta::zero()),
                        ..Default::default()
                    },
                    ..labels(1, 20, 20)
                },
                4,
                high(),
                entry(None, Some(999)),
                1000,
                Some(6),
                None,
            ),
            // Same-direction history does not hold (the ledger's cooldown handles that).
            (
                labels(1, 20, 20),
                4,
                high(),
                entry(Some(990), None),
                1000,
                Some(6),
                None,
            ),
            // High latency resolved → nothing to move.
            (
                labels(1, 20, 20),
                8,
                resolved("FunctionLatencyHigh", Some("latency")),
                none(),
                1000,
                None,
                Some(Why::InBand),
            ),
        ];
        for (labels, current, trigger, entry, now, to, why) in &cases {
            let (d, _) = run(labels, *current, trigger, entry, None, *now, &ce);
            assert_eq!(d.target(), *to, "{current} {trigger:?} {entry:?} → {d:?}");
            if let Some(w) = why {
                assert_eq!(super::super::testkit::why(&d), Some(*w), "{d:?}");
            }
        }
    }

    /// The hold stops a move opposite to the last one: once the replicas went the same way since
    /// (another policy, the settle pass), the opposite move's hold no longer applies.
    #[test]
    fn the_hold_is_against_the_last_move() {
        // (scaled up at, scaled down at, trigger, current, want target, want why)
        type Case = (i64, i64, Trigger, u32, Option<u32>, Option<Why>);
        let cases: [Case; 4] = [
            // Down at 950, up again at 990 (a capacity alert): high latency scales up further.
            (990, 950, high(), 4, Some(6), None),
            // Up at 950, down at 990: low latency scales down further.
            (950, 990, low(), 8, Some(6), None),
            // The last move was the opposite one: held.
            (950, 990, high(), 4, None, Some(Why::OppositeHold)),
            (990, 950, low(), 8, None, Some(Why::OppositeHold)),
        ];
        let ce = PolicyConfig {
            scale_down: crate::policy::ScaleDown::Ce,
            ..Default::default()
        };
        for (up_at, down_at, trigger, current, to, why) in cases {
            let e = entry(Some(up_at), Some(down_at));
            let (d, _) = run(&labels(1, 20, 20), current, &trigger, &e, None, 1000, &ce);
            assert_eq!(
                d.target(),
                to,
                "up {up_at} down {down_at} {trigger:?}: {d:?}"
            );
            assert_eq!(super::super::testkit::why(&d), why, "{d:?}");
        }
    }

    #[test]
    fn reason_carries_the_numbers() {
        let d = simple(&labels(1, 5, 20), 4, &high());
        assert!(
            d.reason()
                .contains("up 50% of 4 = +2 (at least 1) → 6, clamped to [1, 5] = 5")
                && d.reason().contains("4 → 5"),
            "{d:?}"
        );
    }
}
