//! The Kubernetes backend with the real kube client against an in-process fake apiserver
//! (tests/it/support/kube/apiserver/): eligibility, labels, optimistic concurrency, HA and restart
//! safety through the state ConfigMap, and error mapping down to the HTTP status.

use crate::support::kube as support;

use std::sync::Arc;
use std::time::Duration;

use alertscaler::backend::{Backend, Update};
use alertscaler::error::BackendError;
use alertscaler::id::FunctionId;
use alertscaler::service::Outcome;
use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use support::apiserver::CONFIGMAPS;
use support::apiserver::{Action, FakeApiserver, function_deployment, plain_deployment};
use support::{
    assert_moved, backend, config, echo, echo_id, firing, notification_json, now, receiver,
    stored_ledger,
};

const FN_NS: &str = "openfaas-fn";
const LEDGER: &str = "alertscaler.openfaas.com/ledger";

fn ledger_of(fake: &FakeApiserver, name: &str) -> Option<Value> {
    stored_ledger(fake, FN_NS, name)
}

#[tokio::test]
async fn scaling_labels_are_read_from_the_deployment_with_template_labels_first() {
    let fake = FakeApiserver::start().await;
    // faas-netes: user labels only on the template; annotations on both.
    let mut d = function_deployment("echo", FN_NS, Some(1), &[("com.openfaas.scale.max", "4")]);
    d["metadata"]["annotations"]["com.openfaas.scale.max"] = json!("2");
    d["metadata"]["annotations"]["com.openfaas.scale.factor"] = json!("100");
    fake.put(d);
    let rv_before = fake.get(FN_NS, "echo").unwrap()["metadata"]["resourceVersion"].clone();

    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;

    // max 4 from the template label (not 2 from the annotation), factor 100 from the annotation
    // (not the default 20): 1 + ceil(4 * 100%) capped at 4. Defaults alone would give 5.
    assert_moved(&report, Outcome::Scaled, 1, 4);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(4));
    let after = fake.get(FN_NS, "echo").unwrap();
    assert_ne!(after["metadata"]["resourceVersion"], rv_before);
    let patches: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == Method::PATCH && s.resource == "deployments")
        .collect();
    assert_eq!(patches.len(), 1, "one replica write");
    assert!(
        patches[0].query.contains("fieldManager=alertscaler"),
        "{:?}",
        patches[0]
    );
    // Only spec.replicas, under the version read: what the optional admission policy allows.
    let body: Value = serde_json::from_str(&patches[0].body).unwrap();
    assert_eq!(
        body,
        json!({"metadata": {"resourceVersion": rv_before}, "spec": {"replicas": 4}})
    );
    let seen = fake.seen();
    assert!(
        seen.iter()
            .all(|s| s.user_agent.starts_with("alertscaler/")),
        "{seen:?}"
    );
    let writes: Vec<_> = seen.iter().filter(|s| s.method != Method::GET).collect();
    assert!(
        writes
            .iter()
            .all(|s| s.query.contains("fieldManager=alertscaler")),
        "{writes:?}"
    );
    assert_eq!(patches[0].content_type, "application/merge-patch+json");
    let entry = ledger_of(&fake, "echo").expect("ledger stored in the state ConfigMap");
    assert!(entry["firing"]["6a65bd8dfb3af9ad"].is_object(), "{entry}");
    let d = fake.get(FN_NS, "echo").unwrap();
    assert!(
        d["metadata"]["annotations"][LEDGER].is_null(),
        "nothing but replicas is written to the Deployment: {d}"
    );
}

#[tokio::test]
async fn absent_spec_replicas_counts_as_one() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, None, &[]));
    let state = backend(&fake, &config(&[FN_NS]))
        .read(&echo_id())
        .await
        .unwrap();
    assert_eq!(state.replicas, 1);
    assert_eq!(
        state.labels.get("faas_function").map(String::as_str),
        Some("echo")
    );
    assert!(state.stored.is_none());
}

#[tokio::test]
async fn non_function_deployment_is_refused_and_never_written() {
    let fake = FakeApiserver::start().await;
    fake.put(plain_deployment("coredns", "kube-system", 2));
    fake.put(plain_deployment("redis", FN_NS, 1));

    // Even with kube-system allowed, coredns carries no faas_function label.
    let report = receiver(&fake, &config(&[FN_NS, "kube-system"]))
        .handle(&firing("coredns.kube-system"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Refused);
    assert!(
        f.reason.contains("kube-system/coredns") && f.reason.contains("faas_function"),
        "{}",
        f.reason
    );

    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("redis.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Refused);

    assert_eq!(fake.count(&Method::PATCH) + fake.count(&Method::PUT), 0);
    assert_eq!(fake.replicas("kube-system", "coredns"), Some(2));
    assert_eq!(fake.replicas(FN_NS, "redis"), Some(1));
}

#[tokio::test]
async fn namespaces_outside_the_allowed_list_are_never_requested() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("coredns", "kube-system", Some(2), &[]));
    let cfg = config(&[FN_NS]);
    // The service drops the alert before the backend …
    let report = receiver(&fake, &cfg)
        .handle(&firing("coredns.kube-system"), now())
        .await;
    assert!(
        report.functions.is_empty() && report.skipped.len() == 1,
        "{report:?}"
    );
    // … and the backend re-checks on its own.
    let id = FunctionId {
        name: "coredns".into(),
        namespace: "kube-system".into(),
    };
    let err = backend(&fake, &cfg).read(&id).await.unwrap_err();
    assert!(
        matches!(err, BackendError::Ineligible(ref m) if m.contains("kube-system/coredns")),
        "{err}"
    );
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn stale_version_is_a_conflict() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let b = backend(&fake, &config(&[FN_NS]));
    let id = echo_id();
    let state = b.read(&id).await.unwrap();
    let mut other = fake.get(FN_NS, "echo").unwrap();
    other["spec"]["replicas"] = json!(7);
    fake.put(other);
    let entry = alertscaler::stored::Stored::default();
    let update = Update {
        replicas: Some(3),
        stored: &entry,
        version: &state.version,
    };
    let err = b.apply(&id, update).await.unwrap_err();
    assert!(matches!(err, BackendError::Conflict(_)), "{err}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(7));
}

/// Between our read and our write, someone else sets replicas: our conditioned write gets 409 and
/// the step (ceil(10 × 20 %) = 2) is taken once on top of their value — also when they happened to
/// set our own target, 3 (a 409 never means our step landed: it was recorded as applied and lost).
#[tokio::test]
async fn concurrent_writer_is_retried_on_top_of_its_value() {
    for (theirs, ours) in [(4, 6), (3, 5)] {
        let fake = FakeApiserver::start().await;
        echo(&fake);
        let other = Action::Interfere(Arc::new(move |d: &mut Value| {
            d["spec"]["replicas"] = json!(theirs)
        }));
        fake.fault(Some(Method::PATCH), other, Some(1));

        let report = receiver(&fake, &config(&[FN_NS]))
            .handle(&firing("echo.openfaas-fn"), now())
            .await;

        assert_moved(&report, Outcome::Scaled, theirs, ours);
        assert_eq!(fake.replicas(FN_NS, "echo"), Some(i64::from(ours)));
        assert_eq!(fake.count(&Method::PATCH), 2, "one 409, one success");
        // Read; after the 409 (our write did not land), the re-read.
        assert_eq!(fake.count(&Method::GET), 2, "re-read after the conflict");
    }
}

/// The deployment controller writes a Deployment's status between our read and our write (it
/// does after every scale, and on pod changes): a new version only. Our conditioned write gets 409,
/// the re-read finds the same replicas, and the step is taken once from them.
#[tokio::test]
async fn a_status_write_between_read_and_write_costs_a_re_read_not_a_step() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    fake.deployment_controller();
    let status = Action::Interfere(Arc::new(|d: &mut Value| {
        d["status"]["readyReplicas"] = json!(1)
    }));
    fake.fault(Some(Method::PATCH), status, Some(1));
    let service = receiver(&fake, &config(&[FN_NS]));

    let report = service.handle(&firing("echo.openfaas-fn"), now()).await;

    assert_moved(&report, Outcome::Scaled, 1, 3);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
    assert_eq!(fake.count(&Method::PATCH), 2, "one 409, one success");
    assert_eq!(fake.status_writes(), 1, "the scale's own status write");
    // A copy of the notification, read after that status write: a duplicate, not a second step.
    let copy = service.handle(&firing("echo.openfaas-fn"), now()).await;
    assert_eq!(copy.functions[0].outcome, Outcome::Unchanged, "{copy:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(3));
}

#[tokio::test]
async fn two_receivers_given_the_same_notification_apply_one_step() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    // Hold the first two reads until both receivers have read the same version.
    fake.fault(
        Some(Method::GET),
        Action::Gate(Arc::new(Barrier::new(2))),
        Some(2),
    );
    let cfg = config(&[FN_NS]);
    let (a, b) = (receiver(&fake, &cfg), receiver(&fake, &cfg));
    let webhook = firing("echo.openfaas-fn");

    let (ra, rb) = tokio::join!(a.handle(&webhook, now()), b.handle(&webhook, now()));

    let mut outcomes = [ra.functions[0].outcome, rb.functions[0].outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [Outcome::Scaled, Outcome::Unchanged],
        "{ra:?} {rb:?}"
    );
    assert_eq!(
        fake.replicas(FN_NS, "echo"),
        Some(3),
        "exactly one step of 2"
    );
}

#[tokio::test]
async fn restarted_receiver_recognises_the_duplicate_from_the_state_configmap() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let cfg = config(&[FN_NS]);
    let webhook = firing("echo.openfaas-fn");
    let first = receiver(&fake, &cfg).handle(&webhook, now()).await;
    assert_eq!(first.functions[0].outcome, Outcome::Scaled);
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));

    // A new process: new client, new backend, nothing in memory.
    let later = now() + chrono::TimeDelta::seconds(5);
    let again = receiver(&fake, &cfg).handle(&webhook, later).await;
    let f = &again.functions[0];
    assert_eq!(f.outcome, Outcome::Unchanged, "{f:?}");
    assert!(format!("{:?}", f.why).contains("Duplicate"), "{f:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
}

/// A lost resolution is decided by the settle pass from the state the cluster keeps: another
/// process (a restart, the other replica) lists it and brings the function back to min.
#[tokio::test]
async fn a_lost_resolution_is_decided_from_the_state_configmap_by_another_receiver() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let cfg = config(&[FN_NS]);
    let first = receiver(&fake, &cfg)
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_moved(&first, Outcome::Scaled, 1, 5);
    // The resolution never comes; a new process runs the settle pass an hour later.
    let ttl = chrono::TimeDelta::seconds(3600);
    let other = receiver(&fake, &cfg);
    let early = other
        .settle(now() + ttl - chrono::TimeDelta::seconds(1))
        .await;
    assert!(early.unwrap().is_empty());
    let reports = other.settle(now() + ttl).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!((reports[0].from, reports[0].to), (Some(5), Some(1)));
    assert!(
        reports[0]
            .reason
            .contains("no notification of APIHighInvocationRate"),
        "{}",
        reports[0].reason
    );
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    let ledger = ledger_of(&fake, "echo").expect("ledger");
    assert_eq!(ledger["firing"], json!({}), "{ledger}");
    assert!(other.settle(now() + ttl * 2).await.unwrap().is_empty());
}

#[tokio::test]
async fn corrupt_ledgers_count_as_empty_and_are_overwritten() {
    let fake = FakeApiserver::start().await;
    let mut d = function_deployment("echo", FN_NS, Some(1), &[]);
    d["metadata"]["annotations"][LEDGER] = json!("{not json");
    fake.put(d);
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Scaled);
    let entry = ledger_of(&fake, "echo").expect("valid ledger written");
    assert!(entry["firing"]["6a65bd8dfb3af9ad"].is_object(), "{entry}");

    // A corrupt state ConfigMap: empty ledger, overwritten by the next write.
    let mut cm = fake.get_on(CONFIGMAPS, FN_NS, "alertscaler-echo").unwrap();
    cm["data"]["ledger"] = json!("[1,");
    fake.put(cm);
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Scaled, "{report:?}");
    assert!(ledger_of(&fake, "echo").unwrap()["firing"]["6a65bd8dfb3af9ad"].is_object());
}

#[tokio::test]
async fn oversized_ledger_is_refused_and_not_written() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    // The longest alert name and fingerprint a payload may send (longer ones are refused while
    // the payload is read): 32 firing episodes under them fit, 32 resolved beside them do not.
    let long_name = "A".repeat(alertscaler::alert::MAX_ALERTNAME_BYTES);
    let width = alertscaler::alert::MAX_FINGERPRINT_BYTES;
    let fingerprints: Vec<String> = (0..80).map(|i| format!("{i:0>width$x}")).collect();
    let notify = |range: std::ops::Range<usize>, status: &'static str| {
        let alerts: Vec<_> = fingerprints[range]
            .iter()
            .map(|fp| ("echo.openfaas-fn", fp.as_str(), long_name.as_str(), status))
            .collect();
        alertscaler::alert::parse(notification_json(&alerts).as_bytes()).unwrap()
    };
    let receiver = receiver(&fake, &config(&[FN_NS]));
    let first = receiver.handle(&notify(0..32, "firing"), now()).await;
    assert_eq!(first.functions[0].outcome, Outcome::Scaled, "{first:?}");
    let resolved = receiver.handle(&notify(0..32, "resolved"), now()).await;
    assert_ne!(
        resolved.functions[0].outcome,
        Outcome::Refused,
        "{resolved:?}"
    );
    let patches = fake.count(&Method::PATCH);
    let replicas = fake.replicas(FN_NS, "echo");
    let report = receiver.handle(&notify(32..80, "firing"), now()).await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Refused, "{f:?}");
    assert!(f.reason.contains("16384-byte limit"), "{}", f.reason);
    assert_eq!(fake.count(&Method::PATCH), patches, "nothing written");
    assert_eq!(fake.replicas(FN_NS, "echo"), replicas);
}

#[tokio::test]
async fn missing_deployment_is_refused_as_no_such_function() {
    let fake = FakeApiserver::start().await;
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("ghost.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Refused);
    assert!(
        f.reason.contains("no such function") && f.reason.contains("openfaas-fn/ghost"),
        "{}",
        f.reason
    );
    assert!(!report.has_errors());

    // Deleted between read and write: the PATCH answers 404.
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    fake.fault(Some(Method::PATCH), Action::Status(404), None);
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    assert_eq!(report.functions[0].outcome, Outcome::Refused, "{report:?}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
}

#[tokio::test]
async fn a_deleted_function_leaves_no_cached_read() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let b = backend(&fake, &config(&[FN_NS]));
    let id = echo_id();
    b.read(&id).await.unwrap();
    assert_eq!(b.cached_reads(), 1);
    // Deleted: the next read answers 404 and forgets the function.
    fake.fault(Some(Method::GET), Action::Status(404), None);
    let err = b.read(&id).await.unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err}");
    assert_eq!(b.cached_reads(), 0);
}

#[tokio::test]
async fn forbidden_names_the_missing_verb() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let cfg = config(&[FN_NS]);
    for (method, verb) in [(Method::PATCH, "patch"), (Method::GET, "get")] {
        fake.clear_faults();
        fake.fault(Some(method), Action::Status(403), None);
        let report = receiver(&fake, &cfg)
            .handle(&firing("echo.openfaas-fn"), now())
            .await;
        let f = &report.functions[0];
        assert_eq!(f.outcome, Outcome::Error, "{f:?}");
        let want = format!("needs `{verb}` on deployments.apps in namespace openfaas-fn");
        assert!(f.reason.contains(&want), "{}", f.reason);
    }
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
}

#[tokio::test]
async fn slow_apiserver_times_out_as_unavailable() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let mut cfg = config(&[FN_NS]);
    cfg.kubernetes.request_timeout_secs = 1;
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
    assert!(f.reason.contains("within 1s"), "{}", f.reason);
    assert!(report.has_errors());
    assert_eq!(fake.count(&Method::PATCH), 0);
}

/// docs/kubernetes.md, "Requests per notification": a scaling decision costs 5 requests (GET
/// Deployment and GET state ConfigMap at once; then the intent, the replica PATCH and the confirm,
/// one after the other), a duplicate 2.
#[tokio::test]
async fn a_scaling_decision_costs_five_requests_and_a_duplicate_two() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    // The two reads are held until both have arrived: made one after the other, they would
    // never meet and the first would time out.
    let both = Arc::new(Barrier::new(2));
    for resource in [support::apiserver::DEPLOYMENTS, CONFIGMAPS] {
        fake.fault_on(
            resource,
            Some(Method::GET),
            Action::Gate(both.clone()),
            Some(1),
        );
    }
    let svc = receiver(&fake, &config(&[FN_NS]));
    let webhook = firing("echo.openfaas-fn");

    let first = svc.handle(&webhook, now()).await;
    assert_moved(&first, Outcome::Scaled, 1, 5);
    let calls: Vec<(Method, String)> = fake
        .seen()
        .into_iter()
        .map(|s| (s.method, s.resource))
        .collect();
    let (reads, writes) = calls.split_at(2);
    let mut reads = reads.to_vec();
    reads.sort_by_key(|(_, r)| r.clone());
    let call = |m: Method, r: &str| (m, r.to_owned());
    assert_eq!(
        reads,
        [
            call(Method::GET, CONFIGMAPS),
            call(Method::GET, "deployments")
        ]
    );
    assert_eq!(
        writes,
        [
            call(Method::POST, CONFIGMAPS),
            call(Method::PATCH, "deployments"),
            call(Method::PATCH, CONFIGMAPS),
        ],
        "intent, replicas, confirm"
    );

    let again = svc
        .handle(&webhook, now() + chrono::TimeDelta::seconds(5))
        .await;
    assert!(support::is_duplicate(&again), "{again:?}");
    assert_eq!(fake.seen().len() - calls.len(), 2, "{:?}", fake.seen());
}

/// docs/kubernetes.md's errors table: a 401 is an error naming the rejected credentials (503 to
/// AlertManager, which retries), not retried by alertscaler, and nothing is written.
#[tokio::test]
async fn rejected_credentials_are_an_error_naming_them() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    fake.fault(Some(Method::GET), Action::Status(401), None);
    let report = receiver(&fake, &config(&[FN_NS]))
        .handle(&firing("echo.openfaas-fn"), now())
        .await;
    let f = &report.functions[0];
    assert_eq!(f.outcome, Outcome::Error, "{f:?}");
    assert!(report.has_errors(), "503 to AlertManager");
    assert!(
        f.reason
            .contains("rejected alertscaler's credentials (401)"),
        "{}",
        f.reason
    );
    assert_eq!(fake.count(&Method::GET), 1, "a 401 is not retried");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
}
