//! A closed loop for the end-to-end comparison of rule packs: the simulated gateway serves a step
//! load whose latency follows the replica count alertscaler sets, and the loop tallies what a user
//! would feel (seconds above the latency SLO) and what it costs (replica-seconds).
//!
//! Queueing model (simple, stated): each replica serves `per_replica` requests at once in
//! `service_secs`; beyond that, requests share the replicas and slow down proportionally:
//! latency = service_secs × max(1, offered in-flight / (replicas × per_replica)), with offered
//! in-flight = rate × service_secs. Zero replicas serve nothing (latency = the SLO × 100).
//! New replicas are ready at once (no cold start).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::gateway::Gateway;

/// The function's capacity and its latency objective.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub service_secs: f64,
    pub per_replica: f64,
    pub slo_secs: f64,
}

impl Model {
    /// Latency of a request at `rate` requests/s on `replicas`.
    pub fn latency(&self, rate: f64, replicas: u64) -> f64 {
        if replicas == 0 {
            return self.slo_secs * 100.0;
        }
        let load = rate * self.service_secs / (replicas as f64 * self.per_replica);
        self.service_secs * load.max(1.0)
    }

    /// The fewest replicas that serve `rate` without queueing.
    pub fn needed(&self, rate: f64) -> u64 {
        (rate * self.service_secs / self.per_replica)
            .ceil()
            .max(1.0) as u64
    }
}

/// A step load: `base` requests/s, `peak` between `start` and `end`, `base` again after.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub base: f64,
    pub peak: f64,
    pub start: Duration,
    pub end: Duration,
}

impl Step {
    pub fn rate(&self, t: Duration) -> f64 {
        if t >= self.start && t < self.end {
            self.peak
        } else {
            self.base
        }
    }
}

/// What one run felt and cost, over the loop's fixed horizon.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub slo_violation_secs: f64,
    pub replica_secs: f64,
    pub peak_replicas: u64,
    /// Seconds after the step began when replicas first reached the peak's need.
    pub reached_after: Option<f64>,
    /// Seconds after the step ended when replicas were back at the base's need (and stayed).
    pub returned_after: Option<f64>,
    /// (seconds since start, replicas) at every change.
    pub trace: Vec<(f64, u64)>,
}

impl Tally {
    /// Account for `dt` seconds spent at `replicas` under `step` at `t` since the loop began.
    pub fn observe(&mut self, model: &Model, step: &Step, t: Duration, dt: f64, replicas: u64) {
        let rate = step.rate(t);
        if model.latency(rate, replicas) > model.slo_secs {
            self.slo_violation_secs += dt;
        }
        self.replica_secs += dt * replicas as f64;
        self.peak_replicas = self.peak_replicas.max(replicas);
        let secs = t.as_secs_f64();
        if self.trace.last().is_none_or(|(_, r)| *r != replicas) {
            self.trace.push((secs, replicas));
        }
        if t >= step.start && t < step.end && replicas >= model.needed(step.peak) {
            self.reached_after
                .get_or_insert((t - step.start).as_secs_f64());
        }
        if t >= step.end {
            if replicas <= model.needed(step.base) {
                self.returned_after
                    .get_or_insert((t - step.end).as_secs_f64());
            } else {
                self.returned_after = None;
            }
        }
    }
}

/// Drive `function` on `gateway` for `horizon`: every tick read its replicas from alertscaler
/// (`GET /system/functions` with basic auth), export them as `gateway_service_count`, and set the
/// load and the latency the model gives.
pub async fn run(
    gateway: &Gateway,
    function: &str,
    receiver: &str,
    password: &str,
    model: Model,
    step: Step,
    horizon: Duration,
) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let begin = Instant::now();
    let mut last = begin;
    let mut replicas = 1;
    while last.duration_since(begin) < horizon {
        let now = Instant::now();
        let t = now.duration_since(begin);
        tally.observe(
            &model,
            &step,
            t,
            now.duration_since(last).as_secs_f64(),
            replicas,
        );
        last = now;
        replicas = read_replicas(&client, receiver, password, function)
            .await
            .unwrap_or(replicas);
        let rate = step.rate(t);
        gateway.set_replicas(function, replicas);
        gateway.set(function, rate, model.latency(rate, replicas));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tally
}

async fn read_replicas(
    client: &reqwest::Client,
    receiver: &str,
    password: &str,
    function: &str,
) -> Option<u64> {
    let list: Value = client
        .get(format!("{receiver}/system/functions"))
        .basic_auth("admin", Some(password))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    list.as_array()?
        .iter()
        .find(|f| {
            let (name, namespace) = (f["name"].as_str(), f["namespace"].as_str());
            name.zip(namespace)
                .is_some_and(|(n, ns)| format!("{n}.{ns}") == function)
        })
        .and_then(|f| f["replicas"].as_u64())
}
