//! Dry run (`dry_run = true`): every trigger goes through the one decision path and writes the
//! ledger as if the move were made, but no replica count; the decision is a hold, why `dry_run`.

use super::*;

fn dry_settings() -> Settings {
    let config = Config {
        dry_run: true,
        ..Config::default()
    };
    Settings::from_config(&config)
}

fn dry(replicas: u32) -> (Service, Arc<Counting>) {
    service_with(&[], replicas, dry_settings())
}

fn fire(starts: i64) -> Webhook {
    webhook("firing", "APIHighInvocationRate", &[], "10", starts)
}

#[tokio::test]
async fn a_firing_notification_moves_nothing_and_says_what_it_would_have_done() {
    let (svc, backend) = dry(1);
    let report = svc.handle(&fire(0), t(1)).await;
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.why),
        (Outcome::Unchanged, Some(Why::DryRun)),
        "{f:?}"
    );
    assert!(
        f.reason
            .starts_with("dry run: would scale 1 → 5 (APIHighInvocationRate firing: step"),
        "{}",
        f.reason
    );
    assert_eq!((f.from, f.to), (None, None), "nothing moved");
    assert_eq!(backend.replicas(&id()), Some(1));
    // The HA peer's copy is a duplicate: the ledger was written.
    let copy = svc.handle(&fire(0), t(2)).await;
    assert_eq!(copy.functions[0].why, Some(Why::Duplicate), "{copy:?}");
    // AlertManager's repeat after the cooldown would step again, from the real count.
    let repeat = svc.handle(&fire(0), t(40)).await;
    let f = &repeat.functions[0];
    assert_eq!(f.why, Some(Why::DryRun), "{f:?}");
    assert!(
        f.reason.starts_with("dry run: would scale 1 → 5 "),
        "{}",
        f.reason
    );
    assert_eq!(backend.replicas(&id()), Some(1));
}

#[tokio::test]
async fn a_new_episode_within_the_cooldown_of_a_would_be_move_waits_as_it_would() {
    let (svc, backend) = dry(1);
    svc.handle(&fire(0), t(1)).await;
    // Another episode of the alert (a new startsAt): the would-be move started the cooldown.
    let other = svc.handle(&fire(5), t(5)).await;
    assert_eq!(other.functions[0].why, Some(Why::Cooldown), "{other:?}");
    assert_eq!(backend.replicas(&id()), Some(1));
}

#[tokio::test]
async fn the_settle_pass_reports_the_would_be_scale_down_and_writes_no_replicas() {
    let (svc, backend) = dry(9);
    svc.handle(&fire(0), t(1)).await;
    let resolved = webhook("resolved", "APIHighInvocationRate", &[], "1", 0);
    let held = svc.handle(&resolved, t(100)).await;
    assert_eq!(held.functions[0].why, Some(Why::Stabilizing), "{held:?}");
    let listed = svc.backend().list().await.unwrap();
    assert_eq!(listed[0].settling_to, Some(1), "{listed:?}");
    let reports = svc.settle(t(1) + TimeDelta::seconds(301)).await.unwrap();
    assert_eq!(reports.len(), 1, "a would-be move is reported: {reports:?}");
    let f = &reports[0];
    assert_eq!(
        (f.outcome, f.why),
        (Outcome::Unchanged, Some(Why::DryRun)),
        "{f:?}"
    );
    assert!(
        f.reason.starts_with("dry run: would scale 9 → 1 ("),
        "{}",
        f.reason
    );
    assert_eq!(backend.replicas(&id()), Some(9));
    // Recorded as made: the window released, the next pass has nothing to do.
    let listed = svc.backend().list().await.unwrap();
    assert_eq!(listed[0].settling_to, None, "{listed:?}");
    assert!(svc.settle(t(1000)).await.unwrap().is_empty());
    let last = svc.audit().recent(Some(1));
    assert_eq!(last[0].trigger, "settle", "{last:?}");
}

#[tokio::test]
async fn the_decision_is_counted_as_dry_run_and_logged_at_info() {
    let (svc, _) = dry(1);
    let logs = Logs::default();
    let guard = logs.capture_json("info");
    svc.handle(&fire(0), t(1)).await;
    drop(guard);
    let text = svc.metrics().render();
    assert!(
        text.contains(r#"alertscaler_decisions_total{outcome="dry_run"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("alertscaler_scale_actions_total{"),
        "no scale is counted: {text}"
    );
    let logged = logs.text();
    let line = logged
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["fields"]["message"] == "decided")
        .expect("a decided line at info");
    assert_eq!(line["fields"]["outcome"], "dry_run", "{line}");
}

#[tokio::test]
async fn a_would_be_move_outlives_the_duplicates_in_the_audit_ring() {
    let (svc, _) = service_with(&[], 1, dry_settings());
    let svc = svc.with_audit(Arc::new(crate::audit::Audit::new(2)));
    svc.handle(&fire(0), t(1)).await;
    for at in 2..6 {
        svc.handle(&fire(0), t(at)).await;
    }
    let kept = svc.audit().recent(None);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].report.why, Some(Why::DryRun), "{kept:?}");
    assert_eq!(kept[1].report.why, Some(Why::Duplicate), "{kept:?}");
}

/// A firing capacity alert is re-read every few seconds: in dry run the real count never reaches
/// the desired one, so each follow-up would move again. How often it says so is what the test pins.
#[tokio::test]
async fn a_followed_capacity_alert_in_dry_run_says_its_would_be_move_once_per_cooldown() {
    let (svc, backend, desired) = measured_with(&[], 1, 4, dry_settings()).await;
    let under = [("scale_policy", "capacity"), ("scale_direction", "up")];
    let fire = webhook("firing", "FunctionUnderProvisioned", &under, "0", 0);
    let r = svc.handle(&fire, t(10)).await;
    assert_eq!(r.functions[0].why, Some(Why::DryRun), "{r:?}");
    assert_eq!(svc.followed_functions(), vec![id()]);
    let mut said = Vec::new();
    for at in (15..=60).step_by(5) {
        for report in svc.follow_up(t(at)).await {
            assert_eq!(report.why, Some(Why::DryRun), "{report:?}");
            said.push(at);
        }
    }
    // The notification said it at 10; the default cooldown is 20 s.
    assert_eq!(said, [30, 50], "follow-ups that reported a would-be move");
    assert_eq!(backend.replicas(&id()), Some(1));
    // A larger count is a new move, but the cooldown says when it is said.
    desired.store(7, SeqCst);
    let reports = svc.follow_up(t(65)).await;
    assert!(reports.is_empty(), "{reports:?}");
    let reports = svc.follow_up(t(70)).await;
    assert!(
        reports[0].reason.starts_with("dry run: would scale 1 → 7"),
        "{reports:?}"
    );
}
