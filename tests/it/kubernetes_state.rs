//! The state ConfigMap through the real kube client against the fake apiserver: what survives a
//! faas-netes redeploy, a redeploy racing two receivers, how a write left unconfirmed is settled by
//! the next read (completed, rolled back or kept), and migration from the old annotation.

use crate::support::kube as support;

use std::sync::Arc;

use alertscaler::service::Outcome;
use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use support::apiserver::{Action, CONFIGMAPS, FakeApiserver, function_deployment, redeploy};
use support::{
    FINGERPRINT, FN_NS, assert_moved, config, echo, echo_cluster, episode_recorded, firing,
    has_pending, is_duplicate, now, receiver, stored_ledger,
};

#[tokio::test]
async fn after_a_redeploy_an_applied_episode_is_still_a_duplicate() {
    let (fake, cfg) = echo_cluster().await;
    let webhook = firing("echo.openfaas-fn");
    let first = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert_eq!(first.functions[0].outcome, Outcome::Scaled, "{first:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));

    redeployed_then_repeated(&fake, &cfg, &webhook, "no second step").await;
}

/// faas-cli deploy (annotations replaced wholesale, replicas reset to min), then AlertManager's
/// repeat of `webhook` 5 s later: a duplicate, no step (`why` says what was at stake).
async fn redeployed_then_repeated(
    fake: &FakeApiserver,
    cfg: &alertscaler::config::Config,
    webhook: &alertscaler::alert::Webhook,
    why: &str,
) {
    fake.change(FN_NS, "echo", redeploy);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    let later = now() + chrono::TimeDelta::seconds(5);
    let again = receiver(fake, cfg).handle(webhook, later).await;
    assert!(is_duplicate(&again), "{again:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1), "{why}");
}

#[tokio::test]
async fn two_receivers_and_a_redeploy_racing_on_one_episode_give_one_step() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    // Both receivers read the same versions; the redeploy lands just before the first replica write.
    fake.fault(
        Some(Method::GET),
        Action::Gate(Arc::new(Barrier::new(2))),
        Some(2),
    );
    fake.fault(
        Some(Method::PATCH),
        Action::Interfere(Arc::new(redeploy)),
        Some(1),
    );
    let cfg = config(&[FN_NS]);
    let (a, b) = (receiver(&fake, &cfg), receiver(&fake, &cfg));
    let webhook = firing("echo.openfaas-fn");

    let (ra, rb) = tokio::join!(a.handle(&webhook, now()), b.handle(&webhook, now()));

    let scaled = [&ra, &rb]
        .iter()
        .filter(|r| r.functions[0].outcome == Outcome::Scaled)
        .count();
    assert!(scaled <= 1, "{ra:?} {rb:?}");
    assert!(!ra.has_errors() && !rb.has_errors(), "{ra:?} {rb:?}");
    assert_eq!(
        fake.replicas(FN_NS, "echo"),
        Some(3),
        "exactly one step of 2 from min"
    );
    assert!(
        fake.count(&Method::PATCH) >= 2,
        "the redeploy made a replica write conflict"
    );
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
    // And a third copy of the notification is a duplicate.
    let third = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert!(is_duplicate(&third), "{third:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
}

#[tokio::test]
async fn the_annotation_ledger_is_migrated_into_the_state_configmap() {
    // A ledger written by an older version, on the Deployment.
    let (old, cfg) = echo_cluster().await;
    let webhook = firing("echo.openfaas-fn");
    receiver(&old, &cfg).handle(&webhook, now()).await;
    let text = serde_json::to_string(&stored_ledger(&old, FN_NS, "echo").unwrap()).unwrap();

    let fake = FakeApiserver::start().await;
    let labels = [
        ("com.openfaas.scale.min", "1"),
        ("com.openfaas.scale.max", "10"),
    ];
    let mut d = function_deployment("echo", FN_NS, Some(3), &labels);
    d["metadata"]["annotations"]["alertscaler.openfaas.com/ledger"] = Value::String(text);
    fake.put(d);
    let again = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert!(is_duplicate(&again), "read from the annotation: {again:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));

    let other =
        support::notification_json(&[("echo.openfaas-fn", "00000000000000bb", "Other", "firing")]);
    let other = alertscaler::alert::parse(other.as_bytes()).unwrap();
    let after_cooldown = now() + chrono::TimeDelta::seconds(300);
    let report = receiver(&fake, &cfg).handle(&other, after_cooldown).await;
    assert_eq!(report.functions[0].outcome, Outcome::Scaled, "{report:?}");
    let ledger = stored_ledger(&fake, FN_NS, "echo").expect("state ConfigMap created");
    assert!(
        ledger["firing"][FINGERPRINT].is_object()
            && ledger["firing"]["00000000000000bb"].is_object(),
        "{ledger}"
    );
    let cm = fake
        .get_on(support::apiserver::CONFIGMAPS, FN_NS, "alertscaler-echo")
        .unwrap();
    let owner = &cm["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Deployment"), Some("echo"))
    );
    assert_eq!(
        owner["uid"],
        fake.get(FN_NS, "echo").unwrap()["metadata"]["uid"]
    );
}

/// A write whose answer was a 500 stays recorded as pending (its outcome is unknown).
async fn leave_pending(fake: &FakeApiserver) {
    fake.fault(Some(Method::PATCH), Action::Status(500), None);
    let report = receiver(fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert!(report.has_errors(), "{report:?}");
    fake.clear_faults();
    assert!(has_pending(fake, FN_NS, "echo") && fake.replicas(FN_NS, "echo") == Some(1));
}

#[tokio::test]
async fn a_pending_write_that_can_no_longer_land_is_rolled_back_and_decided_again() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    leave_pending(&fake).await;
    // Someone writes the Deployment without changing replicas: the recorded write, conditioned on
    // the old version, can never land now.
    fake.change(FN_NS, "echo", |d| {
        d["metadata"]["labels"]["team"] = json!("a")
    });
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_moved(&report, Outcome::Scaled, 1, 3);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
}

/// The retry of a notification whose write was left pending (its answer a 500, not landed)
/// completes it and reports that move, once: in the answer, the audit and the metrics.
#[tokio::test]
async fn a_pending_write_completed_by_the_retry_is_reported_as_the_move() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    leave_pending(&fake).await;
    let service = receiver(&fake, &config(&[FN_NS]));
    let report = service.handle(&firing("echo.openfaas-fn"), now()).await;
    let f = assert_moved(&report, Outcome::Scaled, 1, 3);
    assert!(
        f.reason.contains("was sent again") && f.reason.contains("then duplicate"),
        "{}",
        f.reason
    );
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert!(!has_pending(&fake, FN_NS, "echo"));
    let recorded = service.audit().recent(None);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].report.outcome, Outcome::Scaled);
}

#[tokio::test]
async fn a_pending_write_overtaken_by_another_writer_keeps_the_episode() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    leave_pending(&fake).await;
    fake.change(FN_NS, "echo", |d| d["spec"]["replicas"] = json!(7));
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert!(is_duplicate(&report), "{report:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(7), "not stepped on top");
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
}

/// Whatever fails once on the way, two receivers given one notification and AlertManager's retries
/// (until one answers 200) step the function exactly once.
#[tokio::test]
async fn any_single_failure_with_two_receivers_and_retries_gives_one_step() {
    use std::time::Duration;
    use support::apiserver::{CONFIGMAPS, DEPLOYMENTS};
    let cases: [(&str, &'static str, Method, Action); 7] = [
        ("none", DEPLOYMENTS, Method::PUT, Action::Status(500)),
        (
            "500 on the replica write",
            DEPLOYMENTS,
            Method::PATCH,
            Action::Status(500),
        ),
        (
            "replica write commits, answer lost",
            DEPLOYMENTS,
            Method::PATCH,
            Action::CommitThenDelay(Duration::from_millis(1500)),
        ),
        (
            "503 on the intent",
            CONFIGMAPS,
            Method::POST,
            Action::Status(503),
        ),
        (
            "intent commits, answer lost",
            CONFIGMAPS,
            Method::POST,
            Action::CommitThenDelay(Duration::from_millis(1500)),
        ),
        (
            "503 on the confirm",
            CONFIGMAPS,
            Method::PATCH,
            Action::Status(503),
        ),
        (
            "redeploy before the replica write",
            DEPLOYMENTS,
            Method::PATCH,
            Action::Interfere(Arc::new(redeploy)),
        ),
    ];
    for (case, resource, method, action) in cases {
        let (fake, mut cfg) = echo_cluster().await;
        // The deployment controller writes the status after the scale: the retries read a newer
        // version than the write's, so a landed write is recognised by its replicas.
        fake.deployment_controller();
        cfg.kubernetes.request_timeout_secs = 1;
        fake.fault(
            Some(Method::GET),
            Action::Gate(Arc::new(Barrier::new(2))),
            Some(2),
        );
        fake.fault_on(resource, Some(method), action, Some(1));
        let webhook = firing("echo.openfaas-fn");
        let (a, b) = (receiver(&fake, &cfg), receiver(&fake, &cfg));
        let (ra, rb) = tokio::join!(a.handle(&webhook, now()), b.handle(&webhook, now()));
        let mut ok = !ra.has_errors() || !rb.has_errors();
        // AlertManager retries (bounded) until a receiver answers 200.
        for _ in 0..3 {
            if ok {
                break;
            }
            ok = !receiver(&fake, &cfg)
                .handle(&webhook, now())
                .await
                .has_errors();
        }
        assert!(ok, "{case}: no 200 after retries");
        // One more copy (an HA duplicate) changes nothing.
        let late = receiver(&fake, &cfg).handle(&webhook, now()).await;
        assert!(is_duplicate(&late), "{case}: {late:?}");
        assert_eq!(
            fake.replicas(FN_NS, "echo"),
            Some(3),
            "{case}: exactly one step of 2"
        );
        assert!(
            episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"),
            "{case}"
        );
        assert_eq!(
            fake.status_writes(),
            1,
            "{case}: one scale, one status write"
        );
    }
}

/// echo fired once while its confirm (the first ConfigMap PATCH; the intent is a create) answers
/// 503 `times` times: the fake, the configuration, the notification and its report.
async fn confirm_refused(
    times: usize,
) -> (
    FakeApiserver,
    alertscaler::config::Config,
    alertscaler::alert::Webhook,
    alertscaler::service::Report,
) {
    let (fake, cfg) = echo_cluster().await;
    let webhook = firing("echo.openfaas-fn");
    fake.fault_on(
        CONFIGMAPS,
        Some(Method::PATCH),
        Action::Status(503),
        Some(times),
    );
    let first = receiver(&fake, &cfg).handle(&webhook, now()).await;
    (fake, cfg, webhook, first)
}

/// The replica patch landed but its confirm is refused once (a 503 on the ConfigMap PATCH): the
/// confirm is sent again, so the record is not left pending, and a redeploy (replicas back to
/// min, the write's `from`) before AlertManager's repeat cannot make the episode step again.
#[tokio::test]
async fn a_confirm_refused_once_is_sent_again_and_a_redeploy_keeps_the_episode() {
    let (fake, cfg, webhook, first) = confirm_refused(1).await;
    assert_eq!(first.functions[0].outcome, Outcome::Scaled, "{first:?}");
    assert!(
        !has_pending(&fake, FN_NS, "echo"),
        "confirmed on the second try"
    );
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));

    redeployed_then_repeated(&fake, &cfg, &webhook, "one step per episode").await;
}

/// A confirm that keeps failing is an error (503 to AlertManager) that reports the move, not a quiet
/// `scaled`: the retry AlertManager then sends reads the record while the replicas show the target,
/// keeps the episode and holds the notification as a duplicate (the move is not reported twice).
#[tokio::test]
async fn a_confirm_that_keeps_failing_is_answered_with_an_error_and_the_retry_keeps_the_episode() {
    let (fake, cfg, webhook, first) = confirm_refused(3).await;
    assert!(first.has_errors(), "{first:?}");
    let f = assert_moved(&first, Outcome::Error, 1, 3);
    assert!(f.reason.contains("scaled 1 → 3"), "{}", f.reason);
    assert_eq!(f.reason.matches("unavailable").count(), 1, "{}", f.reason);
    assert!(!f.reason.contains("  "), "{:?}", f.reason);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert!(has_pending(&fake, FN_NS, "echo"));

    let retry = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert!(is_duplicate(&retry), "{retry:?}");
    assert!(!has_pending(&fake, FN_NS, "echo"));
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
}

/// The state ConfigMap disappears between the read and the write (deleted by hand to reset a
/// ledger, or by the garbage collector after the function was removed and deployed again): the
/// 404 on its PATCH means "read again", not "no such function" (which answered 200 and lost the
/// alert).
#[tokio::test]
async fn a_state_configmap_gone_between_read_and_write_is_read_again() {
    let (fake, cfg) = echo_cluster().await;
    let first = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(first.functions[0].outcome, Outcome::Scaled, "{first:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));

    let other =
        support::notification_json(&[("echo.openfaas-fn", "00000000000000aa", "Other", "firing")]);
    let other = alertscaler::alert::parse(other.as_bytes()).unwrap();
    fake.fault_on(
        CONFIGMAPS,
        Some(Method::PATCH),
        Action::Status(404),
        Some(1),
    );
    let later = now() + chrono::TimeDelta::seconds(300);
    let report = receiver(&fake, &cfg).handle(&other, later).await;
    assert_moved(&report, Outcome::Scaled, 3, 5);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
}

/// Two receivers (HA): A's replica patch lands and its confirm is slow; B, given the same
/// notification meanwhile, settles A's record as landed. A reports the move when its confirm is
/// refused (B closed the record); B, while A may still be at work, does not report it again.
#[tokio::test]
async fn two_receivers_report_one_move_once() {
    use std::time::Duration;
    let (fake, cfg) = echo_cluster().await;
    fake.fault_on(
        CONFIGMAPS,
        Some(Method::PATCH),
        Action::Delay(Duration::from_millis(800)),
        Some(1),
    );
    let webhook = firing("echo.openfaas-fn");
    let a = receiver(&fake, &cfg);
    let first = tokio::spawn({
        let webhook = webhook.clone();
        async move { a.handle(&webhook, now()).await }
    });
    for _ in 0..400 {
        if fake.replicas(FN_NS, "echo") == Some(3) && has_pending(&fake, FN_NS, "echo") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rb = receiver(&fake, &cfg).handle(&webhook, now()).await;
    let ra = first.await.unwrap();
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3), "one step");
    let scaled = [&ra, &rb]
        .iter()
        .filter(|r| r.functions[0].outcome == Outcome::Scaled)
        .count();
    assert_eq!(scaled, 1, "one move, reported once:\nA {ra:?}\nB {rb:?}");
    assert!(is_duplicate(&rb), "{rb:?}");
}

/// The retry's read completes the pending write (1 → 3, sent again), then its second read of the
/// Deployment fails (a 500): the move is kept for the next read, whose decision reports it.
#[tokio::test]
async fn a_move_settled_by_a_read_that_then_fails_is_reported_by_the_next() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    leave_pending(&fake).await;
    // The first GET of the Deployment is served; the second (the re-read after settling) fails.
    fake.fault(
        Some(Method::GET),
        Action::Delay(std::time::Duration::ZERO),
        Some(1),
    );
    fake.fault(Some(Method::GET), Action::Status(500), Some(1));
    let service = receiver(&fake, &config(&[FN_NS]));
    let report = service.handle(&firing("echo.openfaas-fn"), now()).await;
    assert_eq!(
        fake.replicas(FN_NS, "echo"),
        Some(3),
        "the settle sent it again"
    );
    assert!(!has_pending(&fake, FN_NS, "echo"));
    let retry = service.handle(&firing("echo.openfaas-fn"), now()).await;
    let moves: Vec<_> = service
        .audit()
        .recent(None)
        .iter()
        .filter(|r| (r.report.from, r.report.to) == (Some(1), Some(3)))
        .map(|r| r.report.outcome)
        .collect();
    assert_eq!(
        moves.len(),
        1,
        "the move 1 → 3 once:\n{report:?}\n{retry:?}"
    );
}
