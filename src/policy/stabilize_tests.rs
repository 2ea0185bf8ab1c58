use chrono::TimeDelta;

use super::super::testkit::*;
use super::*;
use crate::policy::ScaleDown;
use crate::stored::Stored;

fn rate_up() -> crate::ledger::Trigger {
    up("APIHighInvocationRate", None, None)
}

fn rate_resolved() -> crate::ledger::Trigger {
    resolved("APIHighInvocationRate", None)
}

#[test]
fn scale_down_never_below_the_window_high() {
    let l = labels(1, 20, 20);
    let config = PolicyConfig::default(); // stabilized, 300 s
    // (history, current, now, want target, want why, want settle_to)
    type Case = (
        Vec<(i64, u32)>,
        u32,
        i64,
        Option<u32>,
        Option<Why>,
        Option<u32>,
    );
    let cases: Vec<Case> = vec![
        // Nothing recent: straight to min.
        (vec![], 9, 1000, Some(1), None, None),
        (vec![(600, 9)], 9, 1000, Some(1), None, None),
        // Exactly at the window's edge (300 s ago) is outside.
        (vec![(700, 9)], 9, 1000, Some(1), None, None),
        // 9 wanted 10 s ago: stays at 9, remembers min as the target.
        (
            vec![(990, 9)],
            9,
            1000,
            None,
            Some(Why::Stabilizing),
            Some(1),
        ),
        // Highest in the window counts, not the latest: 5 then 3 → 5.
        (vec![(800, 5), (900, 3)], 9, 1000, Some(5), None, Some(1)),
        // Older high outside, newer low inside → to 3.
        (vec![(600, 9), (900, 3)], 9, 1000, Some(3), None, Some(1)),
        // The window never raises: a recommendation above current keeps current.
        (
            vec![(990, 15)],
            9,
            1000,
            None,
            Some(Why::Stabilizing),
            Some(1),
        ),
    ];
    for (recs, current, now, to, why, settle_to) in cases {
        let entry = history(&recs);
        let (d, next) = run(&l, current, &rate_resolved(), &entry, None, now, &config);
        assert_eq!(d.target(), to, "{recs:?} {current} → {d:?}");
        assert_eq!(super::super::testkit::why(&d), why, "{d:?}");
        assert_eq!(next.window.pending, settle_to, "{recs:?}");
        // The new recommendation (min) is recorded, stale ones pruned.
        let last = next.window.recommendations.last().unwrap();
        assert_eq!((last.at, last.desired), (t(now), 1));
        assert!(
            next.window
                .recommendations
                .iter()
                .all(|r| t(now) - r.at < TimeDelta::seconds(300))
        );
    }
}

#[test]
fn ce_mode_and_label_override() {
    let entry = history(&[(990, 9)]);
    let ce = PolicyConfig {
        scale_down: ScaleDown::Ce,
        ..Default::default()
    };
    let l = labels(1, 20, 20);
    assert_eq!(
        run(&l, 9, &rate_resolved(), &entry, None, 1000, &ce)
            .0
            .target(),
        Some(1)
    );
    // A label window applies even in ce mode, and overrides the configured one.
    let mut short = l;
    short.policy.down_stabilization = Some(TimeDelta::seconds(5));
    let stabilized = PolicyConfig::default();
    let (d, _) = run(&short, 9, &rate_resolved(), &entry, None, 1000, &stabilized);
    assert_eq!(
        d.target(),
        Some(1),
        "10 s ago is outside a 5 s window: {d:?}"
    );
    let mut long = l;
    long.policy.down_stabilization = Some(TimeDelta::seconds(60));
    let (d, _) = run(&long, 9, &rate_resolved(), &entry, None, 1000, &ce);
    assert_eq!(d.target(), None, "{d:?}");
}

#[test]
fn a_label_of_0_disables_the_window_for_the_function() {
    // `com.openfaas.scale.down-stabilization = 0` in the default (stabilized) mode: the 9 wanted
    // 10 s ago holds nothing, the resolution goes straight to min and nothing is left pending.
    let entry = history(&[(990, 9)]);
    let mut l = labels(1, 20, 20);
    l.policy.down_stabilization = Some(TimeDelta::zero());
    let (d, next) = run(
        &l,
        9,
        &rate_resolved(),
        &entry,
        None,
        1000,
        &PolicyConfig::default(),
    );
    assert_eq!(d.target(), Some(1), "{d:?}");
    assert_eq!(next.window.pending, None);
}

#[test]
fn a_held_scale_down_says_the_desired_count_the_window_and_what_it_holds() {
    // The doc's example: desired 1, 9 wanted 60 s ago in the 300 s window.
    let entry = history(&[(940, 9)]);
    let (d, _) = run(
        &labels(1, 20, 20),
        9,
        &rate_resolved(),
        &entry,
        None,
        1000,
        &PolicyConfig::default(),
    );
    assert!(
        d.reason().ends_with(
            "desired 1, but the stabilization window of 300s holds 9 (wanted 60s ago): stays at 9"
        ),
        "{d:?}"
    );
}

#[test]
fn a_count_at_min_that_moves_nothing_is_not_recorded() {
    // An idle function at its min of 2, sized at min again (a capacity follow-up every 5 s): the
    // window stays as it was; a count at min that moves the function is recorded.
    let l = labels(2, 20, 20);
    let entry = history(&[(900, 5)]);
    let at_min = with_desired(down("FunctionOverProvisioned", Some("capacity"), None), "0");
    let config = PolicyConfig::default();
    let (d, next) = run(&l, 2, &at_min, &entry, None, 1000, &config);
    assert_eq!(why(&d), Some(Why::AtMin), "{d:?}");
    assert_eq!(next.window, entry.window);
    let (_, next) = run(&l, 3, &at_min, &history(&[]), None, 1000, &config);
    let recorded: Vec<_> = next
        .window
        .recommendations
        .iter()
        .map(|r| r.desired)
        .collect();
    assert_eq!(recorded, [2]);
}

#[test]
fn scale_up_is_never_held_and_clears_a_pending_settle() {
    let l = labels(1, 20, 20);
    let mut entry = history(&[(990, 9)]);
    entry.window.pending = Some(1);
    let (d, next) = run(
        &l,
        3,
        &rate_up(),
        &entry,
        None,
        1000,
        &PolicyConfig::default(),
    );
    assert_eq!(d.target(), Some(7));
    assert_eq!(next.window.pending, None);
}

#[test]
fn ramp_then_resolve_then_settle() {
    // Step ramps 1 → 5 → 9, resolves 60 s later (held at 9), then the settle loop brings it down
    // once the window has passed the last ramp.
    let l = labels(1, 20, 20);
    let config = PolicyConfig::default();
    let mut entry = Stored::default();
    let mut current = 1;
    for (now, trigger, want) in [
        (0, rate_up(), Some(5)),
        (30, rate_up(), Some(9)),
        (90, rate_resolved(), None),
    ] {
        let (d, next) = run(&l, current, &trigger, &entry, None, now, &config);
        assert_eq!(d.target(), want, "at {now}: {d:?}");
        current = d.target().unwrap_or(current);
        entry = next;
    }
    assert_eq!(entry.window.pending, Some(1));
    // (now, want target, still pending)
    // The 9 was wanted at 30 s: held until 330 s.
    for (now, want, pending) in [(200, None, true), (329, None, true), (331, Some(1), false)] {
        let (d, next) = settle(&l, current, &entry, t(now), &config).expect("pending");
        assert_eq!(d.target(), want, "settle at {now}: {d:?}");
        assert_eq!(next.window.pending.is_some(), pending, "at {now}");
        current = d.target().unwrap_or(current);
        entry = next;
    }
    assert!(settle(&l, current, &entry, t(400), &config).is_none());
}

#[test]
fn settle_moves_part_way_while_a_lower_high_remains() {
    let l = labels(1, 20, 20);
    let config = PolicyConfig::default();
    let mut entry = history(&[(0, 9), (60, 5), (90, 1)]);
    entry.window.pending = Some(1);
    let mut current = 9;
    for (now, want, pending) in [
        (200, None, true),
        (301, Some(5), true),
        (361, Some(1), false),
    ] {
        let (d, next) = settle(&l, current, &entry, t(now), &config).expect("pending");
        assert_eq!(d.target(), want, "settle at {now}: {d:?}");
        assert_eq!(next.window.pending.is_some(), pending, "at {now}");
        current = d.target().unwrap_or(current);
        entry = next;
    }
}

#[test]
fn settle_respects_bounds_and_outside_moves() {
    let config = PolicyConfig::default();
    let mut entry = history(&[(0, 9)]);
    entry.window.pending = Some(0);
    // Without zero=true a target of 0 means min.
    let l = labels(2, 20, 20);
    let (d, next) = settle(&l, 9, &entry, t(1000), &config).unwrap();
    assert_eq!(d.target(), Some(2));
    assert_eq!(next.window.pending, None);
    let mut z = l;
    z.zero = true;
    assert_eq!(
        settle(&z, 9, &entry, t(1000), &config).unwrap().0.target(),
        Some(0)
    );
    // A held sleep of a function with min 2: a recommendation at min does not hold it.
    let at_min = held_sleep(&[(990, 2)]);
    let (d, next) = settle(&z, 2, &at_min, t(1000), &config).unwrap();
    assert_eq!((d.target(), next.window.pending), (Some(0), None), "{d:?}");
    // Someone already scaled below the target: forget it, move nothing.
    entry.window.pending = Some(4);
    let (d, next) = settle(&l, 3, &entry, t(1000), &config).unwrap();
    assert_eq!((d.target(), next.window.pending), (None, None));
}

#[test]
fn history_is_bounded() {
    let mut h = Vec::new();
    let w = TimeDelta::seconds(300);
    for i in 0..200 {
        record(
            &mut h,
            Recommendation {
                at: t(i),
                desired: 1,
            },
            w,
        );
        assert!(h.len() <= MAX_RECOMMENDATIONS);
    }
    // Time pruning keeps the newest even when it is older than the window.
    record(
        &mut h,
        Recommendation {
            at: t(10_000),
            desired: 3,
        },
        w,
    );
    assert_eq!(h.len(), 1);
    let mut h2 = h.clone();
    prune(&mut h2, t(20_000), w);
    assert_eq!(h2, h);
}

#[test]
fn entry_with_history_round_trips_and_old_entries_still_parse() {
    let mut entry = history(&[(1, 3), (2, 5)]);
    entry.window.pending = Some(1);
    let text = serde_json::to_string(&entry).unwrap();
    assert_eq!(serde_json::from_str::<Stored>(&text).unwrap(), entry);
    // An entry written before these fields existed.
    let old = r#"{"firing":{},"resolved":{},"last_up":null,"last_down":null}"#;
    assert_eq!(
        serde_json::from_str::<Stored>(old).unwrap(),
        Stored::default()
    );
}

#[test]
fn a_recommendation_every_5s_never_shortens_the_window() {
    // A peak of 9, then a follow-up every 5 s wanting less (3 or 4, or a long descending run):
    // the floor holds 9 until the window of 300 s has passed since the peak, never earlier.
    let w = TimeDelta::seconds(300);
    for run in [
        (1..60).map(|i| 3 + (i % 2)).collect::<Vec<u32>>(),
        (1..60).map(|i| 8u32.saturating_sub(i / 8).max(1)).collect(),
        (1..60).map(|i| 70 - i).collect(),
    ] {
        let peak = if run[0] > 9 { 80 } else { 9 };
        let mut h = Vec::new();
        record(
            &mut h,
            Recommendation {
                at: t(0),
                desired: peak,
            },
            w,
        );
        for (i, desired) in run.iter().enumerate() {
            let at = t(5 * (i as i64 + 1));
            record(
                &mut h,
                Recommendation {
                    at,
                    desired: *desired,
                },
                w,
            );
            assert!(h.len() <= MAX_RECOMMENDATIONS, "{}", h.len());
            let f = floor(&h, at, w).unwrap();
            assert_eq!(f.desired, peak, "at {}s: {h:?}", 5 * (i + 1));
        }
        // Past the window, the floor is at most what was wanted since.
        let after = t(301);
        let f = floor(&h, after, w).unwrap();
        assert!(
            f.desired < peak && f.desired >= *run.last().unwrap(),
            "{f:?}"
        );
    }
}

#[test]
fn a_recommendation_stamped_after_now_still_holds() {
    // A decision that read its clock at 97 s runs after one that recorded 8 at 100 s (it waited
    // for the function's lock, or another replica's clock is ahead): 8 still holds.
    let w = TimeDelta::seconds(60);
    let h = vec![
        Recommendation {
            at: t(0),
            desired: 3,
        },
        Recommendation {
            at: t(100),
            desired: 8,
        },
    ];
    assert_eq!(floor(&h, t(97), w).map(|r| r.desired), Some(8));
    assert_eq!(floor(&h, t(159), w).map(|r| r.desired), Some(8));
    assert_eq!(floor(&h, t(160), w), None);
}

#[test]
fn settle_enforces_the_labels_read_now() {
    // A scale-down to 1 was held; the labels then changed (min = max pins the function) without
    // the replicas being reset. The settle pass writes nothing outside the new [min, max]: above
    // max it goes to max at once (the window cannot hold a count the labels forbid), at or below
    // its floor it forgets the target and moves nothing (the settle pass never scales up).
    let config = PolicyConfig::default();
    let limited = labels(1, 3, 20);
    // (labels, current, history, want target, want still pending)
    type Case = (ScaleLabels, u32, Vec<(i64, u32)>, Option<u32>, bool);
    let cases: Vec<Case> = vec![
        // Pinned to 2 at 5, the window holding 4: to 2, not 4.
        (labels(2, 2, 20), 5, vec![(900, 4)], Some(2), false),
        // Pinned to 2 at 5, the window holding 9: to 2, not "stays at 5".
        (labels(2, 2, 20), 5, vec![(990, 9)], Some(2), false),
        // Already at the pinned count: nothing to move.
        (labels(2, 2, 20), 2, vec![(990, 9)], None, false),
        // Pinned above the current count: the settle pass does not scale up.
        (labels(8, 8, 20), 5, vec![(990, 9)], None, false),
        // Max lowered to 3 at 5, the window holding 5: to max, still heading to 1.
        (limited, 5, vec![(990, 5)], Some(3), true),
        // Min raised to 4 above the held target 1, the window passed: to the new min, not to 1.
        (labels(4, 20, 20), 9, vec![(600, 9)], Some(4), false),
    ];
    for (l, current, recs, to, pending) in cases {
        let mut entry = history(&recs);
        entry.window.pending = Some(1);
        let (d, next) = settle(&l, current, &entry, t(1000), &config).expect("pending");
        assert_eq!(d.target(), to, "[{}, {}] at {current}: {d:?}", l.min, l.max);
        assert_eq!(next.window.pending.is_some(), pending, "{d:?}");
        if to == Some(l.max) {
            let max = format!("above max {}", l.max);
            assert!(d.reason().contains(&max), "{d:?}");
        }
    }
}

#[test]
fn a_scale_down_is_never_held_above_the_current_max() {
    // Max lowered from 20 to 3 while at 5, the window holding 4 or 9 from before: a resolution
    // goes to max at once, still heading to min.
    let l = labels(1, 3, 20);
    for recs in [vec![(900, 4)], vec![(990, 9)]] {
        let entry = history(&recs);
        let (d, next) = run(
            &l,
            5,
            &rate_resolved(),
            &entry,
            None,
            1000,
            &PolicyConfig::default(),
        );
        assert_eq!(d.target(), Some(3), "{recs:?}: {d:?}");
        assert!(d.reason().contains("above max 3"), "{d:?}");
        assert_eq!(next.window.pending, Some(1), "{recs:?}");
    }
}

#[test]
fn a_count_at_the_serving_floor_keeps_a_held_sleep() {
    // zero=true, min 2, at 2: FunctionIdle's sleep is held by a count of 5 recorded 100 s ago. A
    // capacity decision that sizes the function at min (its follow-up every 5 s) says nothing about
    // sleeping: the sleep stays pending and the settle pass finishes it once the window has passed.
    // A decision that scales up cancels it.
    let config = PolicyConfig::default();
    let z = sleepy(2, 20);
    let entry = held_sleep(&[(900, 5)]);
    let at_min = with_desired(down("FunctionOverProvisioned", Some("capacity"), None), "0");
    let (d, next) = run(&z, 2, &at_min, &entry, None, 1000, &config);
    assert_eq!((why(&d), next.window.pending), (Some(Why::AtMin), Some(0)));
    assert!(
        settle(&z, 2, &next, t(1100), &config)
            .unwrap()
            .0
            .target()
            .is_none()
    );
    let (d, _) = settle(&z, 2, &next, t(1201), &config).unwrap();
    assert_eq!(d.target(), Some(0), "{d:?}");
    // An up move cancels the sleep.
    let more = with_desired(up("FunctionUnderProvisioned", Some("capacity"), None), "3");
    let (d, next) = run(&z, 2, &more, &entry, None, 1000, &config);
    assert_eq!((d.target(), next.window.pending), (Some(3), None), "{d:?}");
}

#[test]
fn a_held_sleep_waits_for_the_zero_duration_the_labels_ask_now() {
    // zero=true, min 2, at 5: a sleep held by a count of 4 recorded at 900 s; the idle alert said
    // the function had been idle since 0. Its zero-duration raised to 60m after the hold.
    let config = PolicyConfig::default();
    let mut entry = held_sleep(&[(900, 4)]);
    entry.window.idle_since = Some(t(0));
    let z = |minutes| {
        let mut l = sleepy(2, 20);
        l.policy.zero_duration = TimeDelta::minutes(minutes);
        l
    };
    // (zero-duration minutes, current, now, want target, want why, sleep still held)
    let cases = [
        // 15m (as at the hold): the sleep finishes once the window has passed.
        (15, 5, 1201, Some(0), None, false),
        // Raised to 60m: while the window holds 4, as far as 4; then to min, no lower.
        (60, 5, 1000, Some(4), None, true),
        (60, 5, 1201, Some(2), None, true),
        (60, 2, 3599, None, Some(Why::IdleTooShort), true),
        // 60m idle: the sleep finishes.
        (60, 2, 3600, Some(0), None, false),
    ];
    for (minutes, current, now, to, want_why, held) in cases {
        let (d, next) = settle(&z(minutes), current, &entry, t(now), &config).unwrap();
        let case = format!("{minutes}m, {current} at {now}: {d:?}");
        assert_eq!((d.target(), why(&d)), (to, want_why), "{case}");
        assert_eq!(next.window.pending.is_some(), held, "{case}");
        assert_eq!(next.window.idle_since.is_some(), held, "{case}");
        if held {
            assert!(d.reason().contains("asks for 3600s"), "{case}");
        }
    }
    // Without what the alert said (state stored before `idle_since`, an alert without `window`),
    // the alert was the judge: the sleep finishes once the window has passed.
    entry.window.idle_since = None;
    let (d, _) = settle(&z(60), 2, &entry, t(1201), &config).unwrap();
    assert_eq!(d.target(), Some(0), "{d:?}");
}

#[test]
fn a_sleep_held_by_the_window_keeps_since_when_the_function_was_idle() {
    let config = PolicyConfig::default();
    let mut idle = down("FunctionIdle", Some("zero"), Some("0"));
    if let crate::ledger::Trigger::Down { signal } = &mut idle {
        signal.annotations.insert("window".into(), "15m".into());
        signal.episode.starts_at = t(950);
    }
    // Held by 4 at 900: idle since 950 - 15m.
    let (d, next) = run(
        &sleepy(2, 20),
        5,
        &idle,
        &history(&[(900, 4)]),
        None,
        1000,
        &config,
    );
    assert_eq!(d.target(), Some(4), "{d:?}");
    assert_eq!(next.window.pending, Some(0));
    assert_eq!(next.window.idle_since, Some(t(50)));
    // A scale-up releases the hold and what it kept.
    let (_, next) = run(&sleepy(2, 20), 5, &rate_up(), &next, None, 1010, &config);
    assert_eq!((next.window.pending, next.window.idle_since), (None, None));
}
