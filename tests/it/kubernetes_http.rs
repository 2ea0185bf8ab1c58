//! The Kubernetes backend behind the real router (HTTP statuses AlertManager acts on) and the real
//! binary (`serve` with backend = "kubernetes", a kubeconfig pointing at the fake apiserver).

use crate::support::kube as support;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::app_with_backend;
use crate::support::procs::{Served, die_with_test};
use support::apiserver::{Action, FakeApiserver, function_deployment, plain_deployment};
use support::apiserver::{CONFIGMAPS, DEPLOYMENTS};
use support::{backend, config, has_pending, notification_json, stored_ledger};

const FN_NS: &str = "openfaas-fn";

fn has_ledger(fake: &FakeApiserver, name: &str) -> bool {
    stored_ledger(fake, FN_NS, name).is_some()
}

async fn post_alert(app: axum::Router, body: String) -> (StatusCode, Value) {
    let request = Request::post("/system/alert")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn get(app: axum::Router, path: &str) -> (StatusCode, Value) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn app(fake: &FakeApiserver) -> axum::Router {
    let cfg = config(&[FN_NS]);
    app_with_backend(&cfg, Arc::new(backend(fake, &cfg))).0
}

fn echo_alert() -> String {
    notification_json(&[(
        "echo.openfaas-fn",
        "6a65bd8dfb3af9ad",
        "APIHighInvocationRate",
        "firing",
    )])
}

#[tokio::test]
async fn server_error_answers_503_changes_nothing_and_the_retry_steps_once() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let app = app(&fake);
    // A 500 on the read: nothing is written.
    fake.fault(Some(Method::GET), Action::Status(500), None);
    let (status, body) = post_alert(app.clone(), echo_alert()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["functions"][0]["outcome"], "error");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    assert!(!has_ledger(&fake, "echo"));

    // A 500 on the replica write: its outcome is unknown, so the intent stays recorded (sent
    // twice, conditioned on the same version: it cannot land twice).
    fake.clear_faults();
    fake.fault(Some(Method::PATCH), Action::Status(500), None);
    let (status, body) = post_alert(app.clone(), echo_alert()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["functions"][0]["outcome"], "error");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    assert!(has_pending(&fake, FN_NS, "echo"));
    assert_eq!(
        fake.count(&Method::PATCH),
        2,
        "the write and one conditioned re-send"
    );

    // AlertManager retries once the apiserver is back: the recorded write is completed once, and
    // the retried notification is then a duplicate of an applied episode.
    fake.clear_faults();
    let (status, body) = post_alert(app.clone(), echo_alert()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
    assert!(!has_pending(&fake, FN_NS, "echo"));
    let (status, body) = post_alert(app, echo_alert()).await;
    assert_eq!(
        (status, body["functions"][0]["outcome"].clone()),
        (StatusCode::OK, json!("unchanged"))
    );
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
}

#[tokio::test]
async fn apiserver_down_answers_503_and_changes_nothing() {
    let mut fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let app = app(&fake);
    assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
    fake.down().await;

    let (status, body) = post_alert(app.clone(), echo_alert()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["functions"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{body}"
    );
    let (status, body) = get(app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // The stored object is untouched.
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(1));
    assert!(!has_ledger(&fake, "echo"));
}

#[tokio::test]
async fn functions_list_shows_only_selected_deployments() {
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment(
        "echo",
        FN_NS,
        Some(2),
        &[("com.openfaas.scale.max", "4")],
    ));
    fake.put(plain_deployment("redis", FN_NS, 1));
    fake.put(function_deployment("other", "elsewhere", Some(1), &[]));
    let (status, body) = get(app(&fake), "/system/functions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].clone())
        .collect();
    assert_eq!(names, [json!("echo")]);
    assert_eq!(body[0]["replicas"], 2);
    assert_eq!(body[0]["labels"]["com.openfaas.scale.max"], "4");
    // Deployments are listed by metadata only, with the selector; full objects are fetched once
    // and then served from the cache while their resourceVersion holds.
    let lists: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| {
            s.method == Method::GET && s.resource == DEPLOYMENTS && s.path.ends_with("/deployments")
        })
        .collect();
    assert_eq!(lists.len(), 1, "one per allowed namespace: {lists:?}");
    assert!(
        lists
            .iter()
            .all(|l| l.query.contains("labelSelector=faas_function")
                && l.accept.contains("as=PartialObjectMetadataList")),
        "{lists:?}"
    );
    let gets = |fake: &FakeApiserver| {
        fake.seen()
            .iter()
            .filter(|s| s.method == Method::GET && s.path.ends_with("/deployments/echo"))
            .count()
    };
    assert_eq!(gets(&fake), 1);
    let (_, again) = get(app(&fake), "/system/functions").await;
    assert_eq!(again, body);
    assert_eq!(gets(&fake), 2, "a new backend has an empty cache");
}

#[tokio::test]
async fn readiness_checks_every_allowed_namespace_and_403_makes_it_unready() {
    let fake = FakeApiserver::start().await;
    let cfg = config(&[FN_NS, "team-b"]);
    let state = alertscaler::server::state(&cfg, Arc::new(backend(&fake, &cfg))).unwrap();
    let app = alertscaler::http::router(state);
    assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
    let seen = fake.seen();
    for ns in [FN_NS, "team-b"] {
        for resource in [DEPLOYMENTS, CONFIGMAPS] {
            assert!(
                seen.iter().any(|s| s.query.contains("limit=1")
                    && s.resource == resource
                    && s.path.contains(&format!("/namespaces/{ns}/"))),
                "{ns} {resource}: {seen:?}"
            );
        }
    }
    assert_eq!(seen.len(), 4, "two small lists per namespace: {seen:?}");
    // The state ConfigMaps cannot be listed: unready, naming them.
    fake.fault_on(CONFIGMAPS, None, Action::Status(403), None);
    let (status, body) = get(app.clone(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("needs `list` on configmaps in namespace openfaas-fn"),
        "{body}"
    );
    fake.clear_faults();
    fake.fault(None, Action::Status(403), None);
    let (status, body) = get(app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("needs `list` on deployments.apps"),
        "{body}"
    );
}

/// `/readyz`'s checks (two lists in each allowed namespace) run at once, not one after another:
/// each list is held by the fake until all four have arrived, which only happens if they are
/// concurrent. (One after another, four slow lists would add up past the probe's timeout.)
#[tokio::test]
async fn readiness_lists_every_namespace_at_once() {
    let fake = FakeApiserver::start().await;
    let cfg = config(&[FN_NS, "team-b"]);
    let state = alertscaler::server::state(&cfg, Arc::new(backend(&fake, &cfg))).unwrap();
    let app = alertscaler::http::router(state);
    let all_four = Arc::new(tokio::sync::Barrier::new(4));
    for resource in [DEPLOYMENTS, CONFIGMAPS] {
        fake.fault_on(resource, None, Action::Gate(all_four.clone()), None);
    }
    let deadline = alertscaler::http::READYZ_DEADLINE * 2;
    let (status, body) = tokio::time::timeout(deadline, get(app, "/readyz"))
        .await
        .expect("/readyz answers");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.seen().len(), 4, "{:?}", fake.seen());
}

// ---- the real binary ----

/// Kills the child process when the test ends, also on failure.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `alertscaler serve` with this config file and kubeconfig, and no in-cluster environment.
fn serve(
    config: &std::path::Path,
    kubeconfig: &std::path::Path,
    home: &std::path::Path,
) -> Running {
    let child = die_with_test(&mut Command::new(env!("CARGO_BIN_EXE_alertscaler")))
        .args(["serve", "--config"])
        .arg(config)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the alertscaler binary starts");
    Running(child)
}

fn config_file(dir: &std::path::Path, listen: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "listen = \"{listen}\"\nbackend = \"kubernetes\"\n[kubernetes]\nrequest_timeout_secs = 2\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_without_cluster_configuration_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut running = serve(&config, &dir.path().join("no-such-kubeconfig"), dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve kept running without a cluster"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    running
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("cannot start the kubernetes backend"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no Kubernetes client configuration"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_kubeconfig_scales_through_the_fake_apiserver() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeApiserver::start().await;
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\n",
            fake.addr
        ),
    )
    .unwrap();
    // The binary binds port 0 and reports its address: no port is freed and re-bound.
    let config = config_file(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)));
    let env = [
        ("KUBECONFIG", kubeconfig.as_os_str()),
        ("HOME", dir.path().as_os_str()),
    ];
    let running = Served::start(&config, &env);

    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let response = http
        .post(format!("{base}/system/alert"))
        .header("content-type", "application/json")
        .body(echo_alert())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["functions"][0]["to"], 5, "{body}");
    assert_eq!(fake.replicas(FN_NS, "echo"), Some(5));
}
