//! Capacity follow-ups and the desired count measured from Prometheus: a firing capacity alert is
//! followed until it resolves or is silent for the episode TTL; without a fresh answer the
//! follow-up holds; a deleted function or a refused resolution ends it; an up alert holds its
//! scale-downs.

use super::*;

#[tokio::test]
async fn a_firing_capacity_alert_is_followed_up_until_it_resolves() {
    let (svc, backend, desired) = measured(&[("com.openfaas.scale.target", "5")], 4).await;
    let under = [("scale_policy", "capacity"), ("scale_direction", "up")];
    let mut fire = webhook("firing", "FunctionUnderProvisioned", &under, "0", 0);
    fire.alerts[0]
        .annotations
        .insert("desired".into(), "3".into());
    // The notification measures the desired count at decision time: 4, not the annotation's 3.
    let r = svc.handle(&fire, t(10)).await;
    assert_eq!(
        (r.functions[0].from, r.functions[0].to),
        (Some(1), Some(4)),
        "{:?}",
        r.functions[0]
    );
    assert_eq!(svc.followed_functions(), vec![id()]);
    // The load grows between notifications: the follow-up pass moves straight to 7.
    desired.store(7, SeqCst);
    let reports = svc.follow_up(t(15)).await;
    assert_eq!(
        (reports[0].from, reports[0].to),
        (Some(4), Some(7)),
        "{reports:?}"
    );
    assert_eq!(backend.replicas(&id()), Some(7));
    let last = svc.audit().recent(Some(1));
    assert_eq!((last[0].trigger, last[0].report.to), ("follow_up", Some(7)));
    // Nothing new: nothing recorded.
    assert!(svc.follow_up(t(20)).await.is_empty());
    // Resolved: no longer followed, whatever Prometheus says now.
    svc.handle(
        &webhook("resolved", "FunctionUnderProvisioned", &under, "0", 0),
        t(25),
    )
    .await;
    assert!(svc.followed_functions().is_empty());
    desired.store(12, SeqCst);
    assert!(svc.follow_up(t(30)).await.is_empty());
    assert_eq!(backend.replicas(&id()), Some(7));
}

/// Prometheus unavailable while the alert fires: the follow-up moves nothing, records nothing and
/// keeps following; once Prometheus answers again it follows the load.
#[tokio::test]
async fn a_follow_up_without_an_answer_from_prometheus_holds_and_keeps_following() {
    let (svc, backend, desired) = measured(&[], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(4));
    let recorded = svc.audit().recent(None).len();
    desired.store(UNAVAILABLE, SeqCst);
    let logs = Logs::default();
    let follow_up = {
        let _logging = logs.capture();
        svc.follow_up(t(15)).await
    };
    assert!(follow_up.is_empty());
    assert_eq!(backend.replicas(&id()), Some(4));
    assert_eq!(svc.audit().recent(None).len(), recorded);
    assert_eq!(svc.followed_functions(), vec![id()]);
    // The warning names the problem and what a follow-up does about it: it holds (there is no
    // annotation to fall back to).
    let logged = logs.text();
    for needle in [
        "desired replicas query failed",
        "503",
        "the follow-up holds",
    ] {
        assert!(logged.contains(needle), "{needle:?} missing in {logged}");
    }
    assert!(!logged.contains("annotation"), "{logged}");
    desired.store(6, SeqCst);
    svc.follow_up(t(20)).await;
    assert_eq!(backend.replicas(&id()), Some(6));
}

/// The recording rule stopped evaluating: Prometheus still answers its last sample (for up to its
/// 5 min lookback, with no staleness marker). A count older than `desired_max_age_secs` (45 s) is no
/// measurement: the follow-up holds and keeps following, and acts again once the count is fresh.
#[tokio::test]
async fn a_follow_up_ignores_a_desired_count_older_than_its_max_age() {
    let settings = Settings::from_config(&Config::default());
    let (svc, backend, desired, age) = measured_aged(&[], 1, 4, settings).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(4));
    let recorded = svc.audit().recent(None).len();
    desired.store(9, SeqCst);
    age.store(46, SeqCst);
    assert!(svc.follow_up(t(15)).await.is_empty());
    assert_eq!(backend.replicas(&id()), Some(4));
    assert_eq!(svc.audit().recent(None).len(), recorded);
    assert_eq!(svc.followed_functions(), vec![id()]);
    // At the max age it is still fresh.
    age.store(45, SeqCst);
    svc.follow_up(t(20)).await;
    assert_eq!(backend.replicas(&id()), Some(9));
}

#[tokio::test]
async fn a_silent_capacity_alert_stops_being_followed_after_the_episode_ttl() {
    let (svc, backend, desired) = measured(&[], 3).await;
    let under = [("scale_policy", "capacity")];
    let mut fire = webhook("firing", "FunctionUnderProvisioned", &under, "0", 0);
    fire.alerts[0]
        .annotations
        .insert("desired".into(), "3".into());
    svc.handle(&fire, t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(3));
    // The resolution was lost; an hour (the episode TTL) later the follow-up lets go.
    desired.store(9, SeqCst);
    assert!(svc.follow_up(t(10 + 3600)).await.is_empty());
    assert!(svc.followed_functions().is_empty());
    assert_eq!(backend.replicas(&id()), Some(3));
}

#[tokio::test]
async fn a_deleted_function_is_no_longer_followed_up() {
    let (svc, backend, _desired) = measured(&[], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(svc.followed_functions(), vec![id()]);
    let recorded = svc.audit().recent(None).len();
    // Deleted: its resolution is refused (nothing to store it on), and the next pass lets go
    // without recording anything, instead of a refusal every pass until the episode TTL.
    backend.gone.store(true, SeqCst);
    let resolved = under("resolved", 0);
    let r = svc.handle(&resolved, t(20)).await;
    assert_eq!(r.functions[0].outcome, Outcome::Refused, "{r:?}");
    assert!(svc.follow_up(t(25)).await.is_empty());
    assert!(svc.followed_functions().is_empty());
    assert!(svc.follow_up(t(30)).await.is_empty());
    assert_eq!(
        svc.audit().recent(None).len(),
        recorded + 1,
        "only the resolution"
    );
}

#[tokio::test]
async fn a_refused_resolution_still_ends_the_follow_up() {
    let (svc, backend, desired) = measured(&[], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(4));
    // The function's labels are invalid when the resolution arrives: refused, nothing stored...
    backend.bad_labels.store(true, SeqCst);
    let resolved = under("resolved", 0);
    let r = svc.handle(&resolved, t(20)).await;
    assert_eq!(r.functions[0].outcome, Outcome::Refused, "{r:?}");
    // ...but the alert is over: once the labels are mended no follow-up acts for it.
    backend.bad_labels.store(false, SeqCst);
    assert!(svc.followed_functions().is_empty());
    desired.store(9, SeqCst);
    assert!(svc.follow_up(t(60)).await.is_empty());
    assert_eq!(backend.replicas(&id()), Some(4));
    // A refused *firing* notification starts no follow-up (each would be refused again).
    backend.bad_labels.store(true, SeqCst);
    svc.handle(&under("firing", 100), t(100)).await;
    assert!(svc.followed_functions().is_empty());
}

#[tokio::test]
async fn capacity_as_the_default_policy_is_followed_up() {
    let mut settings = Settings::from_config(&Config::default());
    settings.policy.default = crate::policy::PolicyKind::Capacity;
    let (svc, backend, desired) = measured_with(&[], 1, 4, settings).await;
    // No scale_policy label: the configured default decides, and follows up.
    let r = svc
        .handle(
            &webhook("firing", "FunctionUnderProvisioned", &[], "0", 0),
            t(10),
        )
        .await;
    assert_eq!(r.functions[0].to, Some(4), "{r:?}");
    assert_eq!(svc.followed_functions(), vec![id()]);
    desired.store(6, SeqCst);
    svc.follow_up(t(15)).await;
    assert_eq!(backend.replicas(&id()), Some(6));
}

#[tokio::test]
async fn a_follow_up_holds_a_scale_down_while_an_up_alert_fires() {
    let (svc, backend, desired) = measured(&[], 8).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(8));
    // Under's resolution has not arrived; Over fires: its notification is held...
    desired.store(2, SeqCst);
    let over = over("firing", 100);
    let r = svc.handle(&over, t(100)).await;
    assert_eq!(r.functions[0].why, Some(Why::StillFiring), "{r:?}");
    // ...and so are its follow-ups, also past the stabilization window.
    assert!(svc.follow_up(t(105)).await.is_empty());
    assert!(svc.follow_up(t(420)).await.is_empty());
    assert_eq!(backend.replicas(&id()), Some(8));
    assert_eq!(svc.followed_functions(), vec![id()]);
    // Under resolves: the follow-up of Over scales down (through the window, long passed).
    let resolved = under("resolved", 0);
    svc.handle(&resolved, t(430)).await;
    svc.follow_up(t(435)).await;
    assert_eq!(backend.replicas(&id()), Some(2));
}

/// `FunctionOverProvisioned` keeps firing for its `keep_firing_for` after the load rose again, and
/// its notification (a repeat) may come after `FunctionUnderProvisioned`'s: the follow-up still
/// follows the up alert, whose load keeps rising.
#[tokio::test]
async fn a_follow_up_follows_the_up_alert_while_a_later_down_alert_fires() {
    let (svc, backend, desired) = measured(&[], 8).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(8));
    let r = svc.handle(&over("firing", 100), t(100)).await;
    assert_eq!(r.functions[0].why, Some(Why::StillFiring), "{r:?}");
    desired.store(12, SeqCst);
    let reports = svc.follow_up(t(105)).await;
    assert_eq!(backend.replicas(&id()), Some(12), "{reports:?}");
}

#[tokio::test]
async fn a_follow_up_that_read_its_clock_early_keeps_a_newer_recommendation() {
    let (svc, backend, desired) = measured(&[], 8).await;
    svc.handle(&under("firing", 0), t(0)).await;
    svc.handle(&under("resolved", 0), t(350)).await;
    assert_eq!(backend.replicas(&id()), Some(8));
    // Over fires at 400 while Prometheus still says 8: stays, and the window records 8 at 400.
    let over = over("firing", 400);
    let r = svc.handle(&over, t(400)).await;
    assert_eq!(r.functions[0].outcome, Outcome::Unchanged, "{r:?}");
    // A follow-up pass that read the clock at 397 (before it waited for this function's lock)
    // reads 2: the 8 recorded at 400 still holds it.
    desired.store(2, SeqCst);
    svc.follow_up(t(397)).await;
    assert_eq!(backend.replicas(&id()), Some(8));
}

/// A Prometheus that hangs on one function's query until another's arrives: the follow-up pass asks
/// about its functions at once, so neither waits out `query_timeout_ms` (one after the other, the
/// first query timed out and its function held while the second was answered).
#[tokio::test]
async fn a_follow_up_pass_asks_prometheus_about_its_functions_at_once() {
    use axum::routing::get;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let gated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let desired = Arc::new(std::sync::atomic::AtomicU32::new(4));
    let both = Arc::new(tokio::sync::Barrier::new(2));
    let app = axum::Router::new().route(
        "/api/v1/query",
        get({
            let (gated, desired) = (gated.clone(), desired.clone());
            move || async move {
                if gated.load(SeqCst) {
                    both.wait().await;
                }
                let v = f64::from(desired.load(SeqCst));
                axum::Json(crate::measure::desired_answer(v, 1e9, 1e9))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let function = |name: &str| MemoryFunction {
        name: name.into(),
        namespace: "openfaas-fn".into(),
        replicas: 1,
        labels: BTreeMap::new(),
    };
    let backend = Arc::new(MemoryBackend::new(&[function("a"), function("b")]));
    let prometheus = crate::config::PrometheusConfig {
        url: Some(url),
        ..Default::default()
    };
    let svc = Service::new(backend.clone(), Settings::from_config(&Config::default()))
        .with_load_source(LoadSource::from_config(&prometheus).unwrap());
    let alert = |function: &str| {
        json!({"status": "firing", "startsAt": t(0), "labels": {"alertname": "FunctionUnderProvisioned",
            "function_name": function, "scale_policy": "capacity", "scale_direction": "up"}})
    };
    let body = json!({"version": "4", "status": "firing", "alerts": [alert("a"), alert("b")]});
    svc.handle(&alert::parse(body.to_string().as_bytes()).unwrap(), t(10))
        .await;
    let at = |name: &str| backend.replicas(&FunctionId::parse(name, "openfaas-fn").unwrap());
    assert_eq!((at("a"), at("b")), (Some(4), Some(4)));
    gated.store(true, SeqCst);
    desired.store(7, SeqCst);
    let reports = svc.follow_up(t(15)).await;
    assert_eq!((at("a"), at("b")), (Some(7), Some(7)), "{reports:?}");
    let moved: Vec<String> = reports.iter().map(|r| r.function.to_string()).collect();
    assert_eq!(moved, ["a.openfaas-fn", "b.openfaas-fn"]);
}
