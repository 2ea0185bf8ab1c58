//! An in-process OpenFaaS gateway that follows the provider API: paths, query, JSON, basic auth.
//! Scripted failures and delays let tests drive retries, timeouts and unknown outcomes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

pub const NAMESPACE: &str = "openfaas-fn";
pub const USER: &str = "admin";
pub const PASSWORD: &str = "s3cret-pass";

/// One deployed function.
#[derive(Debug, Clone, Default)]
pub struct Function {
    pub replicas: u64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// What the gateway holds, what it received, and what it is scripted to do next.
#[derive(Debug, Default)]
pub struct Gateway {
    pub functions: BTreeMap<String, Function>,
    /// Every scale request body received, in order.
    pub scales: Vec<Value>,
    pub reads: usize,
    /// Answer this many next reads / scales with 500.
    pub fail_reads: usize,
    pub fail_scales: usize,
    /// Sleep before answering reads; sleep AFTER applying a scale (the scale lands, the answer is late).
    pub read_delay: Option<Duration>,
    pub scale_delay_after_apply: Option<Duration>,
    /// Sleep and do NOT apply the scale (the request dies before acting).
    pub scale_hang_without_apply: Option<Duration>,
}

pub type Shared = Arc<Mutex<Gateway>>;

/// A running mock; the server task is stopped when this is dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Gateway) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn replicas(&self, name: &str) -> u64 {
        self.with(|g| g.functions[name].replicas)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(functions: &[(&str, Function)]) -> Running {
    let state: Shared = Arc::default();
    state.lock().unwrap().functions = functions
        .iter()
        .map(|(n, f)| (n.to_string(), f.clone()))
        .collect();
    let app = Router::new()
        .route("/system/function/{name}", get(read))
        .route("/system/scale-function/{name}", post(scale))
        .route("/system/functions", get(list))
        .route("/healthz", get(|| async { "OK" }))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running { addr, state, task }
}

#[derive(Deserialize)]
struct Ns {
    namespace: Option<String>,
}

fn authorised(headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Basic {expected}"))
}

/// CE behaviour: only `openfaas-fn` (or no namespace) is served; others are a 400.
fn namespace_ok(ns: &Ns) -> bool {
    ns.namespace
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == NAMESPACE)
}

/// FunctionStatus with `omitempty`: replicas 0 is absent, empty maps are null.
fn status(name: &str, f: &Function) -> Value {
    let mut v = json!({"name": name, "namespace": NAMESPACE, "image": "ghcr.io/openfaas/figlet:latest",
        "invocationCount": 0, "availableReplicas": f.replicas});
    if f.replicas > 0 {
        v["replicas"] = json!(f.replicas);
    }
    v["labels"] = if f.labels.is_empty() {
        Value::Null
    } else {
        json!(f.labels)
    };
    v["annotations"] = if f.annotations.is_empty() {
        Value::Null
    } else {
        json!(f.annotations)
    };
    v
}

async fn read(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(ns): Query<Ns>,
    headers: HeaderMap,
) -> Response {
    let delay = {
        let mut g = s.lock().unwrap();
        g.reads += 1;
        g.read_delay
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut g = s.lock().unwrap();
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials").into_response();
    }
    if g.fail_reads > 0 {
        g.fail_reads -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "provider error").into_response();
    }
    if !namespace_ok(&ns) {
        return (StatusCode::BAD_REQUEST, "namespace not allowed").into_response();
    }
    match g.functions.get(&name) {
        Some(f) => Json(status(&name, f)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn scale(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(ns): Query<Ns>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (hang, late) = {
        let mut g = s.lock().unwrap();
        if !authorised(&headers) {
            return (StatusCode::UNAUTHORIZED, "invalid credentials").into_response();
        }
        if !namespace_ok(&ns) {
            return (StatusCode::BAD_REQUEST, "namespace not allowed").into_response();
        }
        let Ok(req) = serde_json::from_str::<Value>(&body) else {
            return (StatusCode::BAD_REQUEST, "bad json").into_response();
        };
        g.scales.push(req.clone());
        if g.fail_scales > 0 {
            g.fail_scales -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot update deployment",
            )
                .into_response();
        }
        if req["serviceName"] != json!(name)
            || req["namespace"] != json!(ns.namespace.clone().unwrap_or_default())
        {
            return (StatusCode::BAD_REQUEST, "serviceName/namespace mismatch").into_response();
        }
        let Some(replicas) = req["replicas"].as_u64() else {
            return (StatusCode::BAD_REQUEST, "replicas missing").into_response();
        };
        if replicas == 0 {
            // OpenFaaS CE's answer to a scale to zero.
            return (StatusCode::BAD_REQUEST, "replicas must be greater than 0").into_response();
        }
        let hang = g.scale_hang_without_apply;
        if hang.is_none() {
            match g.functions.get_mut(&name) {
                Some(f) => f.replicas = replicas,
                None => return StatusCode::NOT_FOUND.into_response(),
            }
        }
        (hang, g.scale_delay_after_apply)
    };
    if let Some(d) = hang.or(late) {
        tokio::time::sleep(d).await;
    }
    StatusCode::ACCEPTED.into_response()
}

async fn list(State(s): State<Shared>, Query(ns): Query<Ns>, headers: HeaderMap) -> Response {
    let g = s.lock().unwrap();
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !namespace_ok(&ns) {
        return (StatusCode::BAD_REQUEST, "namespace not allowed").into_response();
    }
    let all: Vec<Value> = g.functions.iter().map(|(n, f)| status(n, f)).collect();
    Json(all).into_response()
}
