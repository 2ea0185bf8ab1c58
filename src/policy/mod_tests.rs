use super::testkit::*;
use super::*;
use crate::stored::Stored;

fn rate_up() -> Trigger {
    up("APIHighInvocationRate", None, None)
}

fn rate_down() -> Trigger {
    resolved("APIHighInvocationRate", None)
}

#[test]
fn agrees_with_ce_wherever_ce_moves_replicas() {
    // With no recent recommendation the stabilization window holds nothing back, so the
    // default (stabilized) mode and CE agree; `ce` mode must agree always.
    let ce_mode = PolicyConfig {
        scale_down: ScaleDown::Ce,
        ..Default::default()
    };
    for current in 0..=25 {
        for (min, max, factor) in [(1, 20, 20), (1, 5, 10), (2, 14, 50), (1, 5, 100), (3, 9, 1)] {
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
                simple(&l, current, &rate_up()).target(),
                want_up,
                "up {current} {l:?}"
            );
            assert_eq!(
                simple(&l, current, &rate_down()).target(),
                want_down,
                "down {current} {l:?}"
            );
            // CE mode ignores a recent high recommendation.
            let recent = history(&[(990, max)]);
            let (d, _) = run(&l, current, &rate_down(), &recent, None, 1000, &ce_mode);
            assert_eq!(d.target(), want_down, "ce down {current} {l:?}");
        }
    }
}

/// Where CE moves replicas on a firing alert, alertscaler moves them to the same count except for
/// its two deliberate differences: never below min (CE adds its step to a count below min and may
/// stay below it), and factor 0 moves nothing down (CE answers min, a scale-down) — label sets that
/// include factor 0 and a min above CE's first step.
#[test]
fn differs_from_ce_only_where_the_doc_says() {
    for current in 0..=25 {
        for (min, max, factor) in [(1, 20, 0), (2, 14, 0), (5, 20, 10), (4, 9, 1)] {
            let l = labels(min, max, factor);
            let ce = step::ce_calculate_replicas(true, current, max, min, factor);
            if ce == current {
                continue;
            }
            let d = simple(&l, current, &rate_up());
            if factor == 0 && current > min {
                assert_eq!(why(&d), Some(Why::NoStep), "up {current} {l:?}: {d:?}");
            } else {
                assert_eq!(d.target(), Some(ce.max(min)), "up {current} {l:?}: {d:?}");
            }
        }
    }
}

#[test]
fn table() {
    type Case = (ScaleLabels, u32, Trigger, Option<u32>, Option<Why>);
    let cases: &[Case] = &[
        (labels(1, 20, 20), 1, rate_up(), Some(5), None),
        (labels(1, 20, 20), 20, rate_up(), None, Some(Why::AtMax)),
        (labels(1, 20, 0), 3, rate_up(), None, Some(Why::NoStep)),
        (labels(2, 2, 20), 1, rate_up(), None, Some(Why::Disabled)),
        (labels(1, 1, 20), 1, rate_down(), None, Some(Why::Disabled)),
        (labels(1, 20, 20), 1, rate_down(), None, Some(Why::AtMin)),
        (labels(1, 20, 20), 8, rate_down(), Some(1), None),
        (labels(3, 20, 20), 0, rate_up(), Some(4), None),
        (labels(1, 10, 20), 15, rate_up(), Some(10), None),
        // A firing down-alert of the step policy: desired = min.
        (
            labels(1, 20, 20),
            8,
            down("APIInvocationRateLow", None, None),
            Some(1),
            None,
        ),
        // An explicit scale_policy=step is the same policy.
        (
            labels(1, 20, 20),
            1,
            up("APIHighInvocationRate", Some("step"), None),
            Some(5),
            None,
        ),
    ];
    for (l, current, trigger, to, why) in cases {
        let d = simple(l, *current, trigger);
        assert_eq!(d.target(), *to, "{l:?} {current} → {d:?}");
        if let Some(w) = why {
            assert_eq!(super::testkit::why(&d), Some(*w), "{d:?}");
        }
    }
}

#[test]
fn configured_default_policy_applies_to_alerts_without_scale_policy() {
    let mut l = labels(1, 20, 20);
    l.policy.target = Some(10.0);
    let config = PolicyConfig {
        default: PolicyKind::Proportional,
        ..Default::default()
    };
    // 90 / (10 × 0.9) = 10 replicas, from 5 (not panic: 90 < 2 × 50) and ≤ ×2.
    let trigger = up("APIHighInvocationRate", None, Some("90"));
    let (d, _) = run(&l, 5, &trigger, &Stored::default(), None, 0, &config);
    assert_eq!(d.target(), Some(10), "{d:?}");
    // Step when the default is step.
    assert_eq!(simple(&l, 5, &trigger).target(), Some(9));
}

#[test]
fn reasons_carry_the_numbers() {
    let Decision::Scale { reason, .. } = simple(&labels(1, 20, 20), 1, &rate_up()) else {
        panic!()
    };
    assert!(
        reason.contains("step ceil(20 × 20%) = 4") && reason.contains("1 → 5"),
        "{reason}"
    );
}

#[test]
fn a_pinned_function_that_slept_wakes_to_its_min() {
    // min = max disables autoscaling, but a zero=true function may sleep, and must wake again.
    let l = sleepy(2, 2);
    let idle = down("FunctionIdle", Some("zero"), Some("0"));
    assert_eq!(simple(&l, 2, &idle).target(), Some(0));
    for wake in [
        up("APIHighInvocationRate", None, None),
        up("FunctionLatencyHigh", Some("latency"), Some("0.8")),
        up("FunctionUnderProvisioned", Some("capacity"), None),
    ] {
        let wake = with_desired(wake, "3");
        let d = simple(&l, 0, &wake);
        assert_eq!(d.target(), Some(2), "{d:?}");
        // Awake, it stays pinned.
        assert_eq!(why(&simple(&l, 2, &wake)), Some(Why::Disabled));
    }
}

#[test]
fn proportional_never_rate_limits_below_min() {
    // min raised to 10 while the function ran at 1: the clamp says 10, the rate limit (max(×2, +4) = 5)
    // must not undo it.
    let mut l = labels(10, 50, 20);
    l.policy.target = Some(10.0);
    let d = simple(
        &l,
        1,
        &up("APIHighInvocationRate", Some("proportional"), Some("15")),
    );
    assert_eq!(d.target(), Some(10), "{d:?}");
}

#[test]
fn a_min_of_zero_does_not_let_latency_or_capacity_put_a_serving_function_to_sleep() {
    // min 0 is accepted for CE's step (resolved → 0); scale to zero stays with the zero policy.
    let l = labels(0, 20, 20);
    let low = down("FunctionLatencyLow", Some("latency"), Some("0.05"));
    assert_eq!(simple(&l, 1, &low).target(), None, "stays at 1");
    let over = with_desired(down("FunctionOverProvisioned", Some("capacity"), None), "0");
    assert_eq!(simple(&l, 3, &over).target(), Some(1));
    // The step policy keeps CE's resolved → min (0).
    let resolved = resolved("APIHighInvocationRate", None);
    assert_eq!(simple(&l, 3, &resolved).target(), Some(0));
}

/// A function asleep (`zero=true`, at 0) is never woken by a scale-down trigger, whatever the policy
/// but zero, pinned or not; an up trigger wakes it. Each of these triggers does bring a function at 0
/// with `zero=false` to its min or more (as CE's resolution does): that is the wake the rule prevents.
#[test]
fn a_scale_down_trigger_never_wakes_a_sleeping_function() {
    let over = |desired| {
        with_desired(
            down("FunctionOverProvisioned", Some("capacity"), None),
            desired,
        )
    };
    let triggers = [
        resolved("APIHighInvocationRate", None),
        over("0"),
        over("3"),
        resolved("HighLoad", Some("proportional")),
    ];
    for (min, max) in [(2, 20), (1, 20), (2, 2)] {
        let awake = labels(min, max, 20);
        let asleep = sleepy(min, max);
        for trigger in &triggers {
            if min < max {
                let to = simple(&awake, 0, trigger).target();
                assert!(
                    to.is_some_and(|n| n >= min),
                    "zero=false [{min}, {max}] {trigger:?}: {to:?}"
                );
            }
            let d = simple(&asleep, 0, trigger);
            assert_eq!(
                why(&d),
                Some(Why::Asleep),
                "[{min}, {max}] {trigger:?}: {d:?}"
            );
        }
        let woken = simple(&asleep, 0, &rate_up()).target();
        assert!(woken.is_some_and(|n| n >= min), "[{min}, {max}]: {woken:?}");
    }
}

#[test]
fn a_scale_down_alert_that_ended_withdraws_its_held_scale_down() {
    // FunctionIdle's sleep was held back by the window (a count of 3 recorded 100 s ago); then
    // FunctionIdle resolves (traffic is back; the ledger makes its resolution a DownEnded hold). The
    // settle pass must not finish the sleep afterwards.
    let config = PolicyConfig::default();
    let z = sleepy(1, 20);
    let entry = held_sleep(&[(900, 3)]);
    let ended = Trigger::Hold(Hold::DownEnded);
    let (d, next) = run(&z, 3, &ended, &entry, None, 1000, &config);
    assert_eq!(why(&d), Some(Why::DownEnded));
    assert_eq!(next.window.pending, None);
    assert_eq!(next.window.recommendations, entry.window.recommendations);
    assert!(settle(&z, 3, &next, t(1300), &config).is_none());
    // Other holds keep it: a duplicate of the idle alert changes nothing.
    let duplicate = Trigger::Hold(Hold::Duplicate { ago_secs: 5 });
    let (_, next) = run(&z, 3, &duplicate, &entry, None, 1000, &config);
    assert_eq!(next.window.pending, Some(0));
}

/// Factor 0 disables stepping up, but CE answers a firing alert with min: below min (a min raised
/// while the function ran lower, or a function asleep at 0) that is a move up, which CE makes and
/// which a sleeping function's next scale-up alert promises (woken to its min).
#[test]
fn factor_0_still_brings_a_function_below_min_up_to_it() {
    let flat = labels(2, 20, 0);
    assert_eq!(simple(&flat, 1, &rate_up()).target(), Some(2));
    assert_eq!(
        simple(&flat, 1, &rate_up()).target(),
        Some(step::ce_calculate_replicas(true, 1, 20, 2, 0))
    );
    assert_eq!(why(&simple(&flat, 2, &rate_up())), Some(Why::NoStep));
    assert_eq!(why(&simple(&flat, 5, &rate_up())), Some(Why::NoStep));
    for (min, max) in [(1, 20), (2, 2), (0, 20)] {
        let asleep = ScaleLabels {
            factor: 0,
            ..sleepy(min, max)
        };
        let d = simple(&asleep, 0, &rate_up());
        assert_eq!(d.target(), Some(min.max(1)), "[{min}, {max}]: {d:?}");
    }
}

/// The latency hold keeps a serving function from flapping; a function at 0 serves nothing. Put to
/// sleep (a scale-down) a minute ago, a high-latency alert must wake it to its min, not wait out
/// the hold at 0.
#[test]
fn the_latency_hold_does_not_keep_a_sleeping_function_asleep() {
    let high = up("FunctionLatencyHigh", Some("latency"), Some("0.8"));
    let slept = Stored {
        ledger: crate::ledger::Entry {
            scaled_down: Some(t(940)),
            ..Default::default()
        },
        ..Stored::default()
    };
    for (min, max) in [(1, 20), (2, 20), (0, 20), (2, 2)] {
        let asleep = sleepy(min, max);
        let (d, _) = run(
            &asleep,
            0,
            &high,
            &slept,
            None,
            1000,
            &PolicyConfig::default(),
        );
        assert_eq!(d.target(), Some(min.max(1)), "[{min}, {max}]: {d:?}");
    }
    // Awake, the hold still applies.
    let (d, _) = run(
        &sleepy(1, 20),
        3,
        &high,
        &slept,
        None,
        1000,
        &PolicyConfig::default(),
    );
    assert_eq!(why(&d), Some(Why::OppositeHold), "{d:?}");
}

/// A max of 0 (with min 0) keeps a function off: no wake of any policy takes it above its max.
#[test]
fn a_function_whose_max_is_0_is_never_woken_above_it() {
    let off = sleepy(0, 0);
    for wake in [
        up("APIHighInvocationRate", None, None),
        up("FunctionLatencyHigh", Some("latency"), Some("0.8")),
        up("FunctionUnderProvisioned", Some("capacity"), None),
        up("FunctionWake", Some("zero"), None),
    ] {
        let wake = with_desired(wake, "3");
        let d = simple(&off, 0, &wake);
        assert_eq!(d.target(), None, "{d:?}");
    }
}

/// As latency and capacity, proportional sizes a serving function: the resolution of its up alert
/// goes to min, but a min of 0 (accepted for CE's step) stops it at 1; sleeping is the zero policy's.
#[test]
fn a_min_of_zero_does_not_let_a_proportional_resolution_put_a_function_to_sleep() {
    let mut l = labels(0, 20, 20);
    l.policy.target = Some(10.0);
    let resolved = resolved("HighLoad", Some("proportional"));
    assert_eq!(simple(&l, 3, &resolved).target(), Some(1));
    assert_eq!(why(&simple(&l, 1, &resolved)), Some(Why::AtMin));
    // …and a resolution wakes nothing at 0.
    assert_eq!(simple(&l, 0, &resolved).target(), None);
    let d = simple(&l, 3, &resolved);
    assert!(d.reason().contains("clamped to [1, 20] = 1"), "{d:?}");
}

/// Every `why` the code can give, in declaration order. The exhaustive `match` stops compiling when
/// a variant is added, until it is listed here (and so checked against the README below).
fn every_why() -> Vec<Why> {
    use Why::*;
    let all = [
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
        Tolerance,
        Stabilizing,
        OppositeHold,
        NoZero,
        IdleTooShort,
        InBand,
        Asleep,
        DryRun,
    ];
    for (i, why) in all.iter().enumerate() {
        let position = match why {
            Duplicate => 0,
            Cooldown => 1,
            Disabled => 2,
            AtMax => 3,
            AtMin => 4,
            StillFiring => 5,
            Stale => 6,
            Replay => 7,
            NoStep => 8,
            DownEnded => 9,
            Tolerance => 10,
            Stabilizing => 11,
            OppositeHold => 12,
            NoZero => 13,
            IdleTooShort => 14,
            InBand => 15,
            Asleep => 16,
            DryRun => 17,
        };
        assert_eq!(position, i, "{why:?} listed once, in order");
    }
    all.to_vec()
}

#[test]
fn the_readme_lists_exactly_the_whys_the_code_can_give_as_it_serialises_them() {
    let readme = include_str!("../../README.md");
    // "`unchanged` (with `why`: `duplicate`, …, `asleep`), `refused` (…"
    let start = readme
        .find("`unchanged` (with `why`:")
        .expect("README describes `unchanged` and its `why`");
    let listed = &readme[start..];
    let listed = &listed["`unchanged` (with `why`:".len()..listed.find("), `refused`").unwrap()];
    let mut documented: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    documented.sort_unstable();
    let mut given: Vec<String> = every_why()
        .into_iter()
        .map(|why| {
            let json = serde_json::to_value(why).unwrap();
            assert_eq!(json, why.as_str(), "serde and as_str agree for {why:?}");
            why.as_str().to_owned()
        })
        .collect();
    given.sort_unstable();
    assert_eq!(documented, given);
}
