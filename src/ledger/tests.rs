use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::alert::{Direction, EpisodeKey, Signal, Status};
use crate::config::PolicyKind;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn signal(alertname: &str, fp: &str, starts: i64, status: Status) -> Signal {
    Signal {
        alertname: alertname.into(),
        status,
        direction: Direction::Up,
        policy: None,
        episode: EpisodeKey {
            fingerprint: fp.into(),
            starts_at: t(starts),
        },
        ends_at: None,
        annotations: Default::default(),
    }
}

fn firing(fp: &str, starts: i64) -> Signal {
    signal("APIHighInvocationRate", fp, starts, Status::Firing)
}

fn resolved(fp: &str, starts: i64) -> Signal {
    signal("APIHighInvocationRate", fp, starts, Status::Resolved)
}

/// Feed notifications in order, storing each plan's entry as the service does on success, with
/// every up or down trigger moving the replicas (the service then sets `scaled_up` / `scaled_down`).
fn run(steps: &[(i64, Vec<Signal>)]) -> Vec<Trigger> {
    run_moving(steps, |_| true)
}

/// As [`run`], where `moves(i)` says whether step `i`'s trigger moved the replicas.
fn run_moving(steps: &[(i64, Vec<Signal>)], moves: impl Fn(usize) -> bool) -> Vec<Trigger> {
    let settings = Timing::default();
    let mut entry = Entry::default();
    steps
        .iter()
        .enumerate()
        .map(|(i, (now, signals))| {
            let plan = plan(&entry, signals, t(*now), &settings);
            entry = plan.next;
            match plan.trigger {
                Trigger::Up { .. } if moves(i) => entry.scaled_up = Some(t(*now)),
                Trigger::Down { .. } if moves(i) => entry.scaled_down = Some(t(*now)),
                _ => {}
            }
            plan.trigger
        })
        .collect()
}

fn kind(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Up { repeat: false, .. } => "up".into(),
        Trigger::Up { repeat: true, .. } => "up-repeat".into(),
        Trigger::Down { .. } => "down".into(),
        Trigger::Hold(h) => format!("{h:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_lowercase(),
    }
}

fn kinds(steps: &[(i64, Vec<Signal>)]) -> Vec<String> {
    run(steps).iter().map(kind).collect()
}

#[test]
fn same_notification_twice_acts_once() {
    // AlertManager retry or HA peer: same episode, milliseconds to seconds apart.
    let got = kinds(&[(10, vec![firing("a", 0)]), (11, vec![firing("a", 0)])]);
    assert_eq!(got, ["up", "duplicate"]);
}

#[test]
fn repeat_steps_again_only_after_cooldown() {
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (25, vec![firing("a", 0)]), // 15 s later: within the 20 s cooldown
        (31, vec![firing("a", 0)]), // 21 s after the last step: a repeat
        (40, vec![firing("a", 0)]), // 9 s after that step
    ]);
    assert_eq!(got, ["up", "duplicate", "up-repeat", "duplicate"]);
}

#[test]
fn a_decision_that_moved_nothing_starts_no_cooldown() {
    // CapA at min (nothing moved), CapB a moment later: a new episode, decided at once. A copy of
    // CapA is still a duplicate.
    let cap_b = signal("CapB", "b", 5, Status::Firing);
    let steps = [
        (10, vec![firing("a", 0)]),
        (11, vec![cap_b]),
        (12, vec![firing("a", 0)]),
    ];
    let got: Vec<String> = run_moving(&steps, |i| i != 0).iter().map(kind).collect();
    assert_eq!(got, ["up", "up", "duplicate"]);
}

#[test]
fn a_repeat_is_not_a_duplicate_of_another_alerts_decision_that_moved_nothing() {
    // An idle function at min 2 under the capacity pack: FunctionOverProvisioned fires for good and
    // AlertManager repeats it every 30 s (decided, at min: nothing moves). FunctionIdle's repeats
    // (the first said idle_too_short) come 5 s after each: they are repeats of their own episode, not
    // duplicates; a copy of one within the cooldown is.
    let down = |alertname: &str, fp: &str, starts| Signal {
        direction: Direction::Down,
        ..signal(alertname, fp, starts, Status::Firing)
    };
    let over = || down("FunctionOverProvisioned", "over", 0);
    let idle = || down("FunctionIdle", "idle", 5);
    let steps = [
        (0, vec![over()]),
        (5, vec![idle()]),
        (30, vec![over()]),
        (35, vec![idle()]),
        (36, vec![idle()]),
    ];
    let got: Vec<String> = run_moving(&steps, |_| false).iter().map(kind).collect();
    assert_eq!(got, ["down", "down", "down", "down", "duplicate"]);
    // A move that way does hold it, as it holds a new episode.
    let got: Vec<String> = run_moving(&steps, |i| i == 2).iter().map(kind).collect();
    assert_eq!(got[3], "cooldown");
}

#[test]
fn a_second_alert_within_cooldown_is_recorded_but_does_not_step() {
    let latency = signal("FunctionLatencyHigh", "b", 5, Status::Firing);
    let got = run(&[(10, vec![firing("a", 0)]), (12, vec![latency])]);
    assert_eq!(kind(&got[1]), "cooldown");
    // …and it still counts as firing: resolving the rate alert does not scale down.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (
            12,
            vec![signal("FunctionLatencyHigh", "b", 5, Status::Firing)],
        ),
        (60, vec![resolved("a", 0)]),
    ]);
    assert_eq!(got[2], "stillfiring");
}

#[test]
fn resolved_scales_down_only_when_nothing_else_fires() {
    let lat = |status| signal("FunctionLatencyHigh", "b", 3, status);
    let got = run(&[
        (10, vec![firing("a", 0), lat(Status::Firing)]),
        (60, vec![resolved("a", 0)]),
        (90, vec![lat(Status::Resolved)]),
    ]);
    match &got[1] {
        Trigger::Hold(Hold::StillFiring { alerts }) => assert_eq!(alerts, &["FunctionLatencyHigh"]),
        other => panic!("expected still firing, got {other:?}"),
    }
    assert_eq!(kind(&got[2]), "down");
}

#[test]
fn stale_and_replayed_resolved_are_ignored() {
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0)]),
        (61, vec![resolved("a", 0)]),  // replay
        (100, vec![firing("a", 90)]),  // new episode of the same series
        (101, vec![resolved("a", 0)]), // resolved of the old episode: stale
    ]);
    assert_eq!(got, ["up", "down", "replay", "up", "stale"]);
}

#[test]
fn late_firing_retry_of_a_resolved_episode_is_stale() {
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0)]),
        (62, vec![firing("a", 0)]),
    ]);
    assert_eq!(got, ["up", "down", "stale"]);
}

#[test]
fn resolved_of_unknown_episode_scales_down() {
    // E.g. the firing notification went to a peer before we started.
    assert_eq!(kinds(&[(10, vec![resolved("a", 0)])]), ["down"]);
}

#[test]
fn several_alerts_in_one_notification_give_one_trigger() {
    let got = kinds(&[(10, vec![firing("a", 0), firing("b", 0), firing("c", 0)])]);
    assert_eq!(got, ["up"]);
    // Firing wins over a resolved in the same notification.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0), firing("b", 50)]),
    ]);
    assert_eq!(got, ["up", "up"]);
}

#[test]
fn down_direction_alert_triggers_down_and_does_not_block_scale_down() {
    let low = |status| Signal {
        direction: Direction::Down,
        ..signal("FunctionLatencyLow", "low", 20, status)
    };
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0), low(Status::Firing)]),
        (65, vec![low(Status::Firing)]),
        (70, vec![low(Status::Resolved)]),
    ]);
    assert_eq!(got, ["up", "down", "duplicate", "downended"]);
    // While an up alert fires, a down alert holds.
    let got = kinds(&[(10, vec![firing("a", 0)]), (60, vec![low(Status::Firing)])]);
    assert_eq!(got, ["up", "stillfiring"]);
}

#[test]
fn memory_is_bounded_by_ttl_and_cap() {
    let settings = Timing::default();
    let mut entry = Entry::default();
    for i in 0..100 {
        let signals = [firing(&format!("fp{i}"), i), resolved(&format!("fp{i}"), i)];
        entry = plan(&entry, &signals, t(i), &settings).next;
        assert!(entry.len() <= 2 * settings.max_episodes);
    }
    assert_eq!(entry.resolved.len(), settings.max_episodes);
    // After the TTL everything resolved is forgotten.
    let later = t(100) + settings.episode_ttl;
    entry = plan(&entry, &[], later, &settings).next;
    assert!(entry.resolved.is_empty());
}

#[test]
fn silent_firing_episode_expires_after_ttl() {
    let settings = Timing::default();
    let entry = plan(&Entry::default(), &[firing("a", 0)], t(0), &settings).next;
    let later = t(0) + settings.episode_ttl;
    let p = plan(&entry, &[resolved("b", 10)], later, &settings);
    assert_eq!(
        kind(&p.trigger),
        "down",
        "expired firing episode must not block"
    );
}

#[test]
fn a_lost_resolution_lapses_after_the_ttl_and_its_late_arrival_is_a_replay() {
    let timing = Timing::default();
    let ttl = timing.episode_ttl;
    // Two up alerts fire; "b" is last seen at 30.
    let entry = plan(&Entry::default(), &[firing("a", 0)], t(0), &timing).next;
    let entry = plan(&entry, &[firing("b", 25)], t(30), &timing).next;
    let mut down = signal("FunctionLatencyLow", "c", 0, Status::Firing);
    down.direction = Direction::Down;
    let entry = plan(&entry, &[down], t(31), &timing).next;
    assert_eq!(up_last_seen(&entry), Some(t(30)));
    // While either up alert is within the TTL, nothing has lapsed ("a" alone is silent long enough).
    assert_eq!(lapsed(&entry, t(0) + ttl, &timing), None);
    assert_eq!(lapsed(&entry, t(29) + ttl, &timing), None);
    // Once both are silent: the resolution of the last one seen, and an entry without them.
    let (signal, next) = lapsed(&entry, t(30) + ttl, &timing).expect("lapsed");
    assert_eq!(
        (
            signal.episode.fingerprint.as_str(),
            signal.status,
            signal.direction
        ),
        ("b", Status::Resolved, Direction::Up)
    );
    // The down alert, seen a second later, still fires.
    let still: Vec<_> = next.firing.values().map(|f| f.alertname.as_str()).collect();
    assert_eq!(still, ["FunctionLatencyLow"], "{next:?}");
    assert_eq!(next.last_down, Some(t(30) + ttl));
    assert_eq!(up_last_seen(&next), None);
    assert_eq!(lapsed(&next, t(30) + ttl, &timing), None, "decided once");
    // The real resolutions arriving after all are replays, not a second scale-down.
    let late = plan(
        &next,
        &[resolved("a", 0), resolved("b", 25)],
        t(40) + ttl,
        &timing,
    );
    assert_eq!(kind(&late.trigger), "replay");
}

#[test]
fn a_listing_leaves_out_the_up_alerts_silent_for_the_ttl_as_the_ledger_does() {
    let timing = Timing::default();
    let ttl = timing.episode_ttl;
    // "A" last seen at 0; "B" by two series, last seen at 10 and 30; a down alert at 31.
    let entry = plan(
        &Entry::default(),
        &[signal("A", "a", 0, Status::Firing)],
        t(0),
        &timing,
    )
    .next;
    let entry = plan(
        &entry,
        &[signal("B", "c", 5, Status::Firing)],
        t(10),
        &timing,
    )
    .next;
    let entry = plan(
        &entry,
        &[signal("B", "b", 25, Status::Firing)],
        t(30),
        &timing,
    )
    .next;
    let mut down = signal("FunctionLatencyLow", "d", 0, Status::Firing);
    down.direction = Direction::Down;
    let entry = plan(&entry, &[down], t(31), &timing).next;
    assert_eq!(entry.firing_up(), ["A", "B"], "as stored");
    for (now, listed) in [
        (t(0) + ttl - TimeDelta::seconds(1), &["A", "B"][..]),
        (t(0) + ttl, &["B"]),
        (t(29) + ttl, &["B"]),
        (t(30) + ttl, &[]),
        (t(31) + ttl, &[]),
    ] {
        let live = live_up(entry.up_seen(), Some(now - ttl));
        assert_eq!(live, listed, "at {now}");
        // Listed as firing exactly while the ledger holds a scale-down for it.
        assert_eq!(!live.is_empty(), entry.fires_up(now, &timing), "at {now}");
    }
    assert_eq!(live_up(entry.up_seen(), None), entry.firing_up());
}

#[test]
fn only_down_alerts_lapsing_decide_nothing() {
    let timing = Timing::default();
    let mut down = signal("FunctionLatencyLow", "c", 0, Status::Firing);
    down.direction = Direction::Down;
    let entry = plan(&Entry::default(), &[down], t(0), &timing).next;
    assert_eq!(up_last_seen(&entry), None);
    assert_eq!(lapsed(&entry, t(0) + timing.episode_ttl * 2, &timing), None);
}

#[test]
fn entry_round_trips_through_json() {
    let entry = plan(
        &Entry::default(),
        &[firing("a", 0)],
        t(1),
        &Timing::default(),
    )
    .next;
    let text = serde_json::to_string(&entry).unwrap();
    assert_eq!(serde_json::from_str::<Entry>(&text).unwrap(), entry);
}

#[test]
fn a_duplicate_borrows_the_entry_and_anything_that_changes_it_copies() {
    let settings = Timing::default();
    let entry = plan(&Entry::default(), &[firing("a", 0)], t(0), &settings).next;
    // The same episode again within the cooldown: a hold that changes nothing, not a copy.
    let (trigger, next) = plan_borrowed(&entry, &[firing("a", 0)], t(5), &settings);
    assert!(matches!(trigger, Trigger::Hold(Hold::Duplicate { .. })));
    assert!(matches!(next, Cow::Borrowed(_)));
    // Each of these changes the entry; the changed copy is what plan() returns.
    let renamed = signal("Renamed", "a", 0, Status::Firing);
    let expired = t(0) + settings.episode_ttl;
    for (signals, now) in [
        (vec![renamed], t(5)),
        (vec![firing("b", 5)], t(5)),
        (vec![resolved("a", 0)], t(5)),
        (vec![firing("a", 0)], t(0) + settings.cooldown),
        (vec![], expired),
    ] {
        let (_, next) = plan_borrowed(&entry, &signals, now, &settings);
        assert!(matches!(next, Cow::Owned(_)), "{signals:?} at {now}");
        assert_ne!(*next, entry, "{signals:?} at {now}");
        assert_eq!(*next, plan(&entry, &signals, now, &settings).next);
    }
}

#[test]
fn a_follow_up_decides_for_the_newest_live_capacity_alert_and_holds_a_down_while_up_fires() {
    let timing = Timing::default();
    let capacity =
        |alertname: &str, fp: &str, direction: Direction, policy: Option<PolicyKind>| Signal {
            direction,
            policy,
            ..signal(alertname, fp, 0, Status::Firing)
        };
    let under = capacity("Under", "u", Direction::Up, Some(PolicyKind::Capacity));
    let over = capacity("Over", "o", Direction::Down, Some(PolicyKind::Capacity));
    let unlabelled = capacity("Under", "n", Direction::Up, None);
    // Each notification's signals are planned in order; `follow_up` is read after the last.
    let after = |steps: &[(i64, Vec<Signal>)], at: i64, default: PolicyKind| {
        let mut entry = Entry::default();
        for (now, signals) in steps {
            entry = plan(&entry, signals, t(*now), &timing).next;
        }
        match follow_up(&entry, t(at), &timing, default) {
            FollowUp::Stop => "stop".to_string(),
            FollowUp::Hold => "hold".to_string(),
            FollowUp::Decide(s) => format!("decide {}", s.alertname),
        }
    };
    let step = PolicyKind::Step;
    // (case, notifications as (at, signals), follow-up at, default policy, what it does)
    type Case<'a> = (&'a str, Vec<(i64, Vec<Signal>)>, i64, PolicyKind, &'a str);
    let cases: Vec<Case> = vec![
        ("nothing fires", vec![], 10, step, "stop"),
        (
            "a step alert",
            vec![(0, vec![firing("a", 0)])],
            10,
            step,
            "stop",
        ),
        (
            "capacity up",
            vec![(0, vec![under.clone()])],
            10,
            step,
            "decide Under",
        ),
        (
            "capacity down alone",
            vec![(0, vec![over.clone()])],
            10,
            step,
            "decide Over",
        ),
        (
            "down seen after a capacity up alert that still fires: the up alert decides",
            vec![(0, vec![under.clone()]), (100, vec![over.clone()])],
            105,
            step,
            "decide Under",
        ),
        (
            "down while a step up alert fires",
            vec![(0, vec![firing("a", 0)]), (100, vec![over.clone()])],
            105,
            step,
            "hold",
        ),
        (
            "down once the up alert went silent for the TTL",
            vec![(0, vec![under.clone()]), (3500, vec![over.clone()])],
            3650,
            step,
            "decide Over",
        ),
        (
            "up after down: the newest decides",
            vec![(0, vec![over.clone()]), (100, vec![under.clone()])],
            105,
            step,
            "decide Under",
        ),
        (
            "resolved",
            vec![
                (0, vec![under.clone()]),
                (
                    50,
                    vec![Signal {
                        status: Status::Resolved,
                        ..under.clone()
                    }],
                ),
            ],
            55,
            step,
            "stop",
        ),
        (
            "silent for the TTL",
            vec![(0, vec![under.clone()])],
            3600,
            step,
            "stop",
        ),
        (
            "no scale_policy, default step",
            vec![(0, vec![unlabelled.clone()])],
            10,
            step,
            "stop",
        ),
        (
            "no scale_policy, default capacity",
            vec![(0, vec![unlabelled])],
            10,
            PolicyKind::Capacity,
            "decide Under",
        ),
    ];
    for (name, steps, at, default, want) in cases {
        assert_eq!(after(&steps, at, default), want, "{name}");
    }
}

#[test]
fn copies_of_one_episode_with_different_starts_act_as_one() {
    // AlertManager keeps the earliest startsAt when it merges copies of an alert (HA Prometheus
    // replicas), so two HA peers can send one episode with different starts, and one peer's start
    // can move earlier within the episode.
    let peers = kinds(&[
        (10, vec![firing("a", 0)]),   // AM1
        (11, vec![firing("a", 1)]),   // AM2: started 1 s later by its Prometheus
        (40, vec![firing("a", 0)]),   // AM1's repeat
        (41, vec![firing("a", 1)]),   // AM2's repeat
        (60, vec![resolved("a", 0)]), // AM1 resolves
        (61, vec![resolved("a", 1)]), // AM2 resolves
        (62, vec![firing("a", 1)]),   // a late retry of AM2's firing
        (63, vec![firing("a", 0)]),   // and of AM1's
    ]);
    assert_eq!(
        peers,
        [
            "up",
            "cooldown",
            "up-repeat",
            "duplicate",
            "down",
            "replay",
            "stale",
            "stale"
        ]
    );
    let earlier = kinds(&[
        (10, vec![firing("a", 1)]),
        (40, vec![firing("a", 0)]), // merged: the start moved earlier
        (60, vec![resolved("a", 0)]),
    ]);
    assert_eq!(earlier, ["up", "up-repeat", "down"]);
    // A new episode after a resolution is still new, and an old episode's resolution still old.
    let next = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0)]),
        (100, vec![firing("a", 90)]),
        (101, vec![resolved("a", 0)]),
        (130, vec![firing("a", 85)]), // the other peer's copy of the new episode
        (150, vec![resolved("a", 85)]),
    ]);
    assert_eq!(next, ["up", "down", "up", "stale", "up-repeat", "down"]);
    // More than START_SKEW earlier is an older episode: its late firing retry and its resolution
    // are stale (its resolution was never recorded here).
    let skew = START_SKEW.num_seconds();
    let older = kinds(&[
        (1000, vec![firing("a", 900)]),
        (1030, vec![firing("a", 899 - skew)]),
        (1040, vec![resolved("a", 899 - skew)]),
        (1050, vec![resolved("a", 900 - skew)]),
    ]);
    assert_eq!(older, ["up", "stale", "stale", "down"]);
}

#[test]
fn one_episode_both_firing_and_resolved_in_one_body_ends_it_whatever_the_order() {
    let ab = kinds(&[(10, vec![firing("a", 0), resolved("a", 0)])]);
    let ba = kinds(&[(10, vec![resolved("a", 0), firing("a", 0)])]);
    assert_eq!(ab, ["down"]);
    assert_eq!(ba, ["down"]);
}

/// A resolution as AlertManager sends it: with the episode's end.
fn ended(fp: &str, starts: i64, ends: i64) -> Signal {
    Signal {
        ends_at: Some(t(ends)),
        ..resolved(fp, starts)
    }
}

#[test]
fn an_ha_peers_late_firing_copy_with_a_later_start_is_stale_after_the_resolution() {
    // The peer's Prometheus started the episode 1 s later; its copy arrives after the resolution.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![ended("a", 0, 55)]),
        (62, vec![firing("a", 1)]),
    ]);
    assert_eq!(got, ["up", "down", "stale"]);
}

#[test]
fn an_ha_peers_resolution_with_a_later_start_is_a_replay() {
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![ended("a", 0, 55)]),
        (61, vec![ended("a", 1, 56)]),
    ]);
    assert_eq!(got, ["up", "down", "replay"]);
}

#[test]
fn the_next_episode_starts_after_the_end_and_is_not_mistaken_for_the_old_one() {
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![ended("a", 0, 55)]),
        // The series fires anew after the end: a new episode.
        (70, vec![firing("a", 58)]),
        // A late copy of the old episode's resolution (an HA peer's) neither resolves the new
        // episode nor steps.
        (75, vec![ended("a", 1, 56)]),
        (80, vec![firing("a", 58)]),
        (200, vec![ended("a", 58, 190)]),
    ]);
    assert_eq!(got, ["up", "down", "up", "stale", "duplicate", "down"]);
}

#[test]
fn without_an_end_a_later_start_after_the_resolution_is_a_new_episode() {
    // A hand-made resolution without `endsAt`: only the start tells episodes apart.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0)]),
        (62, vec![firing("a", 1)]),
    ]);
    assert_eq!(got, ["up", "down", "up"]);
}

#[test]
fn a_repeat_of_a_lapsed_episode_that_still_fires_steps_again() {
    // README: without Prometheus the silence decides, and "a function still overloaded is taken
    // back to min until the next repeat". A route repeating a little slower than the episode TTL:
    // the episode lapses (decided as resolved), then AlertManager's repeat of it arrives, still
    // firing. It is no late retry (those come within AlertManager's retry window, not a TTL of
    // silence later): the function must step again, and the episode's real resolution scale down.
    let timing = Timing::default();
    let ttl = timing.episode_ttl;
    let entry = plan(&Entry::default(), &[firing("a", 0)], t(10), &timing).next;
    let (_, entry) = lapsed(&entry, t(10) + ttl, &timing).expect("lapsed");
    let repeat = plan(&entry, &[firing("a", 0)], t(300) + ttl, &timing);
    assert!(
        matches!(repeat.trigger, Trigger::Up { .. }),
        "{:?}",
        repeat.trigger
    );
    let end = ttl.num_seconds() + 350;
    let resolution = plan(&repeat.next, &[ended("a", 0, end)], t(400) + ttl, &timing);
    assert_eq!(kind(&resolution.trigger), "down");
}

#[test]
fn a_late_resolution_that_ended_before_the_firing_episode_started_is_stale() {
    // HA peers, backend flapping: the series' episode from 0 ended at 55 and its resolution never
    // got through here; the series fired anew at 100. Both peers retry their 503s: AM1's firing of
    // the new episode lands first, then AM2's resolution of the old one (its Prometheus started it
    // 1 s later, so its start is within START_SKEW of the new episode's). That resolution ended
    // before the stored episode started: it is an older episode's (stale), not this one's end;
    // taking it as this one's dropped the function to min and made every repeat of the firing
    // episode `stale` until it resolved.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (110, vec![firing("a", 100)]),
        (112, vec![ended("a", 1, 56)]),
        (140, vec![firing("a", 100)]),
    ]);
    assert_eq!(got, ["up", "up", "stale", "up-repeat"]);
}

#[test]
fn a_series_that_fires_again_within_the_cooldown_of_its_step_waits_for_its_repeat() {
    // Documented (README, "a new episode within the cooldown of the last move that way"): the
    // re-fired episode is recorded, not stepped on; a copy of it is a duplicate, and its
    // repeat_interval repeat steps.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (15, vec![ended("a", 0, 14)]),
        (18, vec![firing("a", 17)]),
        (19, vec![firing("a", 17)]),
        (48, vec![firing("a", 17)]),
    ]);
    assert_eq!(got, ["up", "down", "cooldown", "duplicate", "up-repeat"]);
}

#[test]
fn a_firing_down_alert_decides_over_an_up_alerts_resolution_in_the_same_notification() {
    // A route grouped by function alone can carry both. The firing alert measures (latency's
    // percentage, capacity's desired count); the resolution only says the up condition ended.
    let low = |status| Signal {
        direction: Direction::Down,
        ..signal("FunctionLatencyLow", "low", 20, status)
    };
    for order in [
        vec![resolved("a", 0), low(Status::Firing)],
        vec![low(Status::Firing), resolved("a", 0)],
    ] {
        let got = run(&[(10, vec![firing("a", 0)]), (60, order)]);
        let Trigger::Down { signal } = &got[1] else {
            panic!("expected a scale-down, got {:?}", got[1]);
        };
        assert_eq!(
            (signal.alertname.as_str(), signal.status),
            ("FunctionLatencyLow", Status::Firing)
        );
    }
    // The resolution is still recorded: its late firing retry is stale, and the down alert's next
    // copy is a duplicate of the decision taken for it.
    let got = kinds(&[
        (10, vec![firing("a", 0)]),
        (60, vec![resolved("a", 0), low(Status::Firing)]),
        (61, vec![firing("a", 0)]),
        (62, vec![low(Status::Firing)]),
    ]);
    assert_eq!(got, ["up", "down", "stale", "duplicate"]);
}

#[test]
fn a_late_firing_copy_stays_stale_when_one_notification_resolves_more_than_the_cap() {
    let settings = Timing::default();
    let n = settings.max_episodes + 8;
    let fps: Vec<String> = (0..n).map(|i| format!("{i:016x}")).collect();
    let all = |f: fn(&str, i64) -> Signal| fps.iter().map(|fp| f(fp, 0)).collect::<Vec<_>>();
    let ends = |fp: &str, starts| ended(fp, starts, 55);
    let mut entry = plan(&Entry::default(), &all(firing), t(10), &settings).next;
    entry.scaled_up = Some(t(10));
    let down = plan(&entry, &all(ends), t(60), &settings);
    assert!(matches!(down.trigger, Trigger::Down { .. }), "{down:?}");
    entry = down.next;
    entry.scaled_down = Some(t(60));
    // Past the scale-up cooldown, every episode's late firing copy (an HA peer's, or a retry of the
    // firing notification) is of an episode that ended: none may act.
    let late = t(60) + settings.cooldown / 2;
    for fp in &fps {
        let plan = plan(&entry, &[firing(fp, 0)], late, &settings);
        assert_eq!(kind(&plan.trigger), "stale", "{fp}: {plan:?}");
    }
    // Still bounded: the evicted ones are a fixed-size summary, not records.
    assert_eq!(entry.resolved.len(), settings.max_episodes);
    assert!(entry.folded.is_some());
    // The series firing anew after its end is a new episode, evicted or not.
    for fp in &fps {
        let plan = plan(&entry, &[firing(fp, 58)], late, &settings);
        assert_eq!(kind(&plan.trigger), "up", "{fp}");
    }
    // The summary is forgotten one cooldown after the resolution.
    let after = t(60) + settings.cooldown;
    assert!(plan(&entry, &[], after, &settings).next.folded.is_none());
}

/// A notification whose new resolutions push past the cap the very record that makes one of its
/// firing copies stale (found by `props::the_same_notification_over_the_episode_bound_twice_acts_once`):
/// its copy a second later found no record and stepped as a new episode.
#[test]
fn a_copy_stays_stale_when_its_own_notification_evicts_the_record_that_made_it_stale() {
    let settings = Timing {
        max_episodes: 2,
        ..Timing::default()
    };
    // "a" ran from 100 to 160 and is long resolved (older than the cooldown).
    let mut entry = plan(&Entry::default(), &[firing("a", 100)], t(110), &settings).next;
    entry.scaled_up = Some(t(110));
    entry = plan(&entry, &[ended("a", 100, 160)], t(160), &settings).next;
    let late = t(160) + settings.cooldown * 3;
    // A copy of an older episode of "a", beside two new resolutions that overflow the cap.
    let notification = [firing("a", 40), ended("b", 50, 150), ended("c", 60, 150)];
    // The resolutions decide (a scale-down); the stale copy holds.
    let first = plan(&entry, &notification, late, &settings);
    assert_eq!(kind(&first.trigger), "down", "{first:?}");
    assert!(first.next.resolved.len() <= settings.max_episodes);
    // The same notification again: the resolutions are replays, the copy still stale.
    let second = late + TimeDelta::seconds(1);
    let again = plan(&first.next, &notification, second, &settings);
    assert!(matches!(again.trigger, Trigger::Hold(_)), "{again:?}");
    let copy = plan(&first.next, &[firing("a", 40)], second, &settings);
    assert_eq!(kind(&copy.trigger), "stale", "{copy:?}");
    // Alone, long after, a copy of the newer episode's series firing anew is a new episode.
    let anew = plan(
        &again.next,
        &[firing("a", 300)],
        late + settings.cooldown * 2,
        &settings,
    );
    assert_eq!(kind(&anew.trigger), "up", "{anew:?}");
}

/// docs/policies.md: when one notification carries several alerts for a function, the first one
/// that triggers selects the policy, firing up-alerts first (ahead of a firing down-alert listed
/// before them).
#[test]
fn the_first_firing_up_alert_selects_the_policy_whatever_the_order() {
    let low = Signal {
        direction: Direction::Down,
        policy: Some(PolicyKind::Latency),
        ..signal("FunctionLatencyLow", "low", 0, Status::Firing)
    };
    let high = |name: &str, fp: &str, policy| Signal {
        policy: Some(policy),
        ..signal(name, fp, 0, Status::Firing)
    };
    let got = run(&[(
        10,
        vec![
            low,
            high("FunctionUnderProvisioned", "u", PolicyKind::Capacity),
            high("FunctionLatencyHigh", "h", PolicyKind::Latency),
        ],
    )]);
    let Trigger::Up { signal, .. } = &got[0] else {
        panic!("expected a scale-up, got {got:?}");
    };
    assert_eq!(
        (signal.alertname.as_str(), signal.policy),
        ("FunctionUnderProvisioned", Some(PolicyKind::Capacity))
    );
}

#[test]
fn a_decision_stamped_by_an_earlier_clock_never_moves_the_last_decision_back() {
    // A trigger that read its clock before waiting for the function's lock (another replica, a
    // pass that read its clock early) decides after one stamped later: the later stamp stays, so
    // the cooldown and the duplicate window count from the newest decision.
    let settings = Timing::default();
    let entry = Entry {
        last_up: Some(t(100)),
        last_down: Some(t(100)),
        ..Entry::default()
    };
    let up = plan(&entry, &[firing("a", 90)], t(98), &settings);
    assert!(matches!(up.trigger, Trigger::Up { .. }), "{:?}", up.trigger);
    assert_eq!(up.next.last_up, Some(t(100)));
    let down = plan(&entry, &[resolved("b", 50)], t(98), &settings);
    assert!(
        matches!(down.trigger, Trigger::Down { .. }),
        "{:?}",
        down.trigger
    );
    assert_eq!(down.next.last_down, Some(t(100)));
}
