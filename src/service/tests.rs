//! End to end through the service and the memory backend: policies selected by alert labels,
//! the ledger's recommendations, stabilization and the settle pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use chrono::{TimeDelta, TimeZone};
use serde_json::json;

use super::*;
use crate::alert::{self, Webhook};
use crate::backend::memory::MemoryBackend;
use crate::config::Config;
use crate::config::MemoryFunction;
use crate::measure::LoadSource;
use crate::policy::Why;
use crate::service::{Outcome, Settings};
use crate::testlog::Logs;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

/// The memory backend, counting reads, yielding between a read and the write (so concurrent
/// decisions interleave), answering the next `conflicts` writes with a version conflict, and, when
/// switched, as if the function were deleted (`gone`) or had an invalid min label (`bad_labels`),
/// and with the labels of `relabel` laid over the function's (as a redeploy changes them).
struct Counting {
    inner: MemoryBackend,
    reads: std::sync::atomic::AtomicUsize,
    conflicts: std::sync::atomic::AtomicUsize,
    gone: std::sync::atomic::AtomicBool,
    bad_labels: std::sync::atomic::AtomicBool,
    relabel: std::sync::Mutex<Vec<(&'static str, &'static str)>>,
    /// The next write waits here ([`Counting::hold_next_write`]).
    held: std::sync::Mutex<Option<Arc<Held>>>,
}

/// A write held open inside the backend: `entered` once it waits, until `release`.
#[derive(Default)]
struct Held {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl Counting {
    fn replicas(&self, function: &FunctionId) -> Option<u32> {
        self.inner.replicas(function)
    }

    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Hold the next write open (after its version check would pass or fail, before it lands).
    fn hold_next_write(&self) -> Arc<Held> {
        let held = Arc::new(Held::default());
        *self.held.lock().unwrap() = Some(held.clone());
        held
    }
}

#[async_trait::async_trait]
impl Backend for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    async fn read(&self, f: &FunctionId) -> Result<crate::backend::FunctionState, BackendError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.gone.load(SeqCst) {
            return Err(BackendError::NotFound(f.to_string()));
        }
        let mut state = self.inner.read(f).await;
        if let (Ok(state), true) = (&mut state, self.bad_labels.load(SeqCst)) {
            state
                .labels
                .insert("com.openfaas.scale.min".into(), "lots".into());
        }
        if let Ok(state) = &mut state {
            for (k, v) in self.relabel.lock().unwrap().iter() {
                state.labels.insert((*k).into(), (*v).into());
            }
        }
        tokio::task::yield_now().await;
        state
    }

    async fn apply(
        &self,
        f: &FunctionId,
        update: Update<'_>,
    ) -> Result<crate::backend::Applied, BackendError> {
        let held = self.held.lock().unwrap().take();
        if let Some(held) = held {
            held.entered.notify_one();
            held.release.notified().await;
        }
        let conflict = self
            .conflicts
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if conflict {
            return Err(BackendError::Conflict("another writer (test)".into()));
        }
        if self.gone.load(SeqCst) {
            return Err(BackendError::NotFound(f.to_string()));
        }
        self.inner.apply(f, update).await
    }

    async fn list(&self) -> Result<Vec<crate::backend::FunctionSummary>, BackendError> {
        self.inner.list().await
    }
}

fn service(labels: &[(&str, &str)], replicas: u32) -> (Service, Arc<Counting>) {
    service_with(labels, replicas, Settings::from_config(&Config::default()))
}

fn service_with(
    labels: &[(&str, &str)],
    replicas: u32,
    settings: Settings,
) -> (Service, Arc<Counting>) {
    let spec = MemoryFunction {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
        replicas,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let backend = Arc::new(Counting {
        inner: MemoryBackend::new(&[spec]),
        reads: Default::default(),
        conflicts: Default::default(),
        gone: Default::default(),
        bad_labels: Default::default(),
        relabel: Default::default(),
        held: Default::default(),
    });
    let service = Service::new(backend.clone(), settings);
    (service, backend)
}

fn webhook(
    status: &str,
    alertname: &str,
    labels: &[(&str, &str)],
    value: &str,
    starts: i64,
) -> Webhook {
    let mut l = json!({"alertname": alertname, "function_name": "echo"});
    for (k, v) in labels {
        l[k] = json!(v);
    }
    let body = json!({
        "version": "4",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": l,
            "annotations": {"value": value},
            "startsAt": t(starts),
        }],
    });
    alert::parse(body.to_string().as_bytes()).unwrap()
}

fn id() -> FunctionId {
    FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    }
}

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

/// CE's step on echo (1 → 5 at 1 s), then its resolution at 100 s: the scale-down to min is held
/// by the stabilization window, for the settle pass to finish.
async fn hold_a_scale_down(svc: &Service) {
    let fire = webhook("firing", "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&fire, t(1)).await;
    let resolved = webhook("resolved", "APIHighInvocationRate", &[], "1", 0);
    svc.handle(&resolved, t(100)).await;
}

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

const MIN: &str = "com.openfaas.scale.min";
const MAX: &str = "com.openfaas.scale.max";
const ZERO: &str = "com.openfaas.scale.zero";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notifications_for_one_function_never_conflict_with_each_other() {
    let (svc, backend) = service(&[("com.openfaas.scale.max", "100")], 1);
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (svc, barrier) = (svc.clone(), barrier.clone());
            tokio::spawn(async move {
                // 50 distinct episodes (one per alert name), all at once.
                let hook = webhook("firing", &format!("Rate{i}"), &[], "10", i);
                barrier.wait().await;
                svc.handle(&hook, t(100)).await
            })
        })
        .collect();
    let mut scaled = 0;
    for task in tasks {
        let report = task.await.unwrap();
        let f = &report.functions[0];
        assert_ne!(f.outcome, Outcome::Error, "{f:?}");
        scaled += usize::from(f.outcome == Outcome::Scaled);
    }
    // The first episode steps; the others arrive within the cooldown and are held, one at a time.
    assert_eq!(scaled, 1);
    assert_eq!(backend.replicas(&id()), Some(21));
}

/// A fake Prometheus answering every instant query with `desired` (as the capacity pack's
/// `alertscaler:function_desired_replicas` would), sampled `age_secs` before the evaluation, or 503
/// while `desired` is [`UNAVAILABLE`].
async fn fake_prometheus(
    desired: Arc<std::sync::atomic::AtomicU32>,
    age_secs: Arc<std::sync::atomic::AtomicU32>,
) -> String {
    use axum::response::IntoResponse;
    use axum::routing::get;
    const EVALUATED_AT: f64 = 1_800_000_000.0;
    let app = axum::Router::new().route(
        "/api/v1/query",
        get(move || {
            let (v, age) = (desired.load(SeqCst), age_secs.load(SeqCst));
            async move {
                if v == UNAVAILABLE {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let at = EVALUATED_AT - f64::from(age);
                axum::Json(crate::measure::desired_answer(
                    f64::from(v),
                    at,
                    EVALUATED_AT,
                ))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// What [`fake_prometheus`] answers 503 for.
const UNAVAILABLE: u32 = u32::MAX;

/// The service on one function at 1 replica, measuring desired counts from a fake Prometheus
/// that answers the returned value (starting at `desired`).
async fn measured(
    labels: &[(&str, &str)],
    desired: u32,
) -> (Service, Arc<Counting>, Arc<std::sync::atomic::AtomicU32>) {
    measured_with(
        labels,
        1,
        desired,
        Settings::from_config(&Config::default()),
    )
    .await
}

/// As [`measured`], with the function at `replicas` and these settings.
async fn measured_with(
    labels: &[(&str, &str)],
    replicas: u32,
    desired: u32,
    settings: Settings,
) -> (Service, Arc<Counting>, Arc<std::sync::atomic::AtomicU32>) {
    let (svc, backend, desired, _age) = measured_aged(labels, replicas, desired, settings).await;
    (svc, backend, desired)
}

/// As [`measured_with`], also returning the age (seconds) of the sample the fake Prometheus answers
/// (starting at 0).
async fn measured_aged(
    labels: &[(&str, &str)],
    replicas: u32,
    desired: u32,
    settings: Settings,
) -> (
    Service,
    Arc<Counting>,
    Arc<std::sync::atomic::AtomicU32>,
    Arc<std::sync::atomic::AtomicU32>,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let desired = Arc::new(std::sync::atomic::AtomicU32::new(desired));
    let age = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let prometheus = crate::config::PrometheusConfig {
        url: Some(fake_prometheus(desired.clone(), age.clone()).await),
        ..Default::default()
    };
    let (svc, backend) = service_with(labels, replicas, settings);
    let svc = svc.with_load_source(LoadSource::from_config(&prometheus).unwrap());
    (svc, backend, desired, age)
}

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

const UNDER: [(&str, &str); 2] = [("scale_policy", "capacity"), ("scale_direction", "up")];
const OVER: [(&str, &str); 2] = [("scale_policy", "capacity"), ("scale_direction", "down")];

/// The capacity pack's `FunctionUnderProvisioned` for echo, `status` at episode start `starts`.
fn under(status: &str, starts: i64) -> Webhook {
    webhook(status, "FunctionUnderProvisioned", &UNDER, "0", starts)
}

/// The capacity pack's `FunctionOverProvisioned` for echo.
fn over(status: &str, starts: i64) -> Webhook {
    webhook(status, "FunctionOverProvisioned", &OVER, "0", starts)
}

/// An idle function under the capacity pack with min 2 and `zero=true`, at 2, Prometheus reading
/// desired 0: `FunctionOverProvisioned` fires at 0 and keeps firing (it compares max(desired, 1)
/// = 1 with 2 replicas), followed up; the pack answers "at min".
async fn idle_at_min_two() -> (Service, Arc<Counting>) {
    let sleepy = [
        ("com.openfaas.scale.min", "2"),
        ("com.openfaas.scale.zero", "true"),
    ];
    let settings = Settings::from_config(&Config::default());
    let (svc, backend, _desired) = measured_with(&sleepy, 2, 0, settings).await;
    let r = svc.handle(&over("firing", 0), t(0)).await;
    assert_eq!(r.functions[0].why, Some(Why::AtMin), "{r:?}");
    (svc, backend)
}

/// `FunctionOverProvisioned` fires for good on an idle function whose min is above 1, and is followed
/// up every 5 s: each follow-up decides "at min" and moves nothing, and must write nothing either
/// (on Kubernetes every write is a state ConfigMap update: one per such function every 5 s, forever).
#[tokio::test]
async fn follow_ups_of_an_idle_function_at_min_write_nothing() {
    let (svc, backend) = idle_at_min_two().await;
    let version = || async { backend.inner.read(&id()).await.unwrap().version };
    let before = version().await;
    for at in (5..120).step_by(5) {
        svc.follow_up(t(at)).await;
    }
    assert_eq!(backend.replicas(&id()), Some(2));
    assert_eq!(
        version().await,
        before,
        "follow-ups wrote the function's state"
    );
}

/// The latency pack's `FunctionIdle` (zero policy) for echo, firing since `starts`.
fn idle(starts: i64) -> Webhook {
    let labels = [("scale_policy", "zero"), ("scale_direction", "down")];
    webhook("firing", "FunctionIdle", &labels, "0", starts)
}

/// `FunctionIdle` puts it to sleep, at the latest once the stabilization window has passed,
/// while the follow-ups (every 5 s) and settle passes (every 15 s) go on.
#[tokio::test]
async fn an_idle_function_with_a_min_above_one_sleeps_under_the_capacity_pack() {
    let (svc, backend) = idle_at_min_two().await;
    for at in (5..900).step_by(5) {
        svc.follow_up(t(at)).await;
    }
    let r = svc.handle(&idle(900), t(900)).await;
    for at in (905..1500).step_by(5) {
        if backend.replicas(&id()) == Some(0) {
            break;
        }
        svc.follow_up(t(at)).await;
        if at % 15 == 0 {
            svc.settle(t(at)).await.unwrap();
        }
    }
    assert_eq!(backend.replicas(&id()), Some(0), "FunctionIdle: {r:?}");
}

/// With a zero-duration of 30m the pack's `FunctionIdle` (window 15m) first says `idle_too_short`,
/// and one of its repeats puts the function to sleep once it has been idle for 30m. AlertManager
/// repeats both alerts every 30 s (the shipped route), `FunctionIdle` 5 s after
/// `FunctionOverProvisioned`, whose decisions at min move nothing.
#[tokio::test]
async fn an_idle_function_with_a_min_above_one_sleeps_on_a_later_repeat_of_function_idle() {
    let sleepy = [
        ("com.openfaas.scale.min", "2"),
        ("com.openfaas.scale.zero", "true"),
        ("com.openfaas.scale.zero-duration", "30m"),
    ];
    let settings = Settings::from_config(&Config::default());
    let (svc, backend, _desired) = measured_with(&sleepy, 2, 0, settings).await;
    let mut idle = idle(5);
    idle.alerts[0]
        .annotations
        .insert("window".into(), "15m".into());
    let mut seen = Vec::new();
    for at in (0..1200).step_by(30) {
        svc.handle(&over("firing", 0), t(at)).await;
        let r = svc.handle(&idle, t(at + 5)).await;
        seen.push((at + 5, r.functions[0].why));
        if backend.replicas(&id()) == Some(0) {
            break;
        }
    }
    assert_eq!(backend.replicas(&id()), Some(0), "FunctionIdle: {seen:?}");
}

/// Asleep, `FunctionOverProvisioned` still fires for its `keep_firing_for` (30 s): neither its
/// follow-ups nor AlertManager's repeat wake the function (an up alert does), nor its resolution.
#[tokio::test]
async fn an_over_provisioned_alert_never_wakes_a_sleeping_function() {
    let (svc, backend) = idle_at_min_two().await;
    svc.handle(&idle(30), t(30)).await;
    assert_eq!(backend.replicas(&id()), Some(0));
    for at in (35..60).step_by(5) {
        let reports = svc.follow_up(t(at)).await;
        assert_eq!(
            backend.replicas(&id()),
            Some(0),
            "follow-up at {at}: {reports:?}"
        );
    }
    for (status, at) in [("firing", 60), ("resolved", 65)] {
        let r = svc.handle(&over(status, 0), t(at)).await;
        assert_eq!(backend.replicas(&id()), Some(0), "{status}: {r:?}");
    }
    // An up alert wakes it.
    svc.handle(&under("firing", 70), t(70)).await;
    assert_eq!(backend.replicas(&id()), Some(2));
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

#[test]
fn a_failure_after_settling_keeps_what_the_settling_did_in_its_reason() {
    let settled = Some(crate::backend::Settled {
        from: 1,
        to: 5,
        how: "an earlier scale 1 → 5, unconfirmed, was sent again".into(),
    });
    assert_eq!(
        super::applied::after(settled.as_ref(), "backend unavailable: 503".into()),
        "an earlier scale 1 → 5, unconfirmed, was sent again; then backend unavailable: 503"
    );
    assert_eq!(super::applied::after(None, "x".into()), "x");
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

/// A log processor reads `alerts` as a JSON array of the alert names, not as the text of a Rust
/// value: names with quotes, backslashes and line breaks included, sorted and each once.
#[tokio::test]
async fn a_json_decision_log_line_carries_the_alert_names_as_an_array() {
    let (svc, _) = service(&[], 1);
    let names = [
        "Up \"quoted\"\nINFO forged",
        "APIHighInvocationRate",
        "back\\slash",
    ];
    let alerts: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "status": "firing",
                "labels": {"alertname": name, "function_name": "echo", "i": i.to_string()},
                "annotations": {"value": "10"},
                "startsAt": t(0),
            })
        })
        .collect();
    let body = json!({"version": "4", "status": "firing", "alerts": alerts});
    let webhook = alert::parse(body.to_string().as_bytes()).unwrap();

    let logs = Logs::default();
    {
        let _logging = logs.capture_json("info");
        svc.handle(&webhook, t(1)).await;
    }

    let text = logs.text();
    let decided: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .filter(|line: &serde_json::Value| line["fields"]["message"] == "decided")
        .collect();
    assert_eq!(decided.len(), 1, "{text}");
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(decided[0]["fields"]["alerts"], json!(expected), "{text}");
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

mod dry_run;
mod logged;
mod races;

/// README: "at most 32 of each are kept per function", with the configured cooldown and TTL.
#[test]
fn the_service_keeps_at_most_32_episodes_of_each_kind_per_function() {
    let config = Config {
        scale_up_cooldown_secs: 30,
        episode_ttl_secs: 600,
        ..Config::default()
    };
    let timing = Settings::from_config(&config).timing;
    assert_eq!(timing.max_episodes, 32);
    assert_eq!(
        (timing.cooldown, timing.episode_ttl),
        (TimeDelta::seconds(30), TimeDelta::seconds(600))
    );
}
