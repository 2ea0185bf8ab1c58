//! The settle pass: a scale-down held by the stabilization window is finished once the window has
//! passed, never while an up alert fires; a lost resolution is decided once its alert has been
//! silent for the episode TTL (and Prometheus no longer holds it firing); a conflict reads again.

use super::*;

#[tokio::test]
async fn step_ramp_resolve_is_stabilized_then_settled() {
    let (svc, backend) = service(&[], 1);
    let fire = |at| webhook("firing", "APIHighInvocationRate", &[], "10", at);
    assert_eq!(svc.handle(&fire(0), t(1)).await.functions[0].to, Some(5));
    // repeat_interval later: steps again.
    assert_eq!(svc.handle(&fire(0), t(40)).await.functions[0].to, Some(9));
    let report = svc
        .handle(
            &webhook("resolved", "APIHighInvocationRate", &[], "1", 0),
            t(100),
        )
        .await;
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.why),
        (Outcome::Unchanged, Some(Why::Stabilizing)),
        "{f:?}"
    );
    assert!(f.reason.contains("window of 300s holds 9"), "{}", f.reason);
    assert_eq!(backend.replicas(&id()), Some(9));
    // Within the window the settle pass holds (a pass that moves nothing reports nothing); after
    // it, it goes to min and stops.
    let reports = svc.settle(t(200)).await.unwrap();
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(backend.replicas(&id()), Some(9));
    let reports = svc.settle(t(40) + TimeDelta::seconds(301)).await.unwrap();
    assert_eq!((reports[0].from, reports[0].to), (Some(9), Some(1)));
    assert_eq!(backend.replicas(&id()), Some(1));
    assert!(
        svc.settle(t(1000)).await.unwrap().is_empty(),
        "nothing pending"
    );
}

/// README: a lost `resolved` cannot hold a function up forever. Through the default
/// list-filtering `settling()` (`Counting`, as Kubernetes and OpenFaaS) and the memory backend's own.
#[tokio::test]
async fn the_settle_pass_decides_a_lost_resolution_once_its_alert_is_silent_for_the_ttl() {
    let ttl = Settings::from_config(&Config::default()).timing.episode_ttl;
    let (counting, backend) = service(&[], 1);
    let memory = Arc::new(MemoryBackend::new(&[MemoryFunction {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
        replicas: 1,
        labels: BTreeMap::new(),
    }]));
    let direct = Service::new(memory.clone(), Settings::from_config(&Config::default()));
    let replicas = |i: usize| match i {
        0 => backend.replicas(&id()),
        _ => memory.replicas(&id()),
    };
    for (i, svc) in [counting, direct].iter().enumerate() {
        let rate = |status, starts| webhook(status, "APIHighInvocationRate", &[], "10", starts);
        svc.handle(&rate("firing", 0), t(1)).await;
        svc.handle(&rate("firing", 0), t(40)).await;
        assert_eq!(replicas(i), Some(9));
        let listed = svc.backend().list().await.unwrap();
        assert_eq!(listed[0].firing, ["APIHighInvocationRate"], "{listed:?}");
        // Its resolution is lost. Until the alert has been silent for the TTL, nothing moves.
        let reports = svc.settle(t(39) + ttl).await.unwrap();
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(replicas(i), Some(9));
        // Then the pass decides as the resolution would have: CE's drop to min (the window's
        // recommendations are an hour old).
        let reports = svc.settle(t(40) + ttl).await.unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!((reports[0].from, reports[0].to), (Some(9), Some(1)));
        assert!(
            reports[0]
                .reason
                .starts_with("no notification of APIHighInvocationRate for 3600s"),
            "{}",
            reports[0].reason
        );
        assert_eq!(replicas(i), Some(1));
        // The stored state holds the alert until that pass, not after it (the listing, which
        // knows the time, leaves it out from the TTL on: ops_http).
        let listed = svc.backend().list().await.unwrap();
        assert!(listed[0].firing.is_empty(), "{listed:?}");
        // Once: the next pass has nothing to do, and the resolution arriving after all is a replay.
        assert!(svc.settle(t(60) + ttl).await.unwrap().is_empty());
        let late = svc.handle(&rate("resolved", 0), t(70) + ttl).await;
        assert_eq!(late.functions[0].why, Some(Why::Replay), "{late:?}");
        let listed = svc.backend().list().await.unwrap();
        assert!(listed[0].firing.is_empty(), "{listed:?}");
    }
}

/// A fake Prometheus answering every instant query with the `ALERTS` series of `firing` (500
/// while `failing`), and keeping the queries it was asked.
async fn fake_alerts(
    firing: Arc<std::sync::Mutex<Vec<&'static str>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    asked: Arc<std::sync::Mutex<Vec<String>>>,
) -> String {
    use axum::extract::Query;
    use axum::response::IntoResponse;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/api/v1/query",
        get(move |Query(q): Query<BTreeMap<String, String>>| {
            asked.lock().unwrap().push(q["query"].clone());
            let result: Vec<_> = firing
                .lock()
                .unwrap()
                .iter()
                .map(|name| json!({"metric": {"alertname": name}, "value": [1.0, "1"]}))
                .collect();
            let failed = failing.load(SeqCst);
            async move {
                if failed {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                axum::Json(json!({"status": "success", "data": {"resultType": "vector",
                    "result": result}}))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// An AlertManager route that repeats less often than the episode TTL (its default is 4 h): the
/// alert is silent for the TTL but Prometheus still holds it firing, so nothing is lost and
/// nothing moves until Prometheus says it ended (or cannot say).
#[tokio::test]
async fn a_silent_alert_prometheus_still_holds_firing_is_not_a_lost_resolution() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let firing = Arc::new(std::sync::Mutex::new(vec!["APIHighInvocationRate"]));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let prometheus = crate::config::PrometheusConfig {
        url: Some(fake_alerts(firing.clone(), failing.clone(), asked.clone()).await),
        ..Default::default()
    };
    let (svc, backend) = service(&[], 1);
    let svc = svc.with_load_source(LoadSource::from_config(&prometheus).unwrap());
    let ttl = svc.settings().timing.episode_ttl;
    let rate = |status, starts| webhook(status, "APIHighInvocationRate", &[], "10", starts);
    svc.handle(&rate("firing", 0), t(1)).await;
    assert_eq!(backend.replicas(&id()), Some(5));
    // Silent for the TTL, still firing in Prometheus: nothing moves, and it counts as seen.
    assert!(svc.settle(t(1) + ttl).await.unwrap().is_empty());
    assert_eq!(backend.replicas(&id()), Some(5));
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        [
            r#"ALERTS{alertstate="firing",alertname=~"APIHighInvocationRate",function_name=~"echo|echo\\.openfaas-fn"}"#
        ]
    );
    // So the next passes within another TTL ask nothing (the function is not even read).
    let reads = backend.reads();
    assert!(svc.settle(t(0) + ttl * 2).await.unwrap().is_empty());
    assert_eq!((backend.reads(), asked.lock().unwrap().len()), (reads, 1));
    // A TTL after it was seen, Prometheus has no ALERTS series for it any more: the lost
    // resolution is decided.
    firing.lock().unwrap().clear();
    let reports = svc.settle(t(1) + ttl * 2).await.unwrap();
    assert_eq!(
        (reports[0].from, reports[0].to),
        (Some(5), Some(1)),
        "{reports:?}"
    );
    assert!(
        reports[0]
            .reason
            .starts_with("no notification of APIHighInvocationRate")
    );
    // A Prometheus that cannot answer leaves the silence to decide, as without one.
    svc.handle(&rate("firing", 7300), t(7300)).await;
    assert_eq!(backend.replicas(&id()), Some(5));
    failing.store(true, SeqCst);
    let reports = svc.settle(t(7300) + ttl).await.unwrap();
    assert_eq!(
        (reports[0].from, reports[0].to),
        (Some(5), Some(1)),
        "{reports:?}"
    );
}

#[tokio::test]
async fn a_lost_resolution_is_not_decided_while_another_up_alert_is_seen() {
    let (svc, backend) = service(&[], 1);
    let ttl = svc.settings().timing.episode_ttl;
    svc.handle(
        &webhook("firing", "APIHighInvocationRate", &[], "10", 0),
        t(1),
    )
    .await;
    // A second up alert of the function keeps being repeated (its own resolution still to come).
    let latency = |at| {
        webhook(
            "firing",
            "FunctionLatencyHigh",
            &[("scale_policy", "step")],
            "2",
            at,
        )
    };
    svc.handle(&latency(10), t(11)).await;
    svc.handle(&latency(10), t(3000)).await;
    let before = backend.replicas(&id());
    assert!(svc.settle(t(1) + ttl).await.unwrap().is_empty());
    assert_eq!(backend.replicas(&id()), before);
    // Once that one goes silent too, the last one seen is resolved.
    let reports = svc.settle(t(3000) + ttl).await.unwrap();
    assert!(
        reports[0]
            .reason
            .contains("no notification of FunctionLatencyHigh"),
        "{reports:?}"
    );
    assert_eq!(backend.replicas(&id()), Some(1));
}

#[tokio::test]
async fn a_settle_pass_that_conflicts_reads_again_and_is_recorded() {
    let (svc, backend) = service(&[], 1);
    let fire = webhook("firing", "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&fire, t(1)).await;
    let resolved = webhook("resolved", "APIHighInvocationRate", &[], "1", 0);
    svc.handle(&resolved, t(2)).await;
    assert_eq!(backend.replicas(&id()), Some(5), "held by the window");
    // Two other writers get in between: the pass reads again twice, then scales.
    backend.conflicts.store(2, SeqCst);
    let reads = backend.reads();
    let reports = svc.settle(t(400)).await.unwrap();
    assert_eq!(
        (reports[0].from, reports[0].to),
        (Some(5), Some(1)),
        "{reports:?}"
    );
    assert_eq!(backend.reads() - reads, 3, "one read per attempt");
    assert_eq!(backend.replicas(&id()), Some(1));
    let last = svc.audit().recent(Some(1));
    assert_eq!((last[0].trigger, last[0].report.to), ("settle", Some(1)));
    let text = svc.metrics().render();
    assert!(
        text.contains(
            r#"alertscaler_scale_actions_total{function="echo.openfaas-fn",direction="down"} 1"#
        ),
        "{text}"
    );
    // Conflicts that never stop: an error after MAX_ATTEMPTS reads, nothing written.
    svc.handle(
        &webhook("firing", "APIHighInvocationRate", &[], "10", 500),
        t(500),
    )
    .await;
    backend.conflicts.store(usize::MAX, SeqCst);
    let reads = backend.reads();
    let r = svc
        .handle(
            &webhook("resolved", "APIHighInvocationRate", &[], "1", 500),
            t(501),
        )
        .await;
    assert_eq!(
        r.functions[0].outcome,
        Outcome::Error,
        "{:?}",
        r.functions[0]
    );
    assert!(
        r.functions[0].reason.contains("gave up after 6 attempts"),
        "{}",
        r.functions[0].reason
    );
    assert_eq!(backend.reads() - reads, MAX_ATTEMPTS);
}

#[tokio::test]
async fn the_settle_pass_holds_a_scale_down_while_an_up_alert_fires() {
    // README: a `resolved` "holds until no scale-up alert is firing".
    let (svc, backend) = service(&[], 1);
    let rate = |status, starts| webhook(status, "APIHighInvocationRate", &[], "10", starts);
    // Episode 1 fires and steps 1 → 5; it resolves 9 s later: held by the window at 5.
    svc.handle(&rate("firing", 0), t(1)).await;
    let r = svc.handle(&rate("resolved", 0), t(10)).await;
    assert_eq!(r.functions[0].why, Some(Why::Stabilizing), "{r:?}");
    // The series fires again (a new episode) within the cooldown: recorded as firing, held.
    let r = svc.handle(&rate("firing", 12), t(15)).await;
    assert_eq!(r.functions[0].why, Some(Why::Cooldown), "{r:?}");
    let listed = backend.list().await.unwrap();
    assert_eq!(
        listed[0].firing,
        ["APIHighInvocationRate"],
        "the alert fires"
    );
    // The settle pass after the window must not finish the old resolution's scale-down while the
    // scale-up alert fires.
    let reports = svc.settle(t(320)).await.unwrap();
    assert_eq!(
        backend.replicas(&id()),
        Some(5),
        "settle pass scaled down while an up alert fires: {reports:?}"
    );
}
