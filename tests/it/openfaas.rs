//! The OpenFaaS backend against an in-process gateway that follows the provider API: reads,
//! scales, labels, retries, timeouts, refusals and version conflicts.

use crate::support::openfaas::{env, mock};

use std::time::Duration;

use alertscaler::backend::openfaas::state_file;
use alertscaler::backend::{Backend, Update};
use alertscaler::error::BackendError;
use alertscaler::id::FunctionId;
use alertscaler::service::Outcome;
use chrono::TimeDelta;
use env::*;
use mock::Function;
use serde_json::json;

#[tokio::test]
async fn scales_up_with_labels_and_persists_the_ledger() {
    let mut f = labelled(1);
    // Annotations lose to labels for the same key: max 3 would cap the step at 3.
    f.annotations
        .insert("com.openfaas.scale.max".into(), "3".into());
    let gw = mock::start(&[("figlet", f)]).await;
    let env = Env::new(&gw);
    let service = env.service(env.backend());

    let report = service.handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);
    assert_eq!(gw.replicas("figlet"), 6);
    let bodies = gw.with(|g| g.scales.clone());
    assert_eq!(
        bodies,
        vec![json!({"serviceName": "figlet", "namespace": "openfaas-fn", "replicas": 6})]
    );

    let slots = state_file::load(&env.state_path()).unwrap();
    let slot = &slots[&figlet()];
    assert!(slot.pending.is_none(), "intent cleared after the scale");
    assert!(
        slot.entry.ledger.last_up.is_some()
            && slot.entry.ledger.firing.contains_key("6a65bd8dfb3af9ad")
    );

    // AlertManager resends (retry or HA peer): held, no second POST.
    let again = service
        .handle(&firing(), t0() + TimeDelta::seconds(3))
        .await;
    assert_outcome(&again, Outcome::Unchanged);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (6, 1));
}

#[tokio::test]
async fn through_the_real_router() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let gw = mock::start(&[("figlet", labelled(2))]).await;
    let env = Env::new(&gw);
    let (app, _) = crate::support::app_with_backend(&env.config, env.backend());
    let request = axum::http::Request::post("/system/alert")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::to_vec(&json!({"version": "4", "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "APIHighInvocationRate",
                "function_name": "figlet.openfaas-fn"}, "startsAt": STARTS}]}))
            .unwrap(),
        ))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["functions"][0]["outcome"], "scaled", "{body}");
    assert_eq!(gw.replicas("figlet"), 7);
}

#[tokio::test]
async fn reads_absent_replicas_null_maps_list_and_health() {
    let gw = mock::start(&[("bare", Function::default()), ("figlet", labelled(3))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let bare = FunctionId::parse("bare", "openfaas-fn").unwrap();
    let state = backend.read(&bare).await.unwrap();
    assert_eq!(
        (state.replicas, state.labels.len(), state.stored),
        (0, 0, None)
    );
    let list = backend.list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[1].name.as_str(), list[1].replicas), ("figlet", 3));
    assert_eq!(list[1].labels["com.openfaas.scale.max"], "10");
    backend.ready().await.unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let service = env.service(env.backend());
    gw.with(|g| {
        g.fail_reads = 2; // the retry budget is 2: the third read succeeds
        g.fail_scales = 1;
    });
    let report = service.handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);
    assert_eq!(gw.replicas("figlet"), 6);
    let scales = gw.with(|g| g.scales.clone());
    assert_eq!(
        scales.len(),
        2,
        "the failed POST was retried with the same absolute count"
    );
    assert_eq!(scales[0], scales[1]);
}

#[tokio::test]
async fn persistent_server_errors_fail_then_the_same_target_is_completed() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let service = env.service(backend.clone());

    gw.with(|g| g.fail_reads = 100);
    let report = service.handle(&firing(), t0()).await;
    assert!(report.has_errors());
    assert!(assert_outcome(&report, Outcome::Error).contains("after 3 attempts"));
    assert_eq!(gw.with(|g| g.reads), 3, "bounded: 1 + 2 retries");
    assert!(
        !env.state_path().exists(),
        "nothing written when the read fails"
    );

    gw.with(|g| {
        g.fail_reads = 0;
        g.fail_scales = 100;
    });
    let report = service.handle(&firing(), t0()).await;
    assert_outcome(&report, Outcome::Error);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (1, 3));

    // A 500 may have acted: the intent stays. Gateway back: the next read COMPLETES it by sending
    // the same absolute count again, the new ledger stands, and the retried notification is held.
    assert!(backend.slot(&figlet()).unwrap().pending.is_some());
    gw.with(|g| g.fail_scales = 0);
    let state = backend.read(&figlet()).await.unwrap();
    assert_eq!(state.replicas, 6, "completed by re-sending the target");
    assert!(
        state.stored.unwrap().ledger.last_up.is_some(),
        "the new ledger stands"
    );
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    let scales = gw.with(|g| g.scales.clone());
    assert_eq!(
        scales.len(),
        4,
        "3 failed attempts + 1 completion, no new step"
    );
    assert!(scales.iter().all(|s| s["replicas"] == 6), "{scales:?}");
}

#[tokio::test]
async fn slow_reads_time_out_and_are_bounded() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 300;
    env.config.openfaas.retries = 1;
    let backend = env.backend();
    gw.with(|g| g.read_delay = Some(Duration::from_millis(3000)));
    let err = backend.read(&figlet()).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Unavailable(m) if m.contains("after 2 attempts")),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(gw.with(|g| g.reads), 2);

    // Slow but within the timeout: fine.
    gw.with(|g| g.read_delay = Some(Duration::from_millis(20)));
    assert_eq!(backend.read(&figlet()).await.unwrap().replicas, 1);
}

#[tokio::test]
async fn missing_function_namespace_and_credentials() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.allowed_namespaces.push("other".into());
    let service = env.service(env.backend());

    let report = service
        .handle(&webhook("firing", "nope.openfaas-fn"), t0())
        .await;
    assert!(assert_outcome(&report, Outcome::Refused).contains("no such function"));
    let report = service
        .handle(&webhook("firing", "figlet.other"), t0())
        .await;
    assert!(assert_outcome(&report, Outcome::Refused).contains("openfaas-fn namespace"));
    assert_eq!(gw.with(|g| g.reads), 2, "4xx is never retried");

    std::fs::write(
        env.config.openfaas.password_file.as_ref().unwrap(),
        "wrong\n",
    )
    .unwrap();
    drop(service); // a restart: one process on the state file at a time
    let service = env.service(env.backend());
    let report = service.handle(&firing(), t0()).await;
    let reason = assert_outcome(&report, Outcome::Error);
    assert!(
        reason.contains("check openfaas.username/password_file"),
        "{reason}"
    );
    assert_eq!(gw.with(|g| g.reads), 3);
}

#[tokio::test]
async fn concurrent_writers_conflict_on_the_local_version() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let a = backend.read(&figlet()).await.unwrap();
    let b = backend.read(&figlet()).await.unwrap();
    let entry = alertscaler::stored::Stored::default();
    let update = |v| Update {
        replicas: Some(2),
        stored: &entry,
        version: v,
    };
    backend.apply(&figlet(), update(&a.version)).await.unwrap();
    let err = backend
        .apply(&figlet(), update(&b.version))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Conflict(_)), "{err}");

    // Someone else scales between our read and our write: also a conflict, nothing posted.
    let c = backend.read(&figlet()).await.unwrap();
    gw.with(|g| g.functions.get_mut("figlet").unwrap().replicas = 4);
    let err = backend
        .apply(&figlet(), update(&c.version))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Conflict(_)), "{err}");
    assert_eq!(gw.with(|g| g.scales.len()), 1);
}

#[tokio::test]
async fn a_refused_scale_rolls_the_ledger_back_at_once() {
    let gw = mock::start(&[("figlet", labelled(2))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let read = backend.read(&figlet()).await.unwrap();
    let entry = alertscaler::stored::Stored {
        ledger: alertscaler::ledger::Entry {
            last_down: Some(t0()),
            ..Default::default()
        },
        ..Default::default()
    };
    let update = Update {
        replicas: Some(0),
        stored: &entry,
        version: &read.version,
    };
    let err = backend.apply(&figlet(), update).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Ineligible(m) if m.contains("scale to 0")),
        "{err}"
    );
    assert_eq!(gw.with(|g| g.scales.len()), 1, "a 400 is not retried");
    let slot = state_file::load(&env.state_path()).unwrap()[&figlet()].clone();
    assert!(
        slot.pending.is_none() && slot.entry.ledger.last_down.is_none(),
        "{slot:?}"
    );
    assert_eq!(
        backend.read(&figlet()).await.unwrap().stored,
        Some(Default::default())
    );
}

/// docs/openfaas.md: `/readyz` asks the gateway's `/healthz` ONE time (no retries, whatever
/// `retries` says), so a failing gateway makes the backend unready at once.
#[tokio::test]
async fn readiness_asks_the_gateways_healthz_once() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 3;
    let backend = env.backend();
    backend.ready().await.unwrap();
    assert_eq!(gw.with(|g| g.healthz_calls), 1);

    gw.with(|g| g.healthz_failing = true);
    let err = backend.ready().await.unwrap_err().to_string();
    assert!(err.contains("/healthz answered 503"), "{err}");
    assert_eq!(
        gw.with(|g| g.healthz_calls),
        2,
        "one attempt, not 1 + retries"
    );
}
