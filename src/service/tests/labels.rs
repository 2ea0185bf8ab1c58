//! Labels that change or go bad after a decision: every trigger decides on the labels it reads
//! now, never on those of the hold, and a refusal is recorded, counted and logged at info once
//! however often the background passes meet it.

use super::*;

#[tokio::test]
async fn a_held_scale_down_with_bad_labels_is_refused_once_and_settles_when_mended() {
    let (svc, backend) = service(&[], 1);
    hold_a_scale_down(&svc).await;
    assert_eq!(backend.replicas(&id()), Some(5));
    let recorded = svc.audit().recent(None).len();
    // The labels break while the scale-down is held: the first pass records the refusal, the
    // passes after it (every 15 s) do not repeat it.
    backend.bad_labels.store(true, SeqCst);
    let reports = svc.settle(t(400)).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].outcome, Outcome::Refused, "{reports:?}");
    for pass in 1..4 {
        let reports = svc.settle(t(400 + 15 * pass)).await.unwrap();
        assert!(reports.is_empty(), "{reports:?}");
    }
    assert_eq!(svc.audit().recent(None).len(), recorded + 1);
    // Mended: the held scale-down goes through.
    backend.bad_labels.store(false, SeqCst);
    let reports = svc.settle(t(500)).await.unwrap();
    assert_eq!((reports[0].from, reports[0].to), (Some(5), Some(1)));
    assert_eq!(backend.replicas(&id()), Some(1));
}

/// Labels changed after a scale-down was held (a redeploy that pins the function, raises its min or
/// lowers its max): the settle pass decides on the labels it reads now, never on those of the hold,
/// and writes nothing outside their [min, max]. Held: 5 → 1 (a step to 5 at 1 s, resolved at 100 s,
/// the window holding 5 until 301 s).
#[tokio::test]
async fn the_settle_pass_enforces_labels_changed_after_the_hold() {
    // (labels laid over after the hold, when the pass runs, replicas after it)
    type Case = (&'static [(&'static str, &'static str)], i64, u32);
    let cases: [Case; 5] = [
        (&[], 400, 1),
        // Pinned: to the pinned count, not to the held target 1.
        (&[(MIN, "3"), (MAX, "3")], 400, 3),
        // Min raised above the held target: to the new min.
        (&[(MIN, "4")], 400, 4),
        // Min raised above the replicas: nothing moves (the pass never scales up).
        (&[(MIN, "6"), (MAX, "8")], 400, 5),
        // Max lowered below the count the window holds, within the window: to max at once.
        (&[(MAX, "2")], 200, 2),
    ];
    for (relabel, at, want) in cases {
        let (svc, backend) = service(&[], 1);
        let rate = |status| webhook(status, "APIHighInvocationRate", &[], "10", 0);
        svc.handle(&rate("firing"), t(1)).await;
        let held = svc.handle(&rate("resolved"), t(100)).await;
        assert_eq!(held.functions[0].why, Some(Why::Stabilizing), "{held:?}");
        *backend.relabel.lock().unwrap() = relabel.to_vec();
        let reports = svc.settle(t(at)).await.unwrap();
        assert_eq!(
            backend.replicas(&id()),
            Some(want),
            "{relabel:?}: {reports:?}"
        );
    }
}

/// A sleep held by the window (zero=true, min 2), then `com.openfaas.scale.zero` removed: the settle
/// pass takes the function to its min, never to 0; with the label kept, to 0.
#[tokio::test]
async fn the_settle_pass_never_finishes_a_sleep_the_labels_no_longer_allow() {
    for (relabel, want) in [(None, 0), (Some((ZERO, "false")), 2), (Some((MIN, "3")), 0)] {
        let (svc, backend) = service(&[(MIN, "2"), (ZERO, "true")], 2);
        let rate = |status| webhook(status, "APIHighInvocationRate", &[], "10", 0);
        svc.handle(&rate("firing"), t(1)).await;
        svc.handle(&rate("resolved"), t(100)).await;
        let down = [("scale_policy", "zero"), ("scale_direction", "down")];
        let idle = webhook("firing", "FunctionIdle", &down, "0", 120);
        let held = svc.handle(&idle, t(120)).await;
        assert_eq!(held.functions[0].why, Some(Why::Stabilizing), "{held:?}");
        *backend.relabel.lock().unwrap() = relabel.into_iter().collect();
        let reports = svc.settle(t(400)).await.unwrap();
        assert_eq!(
            backend.replicas(&id()),
            Some(want),
            "{relabel:?}: {reports:?}"
        );
    }
}

/// A sleep held by the window after `FunctionIdle` (window 15m) said the function had been idle for
/// its zero-duration (15m), then `com.openfaas.scale.zero-duration` raised to 60m: the settle pass
/// keeps holding until the function has been idle for 60m, then finishes the sleep.
#[tokio::test]
async fn the_settle_pass_waits_for_a_zero_duration_raised_after_the_hold() {
    let (svc, backend) = service(&[(MIN, "2"), (ZERO, "true")], 2);
    let rate = |status| webhook(status, "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&rate("firing"), t(1)).await;
    svc.handle(&rate("resolved"), t(100)).await;
    let mut idle = idle(120);
    idle.alerts[0]
        .annotations
        .insert("window".into(), "15m".into());
    let held = svc.handle(&idle, t(120)).await;
    assert_eq!(held.functions[0].why, Some(Why::Stabilizing), "{held:?}");
    *backend.relabel.lock().unwrap() = vec![("com.openfaas.scale.zero-duration", "60m")];
    // Idle since 120 - 900 s: 60m are over at 2820 s. The window (300 s) has passed long before.
    let idle_since = 120 - 900;
    // Meanwhile the held scale-down goes to min (what the resolution asked), and no lower.
    let reports = svc.settle(t(400)).await.unwrap();
    assert_eq!(backend.replicas(&id()), Some(2), "{reports:?}");
    for at in [1500, idle_since + 3600 - 1] {
        let reports = svc.settle(t(at)).await.unwrap();
        assert_eq!(backend.replicas(&id()), Some(2), "at {at}: {reports:?}");
        assert!(reports.is_empty(), "nothing moved at {at}: {reports:?}");
    }
    // The sleep was still held: the pass that finds the 60m over finishes it.
    let reports = svc.settle(t(idle_since + 3600)).await.unwrap();
    assert_eq!(backend.replicas(&id()), Some(0), "{reports:?}");
}

/// The other background triggers read the labels too: a lost resolution decided after min was
/// raised goes to the new min; a follow-up after max was lowered stops at the new max.
#[tokio::test]
async fn a_lapse_and_a_follow_up_decide_on_the_labels_read_now() {
    let ttl = Settings::from_config(&Config::default()).timing.episode_ttl;
    let (svc, backend) = service(&[], 1);
    let rate = webhook("firing", "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&rate, t(1)).await;
    svc.handle(&rate, t(40)).await;
    assert_eq!(backend.replicas(&id()), Some(9));
    *backend.relabel.lock().unwrap() = vec![(MIN, "4")];
    let reports = svc.settle(t(40) + ttl).await.unwrap();
    assert_eq!(backend.replicas(&id()), Some(4), "{reports:?}");

    let (svc, backend, desired) = measured(&[], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(4));
    *backend.relabel.lock().unwrap() = vec![(MAX, "6")];
    desired.store(9, SeqCst);
    let reports = svc.follow_up(t(15)).await;
    assert_eq!(backend.replicas(&id()), Some(6), "{reports:?}");
    // Pinned below the replicas: autoscaling is off, nothing is written.
    *backend.relabel.lock().unwrap() = vec![(MIN, "2"), (MAX, "2")];
    desired.store(12, SeqCst);
    let reports = svc.follow_up(t(40)).await;
    assert_eq!(backend.replicas(&id()), Some(6), "{reports:?}");
}

#[tokio::test]
async fn labels_gone_bad_mid_episode_are_refused_once_and_the_repeat_follows_again() {
    let (svc, backend, desired) = measured(&[], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    let recorded = svc.audit().recent(None).len();
    // The labels break while the alert fires: the pass records the refusal once and lets go,
    // instead of a refusal every pass until the alert resolves.
    backend.bad_labels.store(true, SeqCst);
    desired.store(7, SeqCst);
    let reports = svc.follow_up(t(15)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].outcome, Outcome::Refused, "{reports:?}");
    assert!(svc.followed_functions().is_empty());
    assert!(svc.follow_up(t(20)).await.is_empty());
    assert_eq!(svc.audit().recent(None).len(), recorded + 1);
    assert_eq!(backend.replicas(&id()), Some(4));
    // Mended; AlertManager's next repeat names the function again and the follow-up resumes.
    backend.bad_labels.store(false, SeqCst);
    svc.handle(&under("firing", 0), t(40)).await;
    assert_eq!(svc.followed_functions(), vec![id()]);
    assert_eq!(backend.replicas(&id()), Some(7));
    desired.store(9, SeqCst);
    svc.follow_up(t(45)).await;
    assert_eq!(backend.replicas(&id()), Some(9));
}

#[tokio::test]
async fn a_settle_refusal_is_said_once_whatever_the_audit_ring_keeps() {
    for capacity in [0, 3] {
        let (svc, backend) = service(&[], 1);
        let svc = svc.with_audit(Arc::new(crate::audit::Audit::new(capacity)));
        hold_a_scale_down(&svc).await;
        assert_eq!(backend.replicas(&id()), Some(5));
        backend.bad_labels.store(true, SeqCst);
        let mut refused = svc.settle(t(400)).await.unwrap().len();
        // Other functions' decisions roll a small ring over in between.
        for i in 0..3 {
            let mut other = webhook("firing", "APIHighInvocationRate", &[], "10", i);
            other.alerts[0]
                .labels
                .insert("function_name".into(), format!("other{i}"));
            svc.handle(&other, t(401)).await;
        }
        for pass in 1..4 {
            refused += svc.settle(t(400 + 15 * pass)).await.unwrap().len();
        }
        assert_eq!(refused, 1, "audit capacity {capacity}");
        // Counted once too: the settle refusal and the three unknown functions' refusals.
        let metrics = svc.metrics().render();
        assert!(
            metrics.contains("alertscaler_decisions_total{outcome=\"refused\"} 4\n"),
            "audit capacity {capacity}: {metrics}"
        );
    }
}

/// A held scale-down whose function's labels went bad is refused by every settle pass until they are
/// mended; the refusal is logged at info once (a pass every 15 s would otherwise repeat it), later
/// passes log it at debug.
#[tokio::test]
async fn a_settle_refusal_is_logged_at_info_once() {
    let (svc, backend) = service(&[], 1);
    hold_a_scale_down(&svc).await;
    backend.bad_labels.store(true, SeqCst);
    let logs = Logs::default();
    {
        let _logging = logs.capture_json("info");
        for pass in 0..4 {
            svc.settle(t(400 + 15 * pass)).await.unwrap();
        }
    }
    let text = logs.text();
    let refused = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| {
            line["fields"]["message"] == "decided" && line["fields"]["outcome"] == "refused"
        })
        .count();
    assert_eq!(refused, 1, "{text}");
    assert_eq!(backend.replicas(&id()), Some(5), "nothing written");
}
