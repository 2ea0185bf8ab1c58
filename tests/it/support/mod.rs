//! Shared test helpers: the sample configuration, fixtures, and driving the real router.

use std::path::PathBuf;
use std::sync::Arc;

use alertscaler::backend::Backend;
use alertscaler::backend::memory::MemoryBackend;
use alertscaler::config::Config;
use alertscaler::http::{AppState, router};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A fixture's bytes, as `fixtures/post.sh NAME` would send them.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo(&format!("fixtures/{name}.json"))).expect("fixture exists")
}

/// A fixture parsed as JSON, to derive variants from.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// The sample configuration the README runs.
pub fn sample_config() -> Config {
    Config::load(Some(&repo("fixtures/alertscaler.toml"))).expect("sample config loads")
}

/// The app on the sample config with the memory backend; the backend is returned for inspection.
pub fn app() -> (Router, Arc<MemoryBackend>) {
    app_with(sample_config())
}

/// The app on `config` with the memory backend holding its functions.
pub fn app_with(config: Config) -> (Router, Arc<MemoryBackend>) {
    let memory = Arc::new(MemoryBackend::new(&config.memory.functions));
    let (app, _) = app_with_backend(&config, memory.clone());
    (app, memory)
}

/// The one router helper: the real router and state on `config` with any backend.
pub fn app_with_backend(config: &Config, backend: Arc<dyn Backend>) -> (Router, AppState) {
    let state = alertscaler::server::state(config, backend).unwrap();
    (router(state.clone()), state)
}

/// Send one request through the real router; returns the status, headers and body text.
pub async fn send_raw(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Send one request through the real router; returns the status and the JSON body.
pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = send_raw(app, request).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("body is not JSON: {body}"));
    (status, json)
}

pub async fn post(app: &Router, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::post("/system/alert")
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    send(app, request).await
}

pub async fn post_fixture(app: &Router, name: &str) -> (StatusCode, Value) {
    post(app, fixture(name)).await
}

pub async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// Replicas per function as `GET /system/functions` shows them.
pub async fn replicas(app: &Router, name: &str) -> u64 {
    let (status, list) = get(app, "/system/functions").await;
    assert_eq!(status, StatusCode::OK);
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed"))["replicas"]
        .as_u64()
        .unwrap()
}

/// The report line for one function (`name.namespace`).
pub fn line<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == function)
        .unwrap_or_else(|| panic!("no line for {function} in {report}"))
}

pub mod closed_loop;
pub mod dashboard;
pub mod doubles;
pub mod gateway;
pub mod kube;
pub mod mutate;
pub mod notification;
pub mod openfaas;
pub mod procs;
pub mod tls;
