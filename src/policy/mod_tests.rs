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
