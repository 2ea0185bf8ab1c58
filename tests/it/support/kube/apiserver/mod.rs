//! An in-process fake of the Kubernetes apiserver, for the paths and JSON the kube backend uses:
//! Deployments (`/apis/apps/v1/…/deployments`), ConfigMaps (`/api/v1/…/configmaps`) and Leases
//! (`/apis/coordination.k8s.io/v1/…/leases`), each with GET (one, or a list filtered by
//! `labelSelector`, honouring `limit`, metadata-only when asked for `PartialObjectMetadataList`),
//! POST (create; 409 AlreadyExists), PATCH (`application/merge-patch+json`) and PUT. Errors are
//! `Status` objects as the apiserver sends them. Names, label and annotation keys and label values
//! are validated as the apiserver does (422 `Invalid` with `details.causes`). Every write bumps `resourceVersion`; a write whose
//! `metadata.resourceVersion` is stale gets 409 Conflict.
//!
//! Faults are scripted per resource and method: a status code (403, 429, 503 …), an admission
//! denial with its message, a delay, a write that commits and then answers too late, a gate (hold
//! requests until N have arrived), an interfering writer (another actor changes the object just
//! before the request is served), and `down()` (connections refused).
//!
//! Real OpenFaaS behaviours: [`FakeApiserver::faas_netes_ce`] turns on a faas-netes-like controller
//! that clamps a function's replicas to 1–5 after every write (a second write, a second version),
//! and [`redeploy`] is what faas-netes' update handler does on `faas-cli deploy`.
//! [`FakeApiserver::deployment_controller`] turns on Kubernetes' own deployment controller as far as
//! versions go: a status write (another version) after every change of a Deployment's replicas.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertscaler::backend::kubernetes::KubernetesBackend;
use alertscaler::config::Config;
use axum::Router;
use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::{Barrier, oneshot};
use tokio::task::JoinHandle;

mod handlers;
mod validation;
mod wire;

/// Resource names as in the URL.
pub const DEPLOYMENTS: &str = "deployments";
pub const CONFIGMAPS: &str = "configmaps";
pub const LEASES: &str = "leases";

/// What a scripted fault does to a request.
#[derive(Clone)]
pub enum Action {
    /// Answer with this HTTP status and a matching `Status` body.
    Status(u16),
    /// An admission denial: this status (400, 422 or 403) and message.
    Deny(u16, String),
    /// Wait this long, then serve normally.
    Delay(Duration),
    /// Serve the request (a write commits), then wait this long before answering.
    CommitThenDelay(Duration),
    /// Wait until the barrier's count of requests has arrived, then serve normally.
    Gate(Arc<Barrier>),
    /// Another writer changes the stored object (and its resourceVersion) first.
    Interfere(Arc<dyn Fn(&mut Value) + Send + Sync>),
}

struct Fault {
    resource: &'static str,
    method: Option<Method>,
    action: Action,
    remaining: Option<usize>,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: Method,
    pub resource: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    /// The request body (UTF-8, lossy).
    pub body: String,
}

type Key = (String, String, String);

#[derive(Default)]
struct Inner {
    objects: BTreeMap<Key, Value>,
    next_rv: u64,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
    ce_controller: bool,
    clamps: usize,
    deployment_controller: bool,
    status_writes: usize,
}

impl Inner {
    fn bump(&mut self, object: &mut Value) {
        self.next_rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.next_rv.to_string());
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{}", self.next_rv));
        }
    }

    /// faas-netes CE's `applyValidation`: replicas above 5 → 5, 0 → 1, written as a new version.
    fn clamp(&mut self, key: &Key) {
        let Some(mut d) = self.objects.get(key).cloned() else {
            return;
        };
        if !self.ce_controller
            || d["spec"]["template"]["metadata"]["labels"]["faas_function"].is_null()
        {
            return;
        }
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let clamped = replicas.clamp(1, 5);
        if clamped != replicas {
            d["spec"]["replicas"] = json!(clamped);
            self.clamps += 1;
            self.bump(&mut d);
            self.objects.insert(key.clone(), d);
        }
    }

    /// The deployment controller's status write after a Deployment's spec changed (its
    /// `observedGeneration` and replica counts): one more version, as on a real cluster, where a
    /// read after a scale nearly always finds a newer resourceVersion than the scale's answer gave.
    fn observe(&mut self, key: &Key) {
        let Some(mut d) = self.objects.get(key).cloned() else {
            return;
        };
        let replicas = d["spec"]["replicas"].clone();
        if !self.deployment_controller || d["status"]["replicas"] == replicas {
            return;
        }
        let generation = d["status"]["observedGeneration"].as_i64().unwrap_or(0) + 1;
        d["status"]["observedGeneration"] = json!(generation);
        d["status"]["replicas"] = replicas;
        self.status_writes += 1;
        self.bump(&mut d);
        self.objects.insert(key.clone(), d);
    }
}

type Shared = Arc<Mutex<Inner>>;

/// faas-netes' update handler on a redeploy: the Deployment's annotations replaced wholesale by
/// the function's (here: the pod template's), `spec.replicas` set to `com.openfaas.scale.min`
/// when that label exists.
pub fn redeploy(d: &mut Value) {
    let template = d["spec"]["template"]["metadata"].clone();
    d["metadata"]["annotations"] = template["annotations"].clone();
    if let Some(min) = template["labels"]["com.openfaas.scale.min"]
        .as_str()
        .and_then(|m| m.parse::<i64>().ok())
    {
        d["spec"]["replicas"] = json!(min);
    }
}

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
            .fallback(handlers::serve)
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

    /// A kube client pointed at this fake (plain HTTP, no credentials), tuned as alertscaler
    /// tunes its production client (kube's retry layer off, User-Agent).
    pub fn client(&self) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("http://{}", self.addr).parse().unwrap();
        let mut config = kube::Config::new(url);
        KubernetesBackend::tune(&mut config, &Config::default());
        kube::Client::try_from(config).unwrap()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store an object (a Deployment unless its `kind` says otherwise) with a fresh version. A
    /// fixture the real apiserver would refuse is a bug in the test: it panics.
    pub fn put(&self, mut object: Value) {
        let resource = match object["kind"].as_str() {
            Some("ConfigMap") => CONFIGMAPS,
            Some("Lease") => LEASES,
            _ => DEPLOYMENTS,
        };
        let errs = validation::check(resource, &object);
        assert!(
            errs.is_empty(),
            "the fixture would be refused: {}",
            validation::aggregate(&errs)
        );
        let ns = object["metadata"]["namespace"].as_str().unwrap().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let mut inner = self.lock();
        inner.bump(&mut object);
        inner.objects.insert((resource.into(), ns, name), object);
    }

    /// A stored Deployment, if any.
    pub fn get(&self, ns: &str, name: &str) -> Option<Value> {
        self.get_on(DEPLOYMENTS, ns, name)
    }

    /// A stored object of `resource`, if any.
    pub fn get_on(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(resource.into(), ns.into(), name.into()))
            .cloned()
    }

    /// `spec.replicas` of a stored Deployment.
    pub fn replicas(&self, ns: &str, name: &str) -> Option<i64> {
        self.get(ns, name)
            .and_then(|d| d["spec"]["replicas"].as_i64())
    }

    /// Change a stored Deployment as another actor would (one new version).
    pub fn change(&self, ns: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut inner = self.lock();
        let key = (DEPLOYMENTS.to_owned(), ns.to_owned(), name.to_owned());
        if let Some(mut d) = inner.objects.remove(&key) {
            change(&mut d);
            inner.bump(&mut d);
            inner.objects.insert(key, d);
        }
    }

    /// Turn on the faas-netes CE controller (clamp to 1–5 after every Deployment write).
    pub fn faas_netes_ce(&self) {
        self.lock().ce_controller = true;
    }

    /// Turn on the deployment controller's status writes (a new version after every replica change).
    pub fn deployment_controller(&self) {
        self.lock().deployment_controller = true;
    }

    /// How many status writes the deployment controller made.
    pub fn status_writes(&self) -> usize {
        self.lock().status_writes
    }

    /// How many writes the faas-netes CE controller reverted.
    pub fn clamps(&self) -> usize {
        self.lock().clamps
    }

    /// Script a fault for Deployment requests of `method` (any if `None`), `times` times (always if `None`).
    pub fn fault(&self, method: Option<Method>, action: Action, times: Option<usize>) {
        self.fault_on(DEPLOYMENTS, method, action, times);
    }

    /// Script a fault for requests on `resource`.
    pub fn fault_on(
        &self,
        resource: &'static str,
        method: Option<Method>,
        action: Action,
        times: Option<usize>,
    ) {
        self.lock().faults.push(Fault {
            resource,
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

    /// Number of Deployment requests of `method` received so far.
    pub fn count(&self, method: &Method) -> usize {
        self.count_on(DEPLOYMENTS, method)
    }

    /// Number of requests of `method` on `resource` received so far.
    pub fn count_on(&self, resource: &str, method: &Method) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|s| s.method == *method && s.resource == resource)
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
