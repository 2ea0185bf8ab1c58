//! End to end through the service and the memory backend: the test double (`Counting`), the
//! builders of services, notifications and fake Prometheus answers that the topics below share,
//! and the few checks of the service's own settings. Each topic has its file under `tests/`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use chrono::{TimeDelta, TimeZone};
use serde_json::json;

use super::*;
use crate::alert::{self, Webhook};
use crate::backend::Update;
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

/// CE's step on echo (1 → 5 at 1 s), then its resolution at 100 s: the scale-down to min is held
/// by the stabilization window, for the settle pass to finish.
async fn hold_a_scale_down(svc: &Service) {
    let fire = webhook("firing", "APIHighInvocationRate", &[], "10", 0);
    svc.handle(&fire, t(1)).await;
    let resolved = webhook("resolved", "APIHighInvocationRate", &[], "1", 0);
    svc.handle(&resolved, t(100)).await;
}

const MIN: &str = "com.openfaas.scale.min";
const MAX: &str = "com.openfaas.scale.max";
const ZERO: &str = "com.openfaas.scale.zero";

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

/// The latency pack's `FunctionIdle` (zero policy) for echo, firing since `starts`.
fn idle(starts: i64) -> Webhook {
    let labels = [("scale_policy", "zero"), ("scale_direction", "down")];
    webhook("firing", "FunctionIdle", &labels, "0", starts)
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

mod dry_run;
mod follow;
mod labels;
mod logged;
mod policies;
mod races;
mod settle;
mod sleep;
