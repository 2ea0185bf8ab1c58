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
use axum::http::Method;
use axum::routing::any;
use serde_json::{Value, json};
use tokio::sync::{Barrier, oneshot};
use tokio::task::JoinHandle;

mod handlers;
use handlers::{collection, item, status};

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
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                any(item),
            )
            .fallback(|| async {
                status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                )
            })
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
        let ns = deployment["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_owned();
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
        self.lock()
            .seen
            .iter()
            .filter(|s| s.method == *method)
            .count()
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
