//! The Kubernetes backend against the behaviours of a real cluster, played by the fake apiserver
//! through the real kube client: faas-netes CE's replica clamp, 429/503 once and always, a write
//! that commits and then answers too late, admission denials, the passes Lease, and the settings.
//! (Redeploys and the state ConfigMap: tests/kubernetes_state.rs.)

use crate::support::kube as support;

use std::time::Duration;

use alertscaler::backend::Backend;
use alertscaler::service::Outcome;
use axum::http::Method;
use serde_json::json;

use support::apiserver::{Action, DEPLOYMENTS, FakeApiserver, LEASES, function_deployment};
use support::{
    FN_NS, assert_moved, backend, config, echo, echo_cluster, echo_id, episode_recorded, firing,
    has_pending, is_duplicate, now, receiver,
};

#[tokio::test]
async fn faas_netes_ce_clamps_writes_and_the_next_write_starts_from_its_value() {
    let fake = FakeApiserver::start().await;
    fake.faas_netes_ce();
    let labels = [
        ("com.openfaas.scale.max", "10"),
        ("com.openfaas.scale.factor", "50"),
    ];
    fake.put(function_deployment("echo", FN_NS, Some(4), &labels));
    let cfg = config(&[FN_NS]);
    let report = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!((f.outcome, f.to), (Outcome::Scaled, Some(9)), "{f:?}");
    // Our write, then the controller's revert to 5 (a second version).
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
    assert_eq!(fake.clamps(), 1);
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));

    // A new episode reads the reverted value and version: one PATCH, no 409.
    let patches = fake.count(&Method::PATCH);
    let next =
        support::notification_json(&[("echo.openfaas-fn", "00000000000000aa", "Other", "firing")]);
    let webhook = alertscaler::alert::parse(next.as_bytes()).unwrap();
    let after_cooldown = now() + chrono::TimeDelta::seconds(300);
    let report = receiver(&fake, &cfg).handle(&webhook, after_cooldown).await;
    let f = &report.functions[0];
    assert_eq!((f.outcome, f.from), (Outcome::Scaled, Some(5)), "{f:?}");
    assert_eq!(fake.count(&Method::PATCH), patches + 1);

    // Zero is reverted to one.
    fake.change(FN_NS, "echo", |d| d["spec"]["replicas"] = json!(2));
    let id = echo_id();
    let b = backend(&fake, &cfg);
    let state = b.read(&id).await.unwrap();
    let entry = state.stored.clone().unwrap_or_default();
    let update = alertscaler::backend::Update {
        replicas: Some(0),
        stored: &entry,
        version: &state.version,
    };
    b.apply(&id, update).await.unwrap();
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
}

#[tokio::test]
async fn a_read_answered_503_once_is_retried_and_503_always_is_reported_as_503() {
    let (fake, cfg) = echo_cluster().await;
    fake.fault(Some(Method::GET), Action::Status(503), Some(1));
    let report = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Scaled, "{report:?}");

    let fake = FakeApiserver::start().await;
    echo(&fake);
    fake.fault(Some(Method::GET), Action::Status(503), None);
    let report = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Error);
    assert!(report.has_errors(), "503 to AlertManager");
    assert!(
        f.reason.contains("answered 503") && f.reason.contains("after 4 attempts"),
        "{}",
        f.reason
    );
    assert_eq!(
        fake.count(&Method::GET),
        4,
        "bounded: kube's own retry layer is off"
    );
}

#[tokio::test]
async fn a_write_answered_429_is_retried_and_lands_once() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    fake.fault(Some(Method::PATCH), Action::Status(429), Some(1));
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Scaled, "{report:?}");
    assert_eq!(fake.count(&Method::PATCH), 2);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
}

#[tokio::test]
async fn a_write_answered_429_always_is_rolled_back_and_reported_as_429() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    fake.fault(Some(Method::PATCH), Action::Status(429), None);
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert!(report.has_errors(), "503 to AlertManager: {f:?}");
    assert!(f.reason.contains("answered 429"), "{}", f.reason);
    assert_eq!(fake.count(&Method::PATCH), 4, "bounded");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    assert!(!episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
}

#[tokio::test]
async fn a_retry_that_runs_out_of_time_still_names_the_status_before_it() {
    let (fake, mut cfg) = echo_cluster().await;
    cfg.kubernetes.request_timeout_secs = 1;
    fake.fault(Some(Method::GET), Action::Status(503), Some(1));
    fake.fault(
        Some(Method::GET),
        Action::Delay(Duration::from_secs(5)),
        None,
    );
    let report = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Error);
    assert!(
        f.reason.contains("answered 503") && f.reason.contains("within 1s"),
        "{}",
        f.reason
    );
}

#[tokio::test]
async fn a_write_that_commits_and_then_times_out_is_reported_as_the_step_it_was() {
    let (fake, mut cfg) = echo_cluster().await;
    cfg.kubernetes.request_timeout_secs = 1;
    fake.fault(
        Some(Method::PATCH),
        Action::CommitThenDelay(Duration::from_secs(2)),
        Some(1),
    );
    let webhook = firing("echo.openfaas-fn");
    let report = receiver(&fake, &cfg).handle(&webhook, now()).await;
    let f = &report.functions[0];
    assert_eq!((f.outcome, f.to), (Outcome::Scaled, Some(3)), "{f:?}");
    assert!(!report.has_errors());
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert_eq!(fake.count(&Method::PATCH), 1, "not sent twice");
    assert!(episode_recorded(&fake) && !has_pending(&fake, FN_NS, "echo"));
    let again = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert!(is_duplicate(&again), "{again:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
}

#[tokio::test]
async fn admission_denials_are_refusals_with_the_webhooks_message() {
    let webhook_message = "admission webhook \"replicas.policy.example.com\" denied the request: \
                           openfaas-fn/echo is frozen for the release";
    for (code, message) in [
        (400, webhook_message.to_owned()),
        (403, webhook_message.to_owned()),
        (422, "Deployment.apps \"echo\" is invalid: spec.replicas: Invalid value: 3: must be at most 2".to_owned()),
    ] {
        let fake = FakeApiserver::start().await;
        echo(&fake);
        fake.fault(Some(Method::PATCH), Action::Deny(code, message.clone()), None);
        let report = receiver(&fake, &config(&[FN_NS]))
            .handle(&firing("echo.openfaas-fn"), now())
            .await;
        let f = &report.functions[0];
        assert_eq!(f.outcome, Outcome::Refused, "{code}: {f:?}");
        assert!(!report.has_errors(), "{code}: 200, AlertManager must not retry");
        assert!(f.reason.contains(&message) && f.reason.contains(&format!("({code})")), "{}", f.reason);
        assert_eq!(fake.count(&Method::PATCH), 1, "{code}: not retried");
        assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
        assert!(!episode_recorded(&fake), "{code}: ledger rolled back");
        assert!(!has_pending(&fake, FN_NS, "echo"));
    }
}

#[tokio::test]
async fn one_replica_holds_the_passes_lease_until_it_stops_renewing() {
    let fake = FakeApiserver::start().await;
    let cfg = config(&[FN_NS]);
    let (a, b) = (backend(&fake, &cfg), backend(&fake, &cfg));
    assert!(a.leads_passes().await, "creates the Lease");
    assert!(!b.leads_passes().await, "fresh Lease held by a");
    assert!(a.leads_passes().await, "renews");
    let lease = fake
        .get_on(LEASES, "openfaas", "alertscaler-passes")
        .unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 45);
    // a stops renewing: its last renewal is now older than the lease duration.
    let mut stale = lease.clone();
    stale["spec"]["renewTime"] = json!("2020-01-01T00:00:00.000000Z");
    fake.put(stale);
    assert!(b.leads_passes().await, "takes over");
    assert!(!a.leads_passes().await, "b holds it now");
    let lease = fake
        .get_on(LEASES, "openfaas", "alertscaler-passes")
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    // Election off: every replica runs passes.
    let mut solo = cfg.clone();
    solo.kubernetes.lease_namespace = String::new();
    assert!(backend(&fake, &solo).leads_passes().await);
}

#[test]
fn kubernetes_settings_are_validated_at_load() {
    type Edit = fn(&mut alertscaler::config::KubernetesConfig);
    let cases: [(Edit, &str); 6] = [
        (
            |k| k.state_prefix = String::new(),
            "kubernetes.state_prefix",
        ),
        (
            |k| k.state_prefix = "Alertscaler_".into(),
            "kubernetes.state_prefix",
        ),
        (
            |k| k.lease_name = "no/slash".into(),
            "kubernetes.lease_name",
        ),
        (
            |k| k.lease_namespace = "-bad".into(),
            "kubernetes.lease_name",
        ),
        (
            |k| k.lease_duration_secs = 2,
            "kubernetes.lease_duration_secs",
        ),
        (
            |k| k.lease_duration_secs = 7200,
            "kubernetes.lease_duration_secs",
        ),
    ];
    for (edit, key) in cases {
        let mut c = config(&[FN_NS]);
        edit(&mut c.kubernetes);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
    // Election off is valid, whatever the Lease name.
    let mut c = config(&[FN_NS]);
    c.kubernetes.lease_namespace = String::new();
    c.kubernetes.lease_name = String::new();
    c.validate().unwrap();
}

/// (collection?, metadata-only?) of each Deployment request so far.
fn deployment_requests(fake: &FakeApiserver) -> Vec<(bool, bool)> {
    fake.seen()
        .iter()
        .filter(|s| s.resource == DEPLOYMENTS)
        .map(|s| {
            let metadata = s.accept.contains("PartialObjectMetadata");
            (s.path.ends_with("/deployments"), metadata)
        })
        .collect()
}

#[tokio::test]
async fn listing_reads_metadata_and_fetches_only_what_changed() {
    let fake = FakeApiserver::start().await;
    for name in ["a", "b", "c"] {
        fake.put(function_deployment(name, FN_NS, Some(1), &[]));
    }
    let b = backend(&fake, &config(&[FN_NS]));
    assert_eq!(b.list().await.unwrap().len(), 3);
    let get = (false, false);
    let metadata_list = (true, true);
    assert_eq!(deployment_requests(&fake), [metadata_list, get, get, get]);
    b.list().await.unwrap();
    assert_eq!(
        deployment_requests(&fake)[4..],
        [metadata_list],
        "quiet: metadata only"
    );
    fake.change(FN_NS, "b", |d| d["spec"]["replicas"] = json!(4));
    let listed = b.list().await.unwrap();
    assert_eq!(
        deployment_requests(&fake)[5..],
        [metadata_list, get],
        "only b"
    );
    assert_eq!((listed[1].name.as_str(), listed[1].replicas), ("b", 4));
}

#[tokio::test]
async fn a_cold_cache_is_filled_by_one_full_list_not_a_get_per_function() {
    let fake = FakeApiserver::start().await;
    for i in 0..20 {
        fake.put(function_deployment(
            &format!("f{i:02}"),
            FN_NS,
            Some(1),
            &[],
        ));
    }
    let b = backend(&fake, &config(&[FN_NS]));
    assert_eq!(b.list().await.unwrap().len(), 20);
    // 20 changed is above the GET budget: one full list after the metadata list.
    assert_eq!(deployment_requests(&fake), [(true, true), (true, false)]);
    fake.change(FN_NS, "f07", |d| d["spec"]["replicas"] = json!(3));
    let listed = b.list().await.unwrap();
    assert_eq!(listed[7].replicas, 3);
    assert_eq!(
        deployment_requests(&fake)[2..],
        [(true, true), (false, false)]
    );
}

/// Every replica write the Deployment received, as JSON patches' `spec.replicas`.
fn replica_writes(fake: &FakeApiserver) -> Vec<i64> {
    fake.seen()
        .iter()
        .filter(|s| s.method == Method::PATCH && s.resource == DEPLOYMENTS)
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s.body).ok())
        .filter_map(|b| b["spec"]["replicas"].as_i64())
        .collect()
}

#[tokio::test]
async fn on_a_ce_like_cluster_no_write_asks_above_five_or_for_zero_and_the_reason_says_why() {
    let fake = FakeApiserver::start().await;
    fake.faas_netes_ce();
    let labels = [
        ("com.openfaas.scale.max", "10"),
        ("com.openfaas.scale.factor", "50"),
        ("com.openfaas.scale.zero", "true"),
    ];
    fake.put(function_deployment("echo", FN_NS, Some(4), &labels));
    let zero_min = [("com.openfaas.scale.min", "0")];
    fake.put(function_deployment("sleepy", FN_NS, Some(2), &zero_min));
    let mut cfg = config(&[FN_NS]);
    cfg.platform = alertscaler::config::Platform::openfaas_ce();
    cfg.validate().unwrap();
    let service = receiver(&fake, &cfg);

    // A step that would reach 9 plans within CE's 5, and says so.
    let report = service.handle(&firing("echo.openfaas-fn"), now()).await;
    let f = assert_moved(&report, Outcome::Scaled, 4, 5);
    assert!(
        f.reason.contains("OpenFaaS CE") && f.reason.contains('5'),
        "{}",
        f.reason
    );

    // An idle alert on a function that allows zero: CE does not scale to zero.
    let idle = json!({"version": "4", "status": "firing", "alerts": [{
        "status": "firing",
        "labels": {"alertname": "FunctionIdle", "function_name": "echo.openfaas-fn",
                   "scale_policy": "zero", "scale_direction": "down"},
        "annotations": {"value": "0"},
        "startsAt": "2026-11-24T05:00:00Z", "fingerprint": "00000000000000ee"}]});
    let idle = alertscaler::alert::parse(idle.to_string().as_bytes()).unwrap();
    let later = now() + chrono::TimeDelta::hours(2);
    let report = service.handle(&idle, later).await;
    let f = &report.functions[0];
    assert_ne!(f.to, Some(0), "{f:?}");
    assert!(f.reason.contains("does not scale to zero"), "{}", f.reason);
    // The function has the label: the reason does not say it lacks it.
    assert!(!f.reason.contains("has no label"), "{}", f.reason);

    // A label min of 0 is refused with what to do.
    let report = service.handle(&firing("sleepy.openfaas-fn"), now()).await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Refused, "{f:?}");
    assert!(f.reason.contains("com.openfaas.scale.min"), "{}", f.reason);

    let writes = replica_writes(&fake);
    assert!(!writes.is_empty());
    assert!(writes.iter().all(|r| (1..=5).contains(r)), "{writes:?}");
    assert_eq!(fake.clamps(), 0, "faas-netes had nothing to revert");
}

/// docs/kubernetes.md, "Listing": changed Deployments are fetched one by one up to 8; more than 8
/// cost one full list instead.
#[tokio::test]
async fn up_to_eight_changed_deployments_are_fetched_one_by_one_and_nine_by_one_list() {
    for (functions, want) in [
        (
            8,
            vec![(true, true)]
                .into_iter()
                .chain(vec![(false, false); 8])
                .collect::<Vec<_>>(),
        ),
        (9, vec![(true, true), (true, false)]),
    ] {
        let fake = FakeApiserver::start().await;
        for i in 0..functions {
            fake.put(function_deployment(&format!("f{i}"), FN_NS, Some(1), &[]));
        }
        let b = backend(&fake, &config(&[FN_NS]));
        assert_eq!(b.list().await.unwrap().len(), functions);
        assert_eq!(deployment_requests(&fake), want, "{functions} changed");
    }
}

/// docs/kubernetes.md, "One replica runs background passes": an error or a lost race on the Lease is
/// "skip this pass", and the next pass, with the apiserver back, takes the Lease.
#[tokio::test]
async fn a_lease_that_cannot_be_read_skips_the_pass() {
    let fake = FakeApiserver::start().await;
    let b = backend(&fake, &config(&[FN_NS]));
    fake.fault_on(LEASES, Some(Method::GET), Action::Status(500), None);
    assert!(!b.leads_passes().await, "an error is not leadership");
    assert_eq!(fake.count_on(LEASES, &Method::POST), 0, "nothing created");
    fake.clear_faults();
    // A lost race: another replica created it first (409).
    fake.fault_on(LEASES, Some(Method::POST), Action::Status(409), Some(1));
    assert!(!b.leads_passes().await, "a lost race is not leadership");
    assert_eq!(fake.count_on(LEASES, &Method::POST), 1);
    assert!(b.leads_passes().await, "the next pass creates it");
    assert!(
        fake.get_on(LEASES, "openfaas", "alertscaler-passes")
            .is_some()
    );
}
