use super::super::testkit::*;
use super::*;
use crate::labels::ScaleLabels;
use crate::stored::Stored;

fn l(min: u32, max: u32, target: f64) -> ScaleLabels {
    let mut l = labels(min, max, 20);
    l.policy.target = Some(target);
    l
}

fn rate(value: &str) -> Trigger {
    up("APIHighInvocationRate", Some("proportional"), Some(value))
}

fn low(value: &str) -> Trigger {
    down("APIInvocationRateLow", Some("proportional"), Some(value))
}

#[test]
fn table() {
    // (labels, current, trigger, want target, want why)
    type Case = (ScaleLabels, u32, Trigger, Option<u32>, Option<Why>);
    let cases: Vec<Case> = vec![
        // 45 / (10 × 0.9) = 5 → from 4: +1 (no rate limit hit).
        (l(1, 20, 10.0), 4, rate("45"), Some(5), None),
        // ceil(46 / 9) = 6.
        (l(1, 20, 10.0), 4, rate("46"), Some(6), None),
        // Within tolerance of 5 × 9 = 45: 46 / 45 = 1.02 → unchanged although ceil says 6.
        (l(1, 20, 10.0), 5, rate("46"), None, Some(Why::Tolerance)),
        // Tolerance: 4 × 9 = 36 capacity, 38 / 36 = 1.06 → unchanged (formula says 5).
        (l(1, 20, 10.0), 4, rate("38"), None, Some(Why::Tolerance)),
        // Just outside tolerance: 40 / 36 = 1.11 → 5.
        (l(1, 20, 10.0), 4, rate("40"), Some(5), None),
        // Below, within tolerance: 20 × 9 = 180, 171 / 180 = 0.95 → unchanged (formula: 19).
        (l(1, 50, 10.0), 20, low("171"), None, Some(Why::Tolerance)),
        // Below, outside tolerance: 160 / 180 = 0.89 → ceil(17.8) = 18.
        (l(1, 50, 10.0), 20, low("160"), Some(18), None),
        // Scale down: 18 / 9 = 2 from 8 (no history → no stabilization hold).
        (l(1, 20, 10.0), 8, low("18"), Some(2), None),
        // Clamp to max: 900 / 9 = 100 → max 20 (panic: 900 ≥ 2 × capacity 100).
        (l(1, 20, 10.0), 10, rate("900"), Some(20), None),
        // Clamp to min: load 0 → min 3.
        (l(3, 20, 10.0), 8, low("0"), Some(3), None),
        // At max already.
        (l(1, 20, 10.0), 20, rate("500"), None, Some(Why::AtMax)),
        // Panic: capacity 10 × 10 = 100, load 270 ≥ 200 → straight to 30 (limit would be 20).
        (l(1, 50, 10.0), 10, rate("270"), Some(30), None),
        // Rate limit without panic: current 10, capacity 100, load 190 → 22 wanted, limit
        // max(20, 14) = 20.
        (l(1, 50, 10.0), 10, rate("190"), Some(20), None),
        // Small counts: +4 beats ×2: current 1, capacity 10, load 19 → 3 wanted, limit 5 → 3.
        (l(1, 50, 10.0), 1, rate("19"), Some(3), None),
        // Panic from 2: capacity 20, load 100 → straight to ceil(100 / 9) = 12 (limit: 6).
        (l(1, 50, 10.0), 2, rate("100"), Some(12), None),
        // Just below panic: load 39 < 40 → ceil(39 / 9) = 5, limit max(4, 6) = 6 → 5.
        (l(1, 50, 10.0), 2, rate("39"), Some(5), None),
        // A min of 0 is not a way to zero: load 0 on a down alert → 1.
        (l(0, 20, 10.0), 4, low("0"), Some(1), None),
        // …and at 1 already it is at its floor.
        (l(0, 20, 10.0), 1, low("0"), None, Some(Why::AtMin)),
        (l(0, 20, 10.0), 1, rate("0"), None, Some(Why::AtMin)),
        // The alert's direction bounds the move. A down alert whose load asks for more (90 / 9
        // = 10 from 4) holds; so does an up alert whose load asks for fewer (18 / 9 = 2 from 8)…
        (l(1, 20, 10.0), 4, low("90"), None, Some(Why::InBand)),
        (l(1, 20, 10.0), 8, rate("18"), None, Some(Why::InBand)),
        // …also when the count they ask for is only the clamp's (load 0 on an up alert from 4).
        (l(0, 20, 10.0), 4, rate("0"), None, Some(Why::InBand)),
        // A down alert wakes nothing at 0 (min 0, no zero label)…
        (l(0, 20, 10.0), 0, low("50"), None, Some(Why::InBand)),
        // …but the bounds still win: an up alert above max goes down to max, a down alert
        // below min up to min (not to the load's 10).
        (l(1, 5, 10.0), 8, rate("18"), Some(5), None),
        (l(3, 20, 10.0), 1, low("90"), Some(3), None),
        // From zero: capacity 0 → panic; at least min.
        (l(2, 50, 10.0), 0, rate("1"), Some(2), None),
        // From zero the panic always applies, so the rate limit (max(0 × 2, 0 + 4) = 4) does
        // not: ceil(100 / 9) = 12 at once.
        (l(1, 50, 10.0), 0, rate("100"), Some(12), None),
        // The panic threshold is inclusive: load 200 = 2 × capacity 100 → ceil(200 / 9) = 23,
        // not the limit max(20, 14) = 20.
        (l(1, 50, 10.0), 10, rate("200"), Some(23), None),
        // Tolerance only applies within [min, max]: at 8 above a max of 5, a load of exactly the
        // current capacity (8 × 9 = 72) still brings it down to max.
        (l(1, 5, 10.0), 8, low("72"), Some(5), None),
        // Resolved → min.
        (
            l(1, 20, 10.0),
            6,
            resolved("APIHighInvocationRate", Some("proportional")),
            Some(1),
            None,
        ),
    ];
    for (labels, current, trigger, to, why) in &cases {
        let d = simple(labels, *current, trigger);
        assert_eq!(d.target(), *to, "{current} {trigger:?} → {d:?}");
        if let Some(w) = why {
            assert_eq!(super::super::testkit::why(&d), Some(*w), "{d:?}");
        }
    }
}

#[test]
fn rate_limit_without_panic_uses_factor_label_and_step() {
    // current 10, capacity 100, load 190 → wants 22; factor label 1.5 → max(15, 14) = 15.
    let mut labels = l(1, 50, 10.0);
    labels.policy.max_up_factor = Some(1.5);
    let d = simple(&labels, 10, &rate("190"));
    assert_eq!(d.target(), Some(15), "{d:?}");
    assert!(
        d.reason().contains("rate-limited to max(×1.5, +4) = 15"),
        "{d:?}"
    );
    // A larger configured step wins over the factor.
    let config = PolicyConfig {
        max_scale_up_step: 10,
        ..Default::default()
    };
    let (d, _) = run(
        &labels,
        10,
        &rate("190"),
        &Stored::default(),
        None,
        0,
        &config,
    );
    assert_eq!(d.target(), Some(20), "{d:?}");
}

#[test]
fn the_tolerance_band_includes_both_edges() {
    // |load / (current × effective) − 1| ≤ tolerance: capacity 10 × 9 = 90, so 81 (−10 %) and
    // 99 (+10 %) stay, 80 and 100 move; likewise at 20 % with effective 10 × 1.0 = 10 per replica.
    let edges =
        |labels: &ScaleLabels, tolerance: f64, current: u32, stay: [&str; 2], moves: [&str; 2]| {
            let config = PolicyConfig {
                tolerance,
                ..Default::default()
            };
            // Below the band a down alert moves (an up alert never scales down), above it an up
            // alert.
            let decide = |load: &str, below: bool| {
                run(
                    labels,
                    current,
                    &if below { low(load) } else { rate(load) },
                    &Stored::default(),
                    None,
                    0,
                    &config,
                )
                .0
            };
            for (load, below) in stay.into_iter().zip([true, false]) {
                let d = decide(load, below);
                assert_eq!(why(&d), Some(Why::Tolerance), "load {load}: {d:?}");
            }
            for (load, below) in moves.into_iter().zip([true, false]) {
                let d = decide(load, below);
                assert!(d.target().is_some(), "load {load}: {d:?}");
            }
        };
    edges(&l(1, 50, 10.0), 0.1, 10, ["81", "99"], ["80", "100"]);
    let mut whole = l(1, 50, 10.0);
    whole.policy.target_proportion = 1.0;
    edges(&whole, 0.2, 7, ["56", "84"], ["55", "85"]);
}

#[test]
fn without_the_factor_label_the_configured_factor_limits() {
    // current 10, capacity 100, load 190 → wants 22; `[policy] max_scale_up_factor = 1.5`
    // and no label → max(15, 14) = 15.
    let config = PolicyConfig {
        max_scale_up_factor: 1.5,
        ..Default::default()
    };
    let (d, _) = run(
        &l(1, 50, 10.0),
        10,
        &rate("190"),
        &Stored::default(),
        None,
        0,
        &config,
    );
    assert_eq!(d.target(), Some(15), "{d:?}");
}

#[test]
fn proportion_label_changes_the_effective_target() {
    let mut labels = l(1, 50, 10.0);
    labels.policy.target_proportion = 1.0;
    // 60 / 10 = 6 from 4 (capacity 40; 60 < 80 no panic; limit 8).
    assert_eq!(simple(&labels, 4, &rate("60")).target(), Some(6));
    labels.policy.target_proportion = 0.5;
    // 60 / 5 = 12, limit max(8, 8) = 8.
    assert_eq!(simple(&labels, 4, &rate("60")).target(), Some(8));
}

#[test]
fn measured_load_wins_over_the_annotation() {
    let measured = Load {
        value: 90.0,
        source: "prometheus",
    };
    let (d, _) = run(
        &l(1, 20, 10.0),
        5,
        &rate("not used"),
        &Stored::default(),
        Some(&measured),
        0,
        &PolicyConfig::default(),
    );
    assert_eq!(d.target(), Some(10), "{d:?}");
    assert!(d.reason().contains("(prometheus)"), "{d:?}");
}

#[test]
fn refusals_name_what_is_missing() {
    let cases: [(ScaleLabels, Trigger, &str); 4] = [
        (labels(1, 20, 20), rate("5"), TARGET),
        (
            l(1, 20, 10.0),
            up("APIHighInvocationRate", Some("proportional"), None),
            "annotation `value`",
        ),
        (l(1, 20, 10.0), rate("lots"), "\"lots\""),
        (l(1, 20, 10.0), rate("-1"), "\"-1\""),
    ];
    for (labels, trigger, needle) in cases {
        match simple(&labels, 3, &trigger) {
            Decision::Refused { reason } => assert!(reason.contains(needle), "{reason}"),
            other => panic!("expected refusal, got {other:?}"),
        }
    }
}

#[test]
fn a_hold_against_the_direction_says_why() {
    let d = simple(&l(1, 20, 10.0), 4, &low("90"));
    for needle in [
        "load 90 (annotation)",
        "ceil = 10",
        "above current 4: a down alert never scales up",
    ] {
        assert!(d.reason().contains(needle), "{needle:?} missing in {d:?}");
    }
    let d = simple(&l(1, 20, 10.0), 8, &rate("18"));
    assert!(
        d.reason()
            .contains("below current 8: an up alert never scales down"),
        "{d:?}"
    );
    // A measured load is bounded the same way.
    let measured = Load {
        value: 90.0,
        source: "prometheus",
    };
    let (d, _) = run(
        &l(1, 20, 10.0),
        4,
        &low("10"),
        &Stored::default(),
        Some(&measured),
        0,
        &PolicyConfig::default(),
    );
    assert_eq!(why(&d), Some(Why::InBand), "{d:?}");
}

#[test]
fn reason_carries_the_numbers() {
    let d = simple(&l(1, 5, 10.0), 2, &rate("90"));
    let r = d.reason();
    for needle in [
        "load 90 (annotation)",
        "target 10 × 0.9",
        "ceil = 10",
        "clamped to [1, 5] = 5",
        "panic",
        "2 → 5",
    ] {
        assert!(r.contains(needle), "{needle:?} missing in {r}");
    }
}
