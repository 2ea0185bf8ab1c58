//! An in-process fake of the Kubernetes apiserver, for the paths and JSON the kube backend uses:
//! `/apis/apps/v1/namespaces/{ns}/deployments[/{name}]` with GET (one or a list filtered by
//! `labelSelector`, honouring `limit`), PATCH (`application/merge-patch+json`; strategic merge
//! patches are applied as merge patches, which is what they mean for the maps and scalars used
//! here) and PUT. Errors are `Status` objects as the apiserver sends them. Every write bumps
//! `resourceVersion`; a write whose `metadata.resourceVersion` is stale gets 409 Conflict.
//!
//! Faults are scripted per method: a status code (403, 500 …), a delay, a gate (hold requests until
//! N have arrived, to force true concurrency), an interfering writer (another actor changes the
//! object just before the request is served), and `down()` (stop listening: connections refused).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use tokio::sync::{Barrier, oneshot};
use tokio::task::JoinHandle;

/// What a scripted fault does to a request.
#[derive(Clone)]
pub enum Action {
    /// Answer with this HTTP status and a matching `Status` body.
    Status(u16),
    /// Wait this long, then serve normally.
    Delay(Duration),
    /// Wait until the barrier's count of requests has arrived, then serve normally.
    Gate(Arc<Barrier>),
    /// Another writer changes the stored object (and its resourceVersion) first.
    Interfere(Arc<dyn Fn(&mut Value) + Send + Sync>),
}

struct Fault {
    method: Option<Method>,
    action: Action,
    remaining: Option<usize>,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: String,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<(String, String), Value>,
    next_rv: u64,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
}

impl Inner {
    fn bump(&mut self, object: &mut Value) {
        self.next_rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.next_rv.to_string());
    }
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake apiserver on 127.0.0.1 (port 0). Stopped when dropped.
pub struct FakeApiserver {
    pub addr: SocketAddr,
    inner: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeApiserver {
    pub async fn start() -> Self {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            next_rv: 1000,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/apis/apps/v1/namespaces/{ns}/deployments", any(collection))
            .route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", any(item))
            .fallback(|| async { status(404, "NotFound", "the server could not find the requested resource".into()) })
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            inner,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A kube client pointed at this fake (plain HTTP, no credentials).
    pub fn client(&self) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("http://{}", self.addr).parse().unwrap();
        kube::Client::try_from(kube::Config::new(url)).unwrap()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store a Deployment (as if created): it gets a fresh resourceVersion.
    pub fn put(&self, mut deployment: Value) {
        let ns = deployment["metadata"]["namespace"].as_str().unwrap().to_owned();
        let name = deployment["metadata"]["name"].as_str().unwrap().to_owned();
        let mut inner = self.lock();
        inner.bump(&mut deployment);
        inner.objects.insert((ns, name), deployment);
    }

    /// The stored Deployment, if any.
    pub fn get(&self, ns: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(&(ns.into(), name.into())).cloned()
    }

    /// `spec.replicas` of a stored Deployment.
    pub fn replicas(&self, ns: &str, name: &str) -> Option<i64> {
        self.get(ns, name)
            .and_then(|d| d["spec"]["replicas"].as_i64())
    }

    /// Script a fault for requests of `method` (any method if `None`), `times` times (always if `None`).
    pub fn fault(&self, method: Option<Method>, action: Action, times: Option<usize>) {
        self.lock().faults.push(Fault {
            method,
            action,
            remaining: times,
        });
    }

    /// Remove all scripted faults.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Number of requests of `method` received so far.
    pub fn count(&self, method: &Method) -> usize {
        self.lock().seen.iter().filter(|s| &s.method == method).count()
    }

    /// Stop listening and close connections: later requests are refused.
    pub async fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeApiserver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A Deployment as faas-netes creates it for function `name`: `faas_function` on the Deployment,
/// its selector and template; `template_labels` (user labels) ONLY on the template.
pub fn function_deployment(
    name: &str,
    ns: &str,
    replicas: Option<i32>,
    template_labels: &[(&str, &str)],
) -> Value {
    let mut labels = json!({ "faas_function": name });
    for (k, v) in template_labels {
        labels[*k] = json!(v);
    }
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": { "faas_function": name },
            "annotations": { "prometheus.io.scrape": "false" },
            "generation": 1,
        },
        "spec": {
            "selector": { "matchLabels": { "faas_function": name } },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": { "prometheus.io.scrape": "false" },
                },
                "spec": { "containers": [ { "name": name, "image": "ghcr.io/openfaas/alpine:latest" } ] },
            },
        },
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

/// A Deployment that is not a function (no `faas_function` label), e.g. `kube-system/coredns`.
pub fn plain_deployment(name: &str, ns: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": ns, "labels": { "k8s-app": name } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "k8s-app": name } },
            "template": {
                "metadata": { "labels": { "k8s-app": name, "com.openfaas.scale.max": "50" } },
                "spec": { "containers": [ { "name": name, "image": "registry.k8s.io/coredns:v1.11.1" } ] },
            },
        },
    })
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn scripted_status(code: u16, method: &Method, ns: &str, name: Option<&str>) -> Response {
    let verb = match (method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        _ => "other",
    };
    let what = name.map_or("deployments.apps".to_owned(), |n| format!("deployments.apps {n:?}"));
    match code {
        403 => status(
            403,
            "Forbidden",
            format!(
                "{what} is forbidden: User \"system:serviceaccount:openfaas:alertscaler\" cannot {verb} \
                 resource \"deployments\" in API group \"apps\" in the namespace \"{ns}\""
            ),
        ),
        404 => status(404, "NotFound", format!("{what} not found")),
        409 => status(409, "Conflict", format!("Operation cannot be fulfilled on {what}: scripted")),
        500 => status(500, "InternalError", "Internal error occurred: etcdserver: request timed out".into()),
        503 => status(503, "ServiceUnavailable", "the server is currently unable to handle the request".into()),
        other => status(other, "Unknown", format!("scripted status {other}")),
    }
}

/// Run the scripted fault for this request, if any; `Some(response)` ends the request.
async fn run_fault(inner: &Shared, method: &Method, ns: &str, name: Option<&str>) -> Option<Response> {
    let action = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let fault = guard.faults.iter_mut().find(|f| {
            f.method.as_ref().is_none_or(|m| m == method) && f.remaining != Some(0)
        })?;
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        fault.action.clone()
    };
    match action {
        Action::Status(code) => return Some(scripted_status(code, method, ns, name)),
        Action::Delay(d) => tokio::time::sleep(d).await,
        Action::Gate(barrier) => {
            barrier.wait().await;
        }
        Action::Interfere(change) => {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            let key = (ns.to_owned(), name.unwrap_or_default().to_owned());
            if let Some(mut object) = guard.objects.remove(&key) {
                change(&mut object);
                guard.bump(&mut object);
                guard.objects.insert(key, object);
            }
        }
    }
    None
}

fn record(inner: &Shared, method: &Method, path: String, query: &Option<String>, headers: &HeaderMap) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    inner.lock().unwrap_or_else(|e| e.into_inner()).seen.push(Seen {
        method: method.clone(),
        path,
        query: query.clone().unwrap_or_default(),
        content_type,
    });
}

async fn collection(
    State(inner): State<Shared>,
    method: Method,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    record(&inner, &method, format!("/apis/apps/v1/namespaces/{ns}/deployments"), &query, &headers);
    if let Some(r) = run_fault(&inner, &method, &ns, None).await {
        return r;
    }
    if method != Method::GET {
        return status(405, "MethodNotAllowed", format!("{method} is not supported here"));
    }
    let params: BTreeMap<String, String> = query
        .as_deref()
        .map(|q| {
            url_pairs(q)
        })
        .unwrap_or_default();
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let items: Vec<Value> = guard
        .objects
        .iter()
        .filter(|((n, _), d)| n == &ns && selector_matches(&selector, &d["metadata"]["labels"]))
        .map(|(_, d)| {
            let mut d = d.clone();
            // Items of a typed list carry no kind/apiVersion, as the real apiserver sends them.
            if let Some(o) = d.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            d
        })
        .take(limit)
        .collect();
    let body = json!({
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "metadata": { "resourceVersion": guard.next_rv.to_string() },
        "items": items,
    });
    axum::Json(body).into_response()
}

async fn item(
    State(inner): State<Shared>,
    method: Method,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, &method, format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"), &query, &headers);
    if let Some(r) = run_fault(&inner, &method, &ns, Some(&name)).await {
        return r;
    }
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = (ns.clone(), name.clone());
    let Some(current) = guard.objects.get(&key).cloned() else {
        return scripted_status(404, &method, &ns, Some(&name));
    };
    let current_rv = current["metadata"]["resourceVersion"].clone();
    let mut next = match method.as_str() {
        "GET" => return axum::Json(current).into_response(),
        "PATCH" => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if content_type != "application/merge-patch+json"
                && content_type != "application/strategic-merge-patch+json"
            {
                return status(415, "UnsupportedMediaType", format!("the fake does not support {content_type:?}"));
            }
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "patch body is not JSON".into());
            };
            let mut next = current.clone();
            merge(&mut next, &patch);
            next
        }
        "PUT" => match serde_json::from_slice::<Value>(&body) {
            Ok(next) => next,
            Err(_) => return status(400, "BadRequest", "body is not JSON".into()),
        },
        other => return status(405, "MethodNotAllowed", format!("{other} is not supported here")),
    };
    // The resourceVersion the writer sent (patch or full object) is a precondition.
    let sent_rv = &next["metadata"]["resourceVersion"];
    if !sent_rv.is_null() && sent_rv != &current_rv {
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on deployments.apps {name:?}: the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    if next["metadata"]["name"] != json!(name) || next["metadata"]["namespace"] != json!(ns) {
        return status(400, "BadRequest", "name or namespace does not match the URL".into());
    }
    if let Err(e) = serde_json::from_value::<Deployment>(next.clone()) {
        return status(422, "Invalid", format!("Deployment.apps {name:?} is invalid: {e}"));
    }
    guard.bump(&mut next);
    guard.objects.insert(key, next.clone());
    axum::Json(next).into_response()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// `a=b&c=d` with percent-decoding of the values the kube client sends (`,`, `=`, `!`).
fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fake's own (independent) reading of an equality-based selector.
fn selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    selector.split(',').map(str::trim).filter(|p| !p.is_empty()).all(|part| {
        if let Some((k, v)) = part.split_once("!=") {
            label(k) != Some(v)
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            label(k) == Some(v)
        } else if let Some(k) = part.strip_prefix('!') {
            label(k).is_none()
        } else {
            label(part).is_some()
        }
    })
}
