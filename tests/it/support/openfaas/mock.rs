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

use crate::support::tls::PrivateCa;

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

/// Which provider sits behind the gateway: they differ where the real ones do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Provider {
    /// faasd: 404 to scaling an unknown function; the namespace is read from the body.
    #[default]
    Faasd,
    /// faas-netes: 500 to scaling an unknown function; the namespace is read from the query.
    FaasNetes,
}

/// What the gateway holds, what it received, and what it is scripted to do next.
#[derive(Debug, Default)]
pub struct Gateway {
    pub functions: BTreeMap<String, Function>,
    pub provider: Provider,
    /// OpenFaaS CE 0.27: every scale is clamped to 1..=5 and answered 200.
    pub ce_clamp: bool,
    /// The gateway's Prometheus is unreachable: `GET /system/functions` fails and the connection
    /// is closed mid-answer.
    pub no_prometheus: bool,
    /// Every scale request body received, in order.
    pub scales: Vec<Value>,
    /// Every replica count the provider actually applied, per function, in order.
    pub applied: Vec<(String, u64)>,
    pub reads: usize,
    /// `GET /healthz` requests received, and whether they are answered 503.
    pub healthz_calls: usize,
    pub healthz_failing: bool,
    /// Answer this many next reads / scales with 500 (a scale answered so does NOT act).
    pub fail_reads: usize,
    pub fail_scales: usize,
    /// Answer this many next scales with 502 AFTER applying them.
    pub fail_scales_after_apply: usize,
    /// Answer the next scales with 502 and apply them this much later (a slow container start):
    /// the count lands after the caller was told it failed.
    pub apply_late: Option<Duration>,
    /// Sleep before answering reads; sleep AFTER applying a scale (the scale lands, the answer is late).
    pub read_delay: Option<Duration>,
    pub scale_delay_after_apply: Option<Duration>,
    /// Sleep and do NOT apply the scale (the request dies before acting).
    pub scale_hang_without_apply: Option<Duration>,
    /// Random faults on every scale call (the kill -9 fault test); see [`Chaos`].
    pub chaos: Option<Chaos>,
    /// Forget every function as soon as a scale call arrives (it vanished meanwhile).
    pub vanish_on_scale: bool,
    /// Scripted answers to the next scale calls, before any other fault: (apply it first?, status,
    /// body).
    pub scale_script: std::collections::VecDeque<(bool, u16, String)>,
    /// Late applications not landed yet, oldest first: (function, replicas).
    late: Vec<(String, u64)>,
}

impl Gateway {
    /// Set a function's replicas as the provider would, after any late application still due
    /// for it (a provider applies one function's updates in order).
    fn set(&mut self, name: &str, replicas: u64) -> bool {
        self.land_late(name);
        match self.functions.get_mut(name) {
            Some(f) => {
                f.replicas = replicas;
                self.applied.push((name.to_owned(), replicas));
                true
            }
            None => false,
        }
    }

    /// Land every late application due for `name`, in order.
    fn land_late(&mut self, name: &str) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.late)
            .into_iter()
            .partition(|(n, _)| n == name);
        self.late = rest;
        for (n, replicas) in due {
            if let Some(f) = self.functions.get_mut(&n) {
                f.replicas = replicas;
                self.applied.push((n, replicas));
            }
        }
    }

    /// Land every late application now (tests call this instead of sleeping).
    pub fn land_all_late(&mut self) {
        let names: Vec<String> = self.late.iter().map(|(n, _)| n.clone()).collect();
        for n in names {
            self.land_late(&n);
        }
    }
}

/// Seeded random faults on scale calls: of every 100, `fail_before` answer 500 without acting,
/// `fail_after` act and answer 502, `late` answer 502 and act up to `late_max` later; the rest act
/// and answer 202. Late applications of one function land in order.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub state: u64,
    pub fail_before: u64,
    pub fail_after: u64,
    pub late: u64,
    pub late_max: Duration,
}

/// What one scale call does under [`Chaos`].
enum Fault {
    None,
    FailBefore,
    FailAfter,
    Late(Duration),
}

impl Chaos {
    /// xorshift64*: small, seeded, good enough to spread faults.
    pub fn next(&mut self) -> u64 {
        let mut x = self.state.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick(&mut self) -> Fault {
        let roll = self.next() % 100;
        let late_ms = u64::try_from(self.late_max.as_millis()).unwrap_or(0).max(1);
        if roll < self.fail_before {
            Fault::FailBefore
        } else if roll < self.fail_before + self.fail_after {
            Fault::FailAfter
        } else if roll < self.fail_before + self.fail_after + self.late {
            Fault::Late(Duration::from_millis(self.next() % late_ms))
        } else {
            Fault::None
        }
    }
}

pub type Shared = Arc<Mutex<Gateway>>;

/// A running mock; the server task is stopped when this is dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Shared,
    /// `http`, or `https` when served with a private CA's certificate.
    scheme: &'static str,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
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
    let (state, app) = gateway(functions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running {
        addr,
        state,
        scheme: "http",
        task,
    }
}

/// The same gateway over HTTPS, with a certificate `ca` signed.
pub async fn start_https(functions: &[(&str, Function)], ca: &PrivateCa) -> Running {
    let (state, app) = gateway(functions);
    let (addr, task) = ca.serve(app).await;
    Running {
        addr,
        state,
        scheme: "https",
        task,
    }
}

fn gateway(functions: &[(&str, Function)]) -> (Shared, Router) {
    let state: Shared = Arc::default();
    state.lock().unwrap().functions = functions
        .iter()
        .map(|(n, f)| (n.to_string(), f.clone()))
        .collect();
    let app = Router::new()
        .route("/system/function/{name}", get(read))
        .route("/system/scale-function/{name}", post(scale))
        .route("/system/functions", get(list))
        .route("/healthz", get(healthz))
        .with_state(state.clone());
    (state, app)
}

async fn healthz(State(s): State<Shared>) -> StatusCode {
    let mut g = s.lock().unwrap();
    g.healthz_calls += 1;
    if g.healthz_failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
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
    let (wait, status) = {
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
        if g.vanish_on_scale {
            g.functions.clear();
        }
        if g.fail_scales > 0 {
            g.fail_scales -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot update deployment",
            )
                .into_response();
        }
        // faasd reads the namespace from the body, faas-netes from the query: both must be right.
        let body_ns = req["namespace"].as_str().unwrap_or_default();
        let query_ns = ns.namespace.clone().unwrap_or_default();
        if req["serviceName"] != json!(name) || body_ns != query_ns {
            return (StatusCode::BAD_REQUEST, "serviceName/namespace mismatch").into_response();
        }
        let Some(mut replicas) = req["replicas"].as_u64() else {
            return (StatusCode::BAD_REQUEST, "replicas missing").into_response();
        };
        if g.ce_clamp {
            replicas = replicas.clamp(1, 5); // CE 0.27: silently, and answered 200
        } else if replicas == 0 {
            // faasd's answer to a scale to zero.
            return (StatusCode::BAD_REQUEST, "replicas must be greater than 0").into_response();
        }
        if !g.functions.contains_key(&name) {
            return match g.provider {
                Provider::Faasd => (StatusCode::NOT_FOUND, "function not found").into_response(),
                Provider::FaasNetes => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("deployments.apps \"{name}\" not found"),
                )
                    .into_response(),
            };
        }
        if let Some((apply, code, body)) = g.scale_script.pop_front() {
            if apply {
                g.set(&name, replicas);
            }
            return (StatusCode::from_u16(code).unwrap(), body).into_response();
        }
        let fault = g.chaos.as_mut().map_or(Fault::None, Chaos::pick);
        let late = match fault {
            Fault::FailBefore => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "injected").into_response();
            }
            Fault::FailAfter => {
                g.set(&name, replicas);
                return (StatusCode::BAD_GATEWAY, "injected after applying").into_response();
            }
            Fault::Late(d) => Some(d),
            Fault::None => g.apply_late,
        };
        if let Some(d) = g.scale_hang_without_apply {
            (Some(d), StatusCode::ACCEPTED)
        } else if let Some(d) = late {
            g.land_late(&name);
            g.late.push((name.clone(), replicas));
            let late = s.clone();
            let n = name.clone();
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                late.lock().unwrap().land_late(&n);
            });
            (None, StatusCode::BAD_GATEWAY)
        } else {
            g.set(&name, replicas);
            if g.fail_scales_after_apply > 0 {
                g.fail_scales_after_apply -= 1;
                (None, StatusCode::BAD_GATEWAY)
            } else {
                let ok = if g.ce_clamp {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                };
                (g.scale_delay_after_apply, ok)
            }
        }
    };
    if let Some(d) = wait {
        tokio::time::sleep(d).await;
    }
    status.into_response()
}

async fn list(State(s): State<Shared>, Query(ns): Query<Ns>, headers: HeaderMap) -> Response {
    let g = s.lock().unwrap();
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !namespace_ok(&ns) {
        return (StatusCode::BAD_REQUEST, "namespace not allowed").into_response();
    }
    if g.no_prometheus {
        // The CE gateway queries Prometheus for invocation counts and fails mid-answer: announce
        // a longer body than is sent, so the connection is closed under the client.
        return ([("content-length", "1000")], "[{").into_response();
    }
    let all: Vec<Value> = g.functions.iter().map(|(n, f)| status(n, f)).collect();
    Json(all).into_response()
}
