//! Policies through the service: selected by the alert's `scale_policy` label, the latency hold
//! (which counts moves, also those stamped after `now`), CE's drop to min, late copies from an HA
//! peer, and refusals of values a policy cannot use.

use super::*;

#[tokio::test]
async fn policies_are_selected_by_the_alert_label() {
    let labels = [
        ("com.openfaas.scale.target", "10"),
        ("com.openfaas.scale.zero", "true"),
    ];
    let (svc, backend) = service(&labels, 2);
    // Proportional: 90 / 9 = 10 wanted from 2, capacity 20, 90 ≥ 40 → panic → 10.
    let p = [("scale_policy", "proportional")];
    let r = svc
        .handle(
            &webhook("firing", "APIHighInvocationRate", &p, "90", 0),
            t(1),
        )
        .await;
    assert_eq!(r.functions[0].to, Some(10), "{:?}", r.functions[0]);
    assert!(r.functions[0].reason.contains("load 90 (annotation)"));
    // Latency high: +50% of 10 = 15.
    let lat = [("scale_policy", "latency"), ("scale_direction", "up")];
    let r = svc
        .handle(
            &webhook("firing", "FunctionLatencyHigh", &lat, "0.9", 5),
            t(30),
        )
        .await;
    assert_eq!(r.functions[0].to, Some(15), "{:?}", r.functions[0]);
    // Idle while up alerts still fire: held.
    let idle = [("scale_policy", "zero"), ("scale_direction", "down")];
    let r = svc
        .handle(&webhook("firing", "FunctionIdle", &idle, "0", 50), t(400))
        .await;
    assert_eq!(
        r.functions[0].why,
        Some(Why::StillFiring),
        "{:?}",
        r.functions[0]
    );
    for (name, labels, starts) in [
        ("APIHighInvocationRate", &p[..], 0),
        ("FunctionLatencyHigh", &lat[..], 5),
    ] {
        svc.handle(&webhook("resolved", name, labels, "0", starts), t(401))
            .await;
    }
    // Once they resolved and the window has passed the last recommendation (15 at t(30)): 0.
    let r = svc
        .handle(&webhook("firing", "FunctionIdle", &idle, "0", 60), t(1000))
        .await;
    assert_eq!(r.functions[0].to, Some(0), "{:?}", r.functions[0]);
    assert_eq!(backend.replicas(&id()), Some(0));
    // Unknown policy: refused while the payload becomes intents, before any backend call.
    let bad = [("scale_policy", "magic")];
    let reads = backend.reads();
    let r = svc
        .handle(&webhook("firing", "X", &bad, "1", 70), t(1100))
        .await;
    assert!(r.functions.is_empty(), "{:?}", r.functions);
    assert_eq!(r.skipped[0].outcome, "refused");
    // The reason names the value and the known policies.
    for needle in [
        "\"magic\"",
        "step",
        "proportional",
        "latency",
        "zero",
        "capacity",
    ] {
        assert!(
            r.skipped[0].reason.contains(needle),
            "{needle}: {}",
            r.skipped[0].reason
        );
    }
    assert_eq!(
        backend.reads(),
        reads,
        "no backend read for an unknown policy"
    );
}

#[tokio::test]
async fn an_idle_window_too_long_to_add_is_refused_not_a_panic() {
    let (svc, backend) = service(&[("com.openfaas.scale.zero", "true")], 3);
    // Each part within a million units; together nearly i64::MAX milliseconds (~122 KB), which with
    // six years since startsAt overflowed a TimeDelta (a panic on input).
    let window = format!("{}284000w3000d", "1000000w".repeat(15_250));
    let down = [("scale_direction", "down"), ("scale_policy", "zero")];
    let mut idle = webhook("firing", "FunctionIdle", &down, "0", -200_000_000);
    idle.alerts[0].annotations.insert("window".into(), window);
    let report = svc.handle(&idle, t(0)).await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Refused, "{report:?}");
    assert!(f.reason.contains("not a duration"), "{}", f.reason);
    assert_eq!(backend.replicas(&id()), Some(3));
}

#[tokio::test]
async fn the_latency_hold_counts_moves_not_alerts() {
    // (a) An up alert's resolution that moves nothing does not start the hold against scale-ups.
    let (svc, backend) = service(&[], 4);
    let latency = [("scale_policy", "latency"), ("scale_direction", "up")];
    let high = |status, starts| webhook(status, "FunctionLatencyHigh", &latency, "0.8", starts);
    svc.handle(&high("firing", 0), t(0)).await;
    assert_eq!(backend.replicas(&id()), Some(6));
    let r = svc.handle(&high("resolved", 0), t(60)).await;
    assert_eq!(r.functions[0].why, Some(Why::InBand), "{r:?}");
    let r = svc.handle(&high("firing", 110), t(120)).await;
    assert_eq!(r.functions[0].to, Some(9), "{r:?}");

    // (b) A scale-down the settle pass carries out does start it.
    let (svc, backend) = service(&[], 1);
    let rate = |status| webhook(status, "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&rate("firing"), t(0)).await;
    assert_eq!(backend.replicas(&id()), Some(5));
    let r = svc.handle(&rate("resolved"), t(30)).await;
    assert_eq!(r.functions[0].why, Some(Why::Stabilizing), "{r:?}");
    svc.settle(t(301)).await.unwrap();
    assert_eq!(backend.replicas(&id()), Some(1));
    let r = svc.handle(&high("firing", 330), t(340)).await;
    assert_eq!(r.functions[0].why, Some(Why::OppositeHold), "{r:?}");
    assert_eq!(backend.replicas(&id()), Some(1));
}

#[tokio::test]
async fn the_latency_hold_counts_a_scale_down_stamped_after_now() {
    // docs/policies.md: no scale-up within the hold after the last scale-down; a recommendation
    // stamped after `now` (another replica's clock ahead, a pass that read its clock early)
    // counts for the window, and the ledger's cooldown counts such stamps too.
    let (svc, backend) = service(&[], 8);
    let low = [("scale_policy", "latency"), ("scale_direction", "down")];
    let high = [("scale_policy", "latency"), ("scale_direction", "up")];
    let r = svc
        .handle(
            &webhook("firing", "FunctionLatencyLow", &low, "0.01", 90),
            t(100),
        )
        .await;
    assert_eq!(
        (r.functions[0].from, r.functions[0].to),
        (Some(8), Some(6)),
        "{r:?}"
    );
    // A decision whose clock reads 2 s earlier (same real moment, skewed clock).
    let r = svc
        .handle(
            &webhook("firing", "FunctionLatencyHigh", &high, "0.9", 95),
            t(98),
        )
        .await;
    assert_eq!(
        r.functions[0].why,
        Some(Why::OppositeHold),
        "scaled up 2 s after a scale-down: {r:?}"
    );
    assert_eq!(backend.replicas(&id()), Some(6));
}

#[tokio::test]
async fn ce_mode_drops_to_min_also_after_a_move_stamped_after_now() {
    // `scale_down = "ce"`: straight to min (window 0). A decision whose clock reads 1 s behind
    // the one that recorded the step (another replica, or a pass that read its clock early).
    let mut settings = Settings::from_config(&Config::default());
    settings.policy.scale_down = crate::policy::ScaleDown::Ce;
    let (svc, backend) = service_with(&[], 1, settings);
    svc.handle(
        &webhook("firing", "APIHighInvocationRate", &[], "10", 0),
        t(100),
    )
    .await;
    assert_eq!(backend.replicas(&id()), Some(5));
    let r = svc
        .handle(
            &webhook("resolved", "APIHighInvocationRate", &[], "1", 0),
            t(99),
        )
        .await;
    assert_eq!(
        (r.functions[0].from, r.functions[0].to),
        (Some(5), Some(1)),
        "ce mode held the drop to min: {r:?}"
    );
}

#[tokio::test]
async fn an_ha_peers_late_firing_copy_does_not_step_a_resolved_episode_again() {
    // README: a late firing retry of an episode that already resolved is `stale`, also from an HA
    // peer whose Prometheus started the episode an evaluation interval later.
    let mut settings = Settings::from_config(&Config::default());
    settings.policy.scale_down = crate::policy::ScaleDown::Ce;
    let (svc, backend) = service_with(&[], 1, settings);
    let rate = |status, starts| webhook(status, "APIHighInvocationRate", &[], "10", starts);
    svc.handle(&rate("firing", 0), t(1)).await;
    assert_eq!(backend.replicas(&id()), Some(5));
    let mut resolution = rate("resolved", 0);
    resolution.alerts[0].ends_at = Some(t(55));
    svc.handle(&resolution, t(60)).await;
    assert_eq!(backend.replicas(&id()), Some(1));
    // The peer's retried firing copy of the same episode, which started 1 s later.
    let r = svc.handle(&rate("firing", 1), t(62)).await;
    assert_eq!(r.functions[0].why, Some(Why::Stale), "{r:?}");
    assert_eq!(backend.replicas(&id()), Some(1));
    // endsAt travels through the parser: the same resolution as a body.
    let body = serde_json::to_vec(&resolution).unwrap();
    let parsed = alert::parse(&body).unwrap();
    assert_eq!(parsed.alerts[0].ends_at, Some(t(55)));
}

#[tokio::test]
async fn a_firing_latency_low_decides_over_a_latency_high_resolution_in_one_notification() {
    // A route grouped by function alone: one notification ends FunctionLatencyHigh and fires
    // FunctionLatencyLow. The resolution alone moves nothing under the latency policy; the down
    // alert's percentage must apply now, not at its next repeat.
    let (svc, backend) = service(&[], 8);
    let low = [("scale_policy", "latency"), ("scale_direction", "down")];
    let high = [("scale_policy", "latency"), ("scale_direction", "up")];
    let mut both = webhook("resolved", "FunctionLatencyHigh", &high, "0.9", 20);
    both.alerts
        .extend(webhook("firing", "FunctionLatencyLow", &low, "0.01", 90).alerts);
    let r = svc.handle(&both, t(100)).await;
    assert_eq!(
        (r.functions[0].from, r.functions[0].to),
        (Some(8), Some(6)),
        "{r:?}"
    );
    assert_eq!(backend.replicas(&id()), Some(6));
}
