//! The OpenFaaS backend against an in-process gateway that follows the provider API.

#[path = "openfaas/mock.rs"]
mod mock;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alertscaler::alert::{self, FunctionId, Webhook};
use alertscaler::backend::openfaas::OpenFaasBackend;
use alertscaler::backend::state_file;
use alertscaler::backend::{Backend, Update};
use alertscaler::config::{BackendKind, Config, OpenFaasConfig};
use alertscaler::error::BackendError;
use alertscaler::service::{Outcome, Report, Service, Settings};
use chrono::{DateTime, TimeDelta, Utc};
use mock::Function;
use serde_json::json;

const STARTS: &str = "2026-11-24T06:55:10Z";

fn t0() -> DateTime<Utc> {
    "2026-11-24T06:55:20Z".parse().unwrap()
}

fn figlet() -> FunctionId {
    FunctionId::parse("figlet.openfaas-fn", "openfaas-fn").unwrap()
}

/// figlet: 1 replica, max 10 and factor 50 as labels → one step is +5.
fn labelled(replicas: u64) -> Function {
    let labels = [
        ("com.openfaas.scale.max", "10"),
        ("com.openfaas.scale.factor", "50"),
    ];
    Function {
        replicas,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Function::default()
    }
}

struct Env {
    dir: tempfile::TempDir,
    config: Config,
}

impl Env {
    fn new(gateway: &mock::Running) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("basic-auth-password");
        std::fs::write(&password_file, format!("{}\n", mock::PASSWORD)).unwrap();
        let config = Config {
            backend: BackendKind::Openfaas,
            openfaas: OpenFaasConfig {
                gateway_url: gateway.url(),
                password_file: Some(password_file),
                state_file: dir.path().join("state.json"),
                connect_timeout_ms: 1000,
                request_timeout_ms: 1000,
                retries: 2,
                retry_backoff_ms: 10,
                ..OpenFaasConfig::default()
            },
            ..Config::default()
        };
        config.validate().unwrap();
        Self { dir, config }
    }

    fn state_path(&self) -> PathBuf {
        self.config.openfaas.state_file.clone()
    }

    fn backend(&self) -> Arc<OpenFaasBackend> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let namespaces = self.config.allowed_namespaces.clone();
        Arc::new(OpenFaasBackend::new(&self.config.openfaas, namespaces, false).unwrap())
    }

    fn service(&self, backend: Arc<OpenFaasBackend>) -> Service {
        Service::new(backend, Settings::from_config(&self.config))
    }
}

fn webhook(status: &str, function: &str) -> Webhook {
    let body = json!({"version": "4", "status": status, "receiver": "scale", "groupKey": "{}:{}",
        "alerts": [{"status": status,
            "labels": {"alertname": "APIHighInvocationRate", "function_name": function},
            "annotations": {}, "startsAt": STARTS,
            "endsAt": if status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-11-24T07:00:00Z" },
            "fingerprint": "6a65bd8dfb3af9ad"}]});
    alert::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn firing() -> Webhook {
    webhook("firing", "figlet.openfaas-fn")
}

fn only(report: &Report) -> &alertscaler::service::FunctionReport {
    assert_eq!(report.functions.len(), 1, "{report:?}");
    &report.functions[0]
}

fn assert_scaled(report: &Report, from: u32, to: u32) {
    let f = only(report);
    assert_eq!(
        (f.outcome, f.from, f.to),
        (Outcome::Scaled, Some(from), Some(to)),
        "{report:?}"
    );
}

fn assert_outcome(report: &Report, outcome: Outcome) -> String {
    let f = only(report);
    assert_eq!(f.outcome, outcome, "{report:?}");
    f.reason.clone()
}

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
    assert!(slot.entry.last_up.is_some() && slot.entry.firing.contains_key("6a65bd8dfb3af9ad"));

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
    let state = alertscaler::server::state(&env.config, env.backend()).unwrap();
    let request = axum::http::Request::post("/system/alert")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::to_vec(&json!({"version": "4", "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "APIHighInvocationRate",
                "function_name": "figlet.openfaas-fn"}, "startsAt": STARTS}]}))
            .unwrap(),
        ))
        .unwrap();
    let response = alertscaler::http::router(state)
        .oneshot(request)
        .await
        .unwrap();
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
        (state.replicas, state.labels.len(), state.ledger),
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
async fn persistent_server_errors_fail_without_changing_the_ledger() {
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

    // Gateway back: the unsettled intent is rolled back (replicas still 1), so the ledger is as
    // before and the retried notification scales exactly once.
    gw.with(|g| g.fail_scales = 0);
    let state = backend.read(&figlet()).await.unwrap();
    assert!(
        state.ledger.unwrap().is_empty(),
        "ledger unchanged by the failed attempt"
    );
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(30))
        .await;
    assert_scaled(&report, 1, 6);
}

#[tokio::test]
async fn slow_reads_time_out_and_are_bounded() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 100;
    env.config.openfaas.retries = 1;
    let backend = env.backend();
    gw.with(|g| g.read_delay = Some(Duration::from_millis(2000)));
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
async fn duplicate_after_restart_is_not_applied_twice() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);

    // A new process on the same state file: the retried notification is a duplicate.
    let report = env
        .service(env.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (6, 1));

    // Control: without the state file the same notification would step again.
    let mut other = Env::new(&gw);
    other.config.openfaas.state_file = other.dir.path().join("elsewhere.json");
    let report = other
        .service(other.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_scaled(&report, 6, 10);
}

#[tokio::test]
async fn unknown_outcome_that_landed_is_not_applied_again_after_restart() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 150;
    // The gateway scales, but answers too late: the outcome is unknown to us.
    gw.with(|g| g.scale_delay_after_apply = Some(Duration::from_millis(1000)));
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert!(assert_outcome(&report, Outcome::Error).contains("unknown"));
    let slots = state_file::load(&env.state_path()).unwrap();
    let pending = slots[&figlet()]
        .pending
        .clone()
        .expect("intent written before the call");
    assert_eq!((pending.from, pending.to), (1, 6));
    assert_eq!(gw.replicas("figlet"), 6);

    gw.with(|g| g.scale_delay_after_apply = None);
    let report = env
        .service(env.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    assert_eq!(gw.replicas("figlet"), 6, "no second step");
    let scales = gw.with(|g| g.scales.clone());
    assert!(
        scales.iter().all(|s| s["replicas"] == 6),
        "retries repeat the same absolute count"
    );
    assert!(
        state_file::load(&env.state_path()).unwrap()[&figlet()]
            .pending
            .is_none()
    );
}

#[tokio::test]
async fn crash_before_the_scale_landed_is_decided_again_once() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 150;
    env.config.openfaas.retries = 0;
    // The request dies before the gateway acts: same state on disk as a crash after the intent.
    gw.with(|g| g.scale_hang_without_apply = Some(Duration::from_millis(1000)));
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert_outcome(&report, Outcome::Error);
    assert!(
        state_file::load(&env.state_path()).unwrap()[&figlet()]
            .pending
            .is_some()
    );
    assert_eq!(gw.replicas("figlet"), 1);

    gw.with(|g| g.scale_hang_without_apply = None);
    let service = env.service(env.backend());
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_scaled(&report, 1, 6);
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(6))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    assert_eq!(gw.replicas("figlet"), 6);
}

#[tokio::test]
async fn concurrent_writers_conflict_on_the_local_version() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let a = backend.read(&figlet()).await.unwrap();
    let b = backend.read(&figlet()).await.unwrap();
    let entry = alertscaler::ledger::Entry::default();
    let update = |v| Update {
        replicas: Some(2),
        ledger: &entry,
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

#[cfg(unix)]
#[tokio::test]
async fn the_state_file_is_replaced_never_written_in_place() {
    use std::os::unix::fs::MetadataExt;
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    let service = env.service(env.backend());
    assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);

    // A hard link keeps the old inode: an in-place write would change what it shows.
    let link = env.dir.path().join("old-link.json");
    std::fs::hard_link(&path, &link).unwrap();
    let old = std::fs::read(&link).unwrap();
    let report = service
        .handle(
            &webhook("resolved", "figlet.openfaas-fn"),
            t0() + TimeDelta::seconds(60),
        )
        .await;
    assert_scaled(&report, 6, 1);
    assert_eq!(std::fs::read(&link).unwrap(), old, "old file untouched");
    assert_ne!(
        std::fs::metadata(&link).unwrap().ino(),
        std::fs::metadata(&path).unwrap().ino()
    );
    assert!(
        state_file::load(&path).unwrap()[&figlet()]
            .entry
            .last_down
            .is_some()
    );
}

#[tokio::test]
async fn a_crash_while_writing_leaves_the_real_file_loadable() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    assert_scaled(
        &env.service(env.backend()).handle(&firing(), t0()).await,
        1,
        6,
    );
    let good = std::fs::read(&path).unwrap();

    // Half a temp file, as a crash in the middle of a save leaves it: ignored on load.
    let temp = state_file::temp_path(&path);
    std::fs::write(&temp, &good[..good.len() / 2]).unwrap();
    let backend = env.backend();
    assert!(backend.slot(&figlet()).unwrap().entry.last_up.is_some());

    // A save that cannot complete (the temp path is unusable) fails before any scale call and
    // leaves the real file byte for byte as it was.
    std::fs::remove_file(&temp).unwrap();
    std::fs::create_dir(&temp).unwrap();
    let report = env
        .service(backend.clone())
        .handle(&firing(), t0() + TimeDelta::seconds(60))
        .await;
    assert!(assert_outcome(&report, Outcome::Error).contains("state file"));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (6, 1));

    // Once the directory is usable again the same notification proceeds (memory was not changed).
    std::fs::remove_dir(&temp).unwrap();
    let report = env
        .service(backend)
        .handle(&firing(), t0() + TimeDelta::seconds(60))
        .await;
    assert_scaled(&report, 6, 10);
}

#[tokio::test]
async fn a_corrupt_state_file_stops_startup_unless_fresh_state() {
    let gw = mock::start(&[]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    std::fs::write(
        &path,
        b"{\"version\":1,\"functions\":{\"figlet.openfaas-fn\":{\"coun",
    )
    .unwrap();
    let namespaces = env.config.allowed_namespaces.clone();
    let err = OpenFaasBackend::new(&env.config.openfaas, namespaces.clone(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("--fresh-state"),
        "{err}"
    );
    let err = alertscaler::server::backend(&env.config)
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("--fresh-state"));

    let backend = OpenFaasBackend::new(&env.config.openfaas, namespaces, true).unwrap();
    assert!(backend.slot(&figlet()).is_none(), "empty ledger");
    assert!(!path.exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".corrupt"))
        .collect();
    assert_eq!(aside.len(), 1, "corrupt file kept for inspection");
}
