use super::super::testkit::*;
use super::super::{Load, PolicyConfig, Why};
use super::*;
use crate::alert::{Direction, Status};
use crate::labels::{ScaleLabels, ScaleType};

const UNDER: &str = "FunctionUnderProvisioned";
const OVER: &str = "FunctionOverProvisioned";

/// A capacity alert with these annotations.
fn alert(name: &str, status: Status, notes: &[(&str, &str)]) -> Trigger {
    let direction = if name == UNDER {
        Direction::Up
    } else {
        Direction::Down
    };
    let mut signal = signal(name, status, direction, Some("capacity"), None);
    signal.annotations = notes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match (direction, status) {
        (Direction::Up, Status::Firing) => Trigger::Up {
            signal,
            repeat: false,
        },
        _ => Trigger::Down { signal },
    }
}

fn under(desired: &str) -> Trigger {
    alert(UNDER, Status::Firing, &[("desired", desired)])
}

fn over(desired: &str) -> Trigger {
    alert(OVER, Status::Firing, &[("desired", desired)])
}

fn measured(desired: f64) -> Load {
    Load {
        value: desired,
        source: "prometheus",
    }
}

/// Decide with no history and the default config (5 min stabilization), optionally measured.
fn decide(labels: &ScaleLabels, current: u32, trigger: &Trigger, load: Option<f64>) -> Decision {
    let load = load.map(measured);
    let config = PolicyConfig::default();
    run(
        labels,
        current,
        trigger,
        &crate::stored::Stored::default(),
        load.as_ref(),
        1000,
        &config,
    )
    .0
}

#[test]
fn table() {
    // (min, max, current, trigger, measured, want target, want why)
    type Case = (
        u32,
        u32,
        u32,
        Trigger,
        Option<f64>,
        Option<u32>,
        Option<Why>,
    );
    let cases: Vec<Case> = vec![
        // Up at once, in one move: 1 → 7.
        (1, 20, 1, under("7"), None, Some(7), None),
        // Clamped to max.
        (1, 5, 1, under("12"), None, Some(5), None),
        // Already at max.
        (1, 5, 5, under("12"), None, None, Some(Why::AtMax)),
        // Down proposed; with no history nothing holds it: 6 → 2.
        (1, 20, 6, over("2"), None, Some(2), None),
        // Desired 0 (no traffic) → min.
        (2, 20, 6, over("0"), None, Some(2), None),
        (2, 20, 2, over("0"), None, None, Some(Why::AtMin)),
        // With min 0 a serving function stops at 1: that is its floor here.
        (0, 20, 1, over("0"), None, None, Some(Why::AtMin)),
        // Equal → unchanged.
        (1, 20, 4, under("4"), None, None, Some(Why::Tolerance)),
        // A fractional count (a hand-written rule) rounds up.
        (1, 20, 1, under("2.2"), None, Some(3), None),
        // Measured wins over the annotation.
        (1, 20, 1, under("3"), Some(8.0), Some(8), None),
        (1, 20, 8, over("2"), Some(5.0), Some(5), None),
        // An up alert never scales down: not on its (stale) annotation, not on a measured count.
        (1, 20, 8, under("9"), Some(3.0), None, Some(Why::InBand)),
        (1, 20, 8, under("5"), None, None, Some(Why::InBand)),
        // A down alert whose measured count rose scales up.
        (1, 20, 4, over("2"), Some(6.0), Some(6), None),
        // The alert resolved: a measured count above current still applies (load rose again)…
        (
            1,
            20,
            6,
            alert(UNDER, Status::Resolved, &[("desired", "9")]),
            Some(8.0),
            Some(8),
            None,
        ),
        // …one below it does not scale down (FunctionOverProvisioned does, after its 30s)…
        (
            1,
            20,
            6,
            alert(UNDER, Status::Resolved, &[("desired", "9")]),
            Some(4.0),
            None,
            Some(Why::InBand),
        ),
        // …but a resolved alert's own annotation is stale: nothing moves.
        (
            1,
            20,
            6,
            alert(UNDER, Status::Resolved, &[("desired", "9")]),
            None,
            None,
            Some(Why::InBand),
        ),
        // From zero replicas.
        (1, 20, 0, under("3"), None, Some(3), None),
        // Huge counts saturate, then clamp.
        (1, 20, 1, under("1e300"), None, Some(20), None),
    ];
    for (min, max, current, trigger, load, to, why) in &cases {
        let d = decide(&labels(*min, *max, 20), *current, trigger, *load);
        assert_eq!(d.target(), *to, "{current} {trigger:?} {load:?} → {d:?}");
        if let Some(w) = why {
            assert_eq!(super::super::testkit::why(&d), Some(*w), "{d:?}");
        }
        assert!(
            !matches!(d, Decision::Refused { .. }),
            "{trigger:?} refused: {d:?}"
        );
    }
}

#[test]
fn scale_down_waits_for_the_stabilization_window_scale_up_does_not() {
    let l = labels(1, 20, 20);
    let config = PolicyConfig::default();
    // 8 was wanted 60 s ago: a proposal of 2 is held at 8 (window 300 s) and remembered.
    let entry = history(&[(940, 8)]);
    let (d, next) = run(&l, 8, &over("2"), &entry, None, 1000, &config);
    assert_eq!(why(&d), Some(Why::Stabilizing), "{d:?}");
    assert_eq!(next.window.pending, Some(2));
    // An up move right after is not held.
    let (d, _) = run(&l, 8, &under("12"), &next, None, 1001, &config);
    assert_eq!(d.target(), Some(12), "{d:?}");
    // After the window the same proposal goes through.
    let (d, _) = run(&l, 8, &over("2"), &entry, None, 1300, &config);
    assert_eq!(d.target(), Some(2), "{d:?}");
}

/// A max lowered below the replicas (a redeploy, or the platform's cap): an up alert, which never
/// scales down otherwise, brings the function down to its max, as every other policy's up alert
/// does, also where the window holds a higher count (the HPA applies its bounds after stabilizing).
#[test]
fn an_up_alert_above_a_lowered_max_goes_to_max() {
    let l = labels(1, 6, 20);
    let resolved = alert(UNDER, Status::Resolved, &[("desired", "9")]);
    for (trigger, load) in [
        (under("9"), None),
        (under("9"), Some(9.0)),
        (under("9"), Some(3.0)),
        (resolved, Some(9.0)),
    ] {
        let d = decide(&l, 8, &trigger, load);
        assert_eq!(d.target(), Some(6), "{trigger:?} {load:?}: {d:?}");
        assert!(d.reason().contains("max 6"), "{}", d.reason());
    }
    let held = history(&[(990, 8)]);
    let config = PolicyConfig::default();
    let (d, _) = run(&l, 8, &under("9"), &held, None, 1000, &config);
    assert_eq!(d.target(), Some(6), "{d:?}");
}

#[test]
fn bad_or_missing_desired_is_a_refusal_naming_it() {
    let cases: [(Trigger, &str); 5] = [
        (
            alert(UNDER, Status::Firing, &[("value", "20")]),
            "annotation `desired`",
        ),
        (under("lots"), "\"lots\""),
        (under("-1"), "\"-1\""),
        (under("NaN"), "\"NaN\""),
        (over("+Inf"), "\"+Inf\""),
    ];
    for (trigger, needle) in cases {
        match decide(&labels(1, 20, 20), 3, &trigger, None) {
            Decision::Refused { reason } => {
                assert!(reason.contains(needle), "{needle:?} not in {reason}");
                assert!(reason.contains("Function"), "names the alert: {reason}");
            }
            other => panic!("expected refusal for {trigger:?}, got {other:?}"),
        }
    }
}

#[test]
fn min_equal_max_is_disabled_whatever_the_load() {
    let d = decide(&labels(3, 3, 20), 3, &under("10"), None);
    assert_eq!(why(&d), Some(Why::Disabled), "{d:?}");
}

#[test]
fn reasons_carry_the_numbers() {
    let notes = [
        ("desired", "3"),
        ("value", "23.4"),
        ("target", "9"),
        ("type", "capacity"),
    ];
    let d = decide(
        &labels(1, 20, 20),
        1,
        &alert(UNDER, Status::Firing, &notes),
        None,
    );
    assert_eq!(
        d.reason(),
        "FunctionUnderProvisioned load 23.4 in flight / target 9 in flight per replica → desired 3 \
         (annotation): 1 → 3"
    );
    // rps, clamped.
    let notes = [
        ("desired", "40"),
        ("value", "1800"),
        ("target", "45"),
        ("type", "rps"),
    ];
    let d = decide(
        &labels(1, 10, 20),
        2,
        &alert(UNDER, Status::Firing, &notes),
        None,
    );
    let r = d.reason();
    for needle in [
        "load 1800 req/s",
        "target 45 req/s",
        "desired 40",
        "clamped to [1, 10] = 10",
        "2 → 10",
    ] {
        assert!(r.contains(needle), "{needle:?} missing in {r}");
    }
    // Measured: the function's own target and type.
    let mut l = labels(1, 20, 20);
    l.policy.scale_type = ScaleType::Rps;
    l.policy.target = Some(50.0);
    let d = decide(&l, 2, &under("3"), Some(5.0));
    assert_eq!(
        d.reason(),
        "FunctionUnderProvisioned desired 5 (prometheus), target 45 req/s per replica: 2 → 5"
    );
}
