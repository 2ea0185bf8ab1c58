//! A closed loop for the end-to-end comparison of rule packs: the simulator's own model of the
//! function (`alertscaler::sim::function::FunctionModel`, the queue `alertscaler simulate` uses:
//! M/M/c or M/D/c response times, a FIFO backlog beyond 95 % utilisation, timeouts) serves each
//! wall-clock second with the replica count alertscaler has set, and the simulated gateway exports
//! the model's counters for the real Prometheus to scrape. The loop tallies what a user would feel
//! (seconds in violation of the SLO, the model's verdict) and what it costs (replica-seconds).
//!
//! The function and its load come from a scenario file, so `alertscaler simulate` can run the same
//! scenario through its simulated Prometheus and AlertManager: the two then differ only in the
//! monitoring path's timing, which is what the comparison checks.

use std::path::Path;
use std::time::Duration;

use alertscaler::sim::function::FunctionModel;
use alertscaler::sim::load::Trace;
use alertscaler::sim::scenario::{FunctionSpec, Scenario};
use serde_json::Value;

use super::gateway::Gateway;

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

/// Replicas that count as having reached the peak's need, and as being back at the base's.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub peak: u64,
    pub base: u64,
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
    /// The same tally from the simulator's rows for one function (`alertscaler simulate` on the same
    /// scenario): each row is the second `(t - 1, t]`.
    pub fn from_rows(step: &Step, needs: Needs, rows: &[alertscaler::sim::Row]) -> Self {
        let mut tally = Self::default();
        for r in rows {
            let t = Duration::from_secs(r.t.saturating_sub(1));
            tally.record(step, needs, t, u64::from(r.replicas), r.second.violation);
        }
        tally
    }

    /// Account for the second starting at `t` since the loop began, spent at `replicas`.
    fn record(&mut self, step: &Step, needs: Needs, t: Duration, replicas: u64, violated: bool) {
        if violated {
            self.slo_violation_secs += 1.0;
        }
        self.replica_secs += replicas as f64;
        self.peak_replicas = self.peak_replicas.max(replicas);
        let secs = t.as_secs_f64();
        if self.trace.last().is_none_or(|(_, r)| *r != replicas) {
            self.trace.push((secs, replicas));
        }
        if t >= step.start && t < step.end && replicas >= needs.peak {
            self.reached_after
                .get_or_insert((t - step.start).as_secs_f64());
        }
        if t >= step.end {
            if replicas <= needs.base {
                self.returned_after
                    .get_or_insert((t - step.end).as_secs_f64());
            } else {
                self.returned_after = None;
            }
        }
    }
}

/// The scenario's first function, its load trace and the run's seed.
#[derive(Debug, Clone)]
pub struct Loop {
    pub spec: FunctionSpec,
    pub trace: Trace,
    pub seed: u64,
    pub horizon_secs: u64,
}

impl Loop {
    /// Load the scenario file the simulator runs too.
    pub fn from_scenario(path: &Path) -> Self {
        let scenario = Scenario::load(path).unwrap();
        let base = path.parent().unwrap();
        let (spec, trace) = scenario.expand(base).unwrap().remove(0);
        Self {
            spec,
            trace,
            seed: scenario.seed,
            horizon_secs: scenario.duration_secs,
        }
    }

    /// `name.namespace`, as the gateway labels it.
    pub fn function(&self) -> String {
        format!("{}.{}", self.spec.name, self.spec.namespace)
    }

    /// Drive the function on `gateway` for the horizon, one wall-clock second at a time: read its
    /// replicas from alertscaler (`GET /system/functions` with basic auth), let the model serve the
    /// second with them, export the model's counters and the replicas.
    pub async fn run(
        &self,
        gateway: &Gateway,
        receiver: &str,
        password: &str,
        step: Step,
        needs: Needs,
    ) -> Tally {
        let client = reqwest::Client::new();
        let function = self.function();
        // The simulator's stream for its first function, so both see the same arrivals.
        let rng = alertscaler::sim::engine::stream(self.seed, 0);
        let mut model = FunctionModel::new(&self.spec, self.trace.clone(), rng);
        let mut tally = Tally::default();
        let mut replicas = u64::from(model.desired);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for t in 1..=self.horizon_secs {
            tick.tick().await;
            replicas = read_replicas(&client, receiver, password, &function)
                .await
                .unwrap_or(replicas);
            let set = u32::try_from(replicas).unwrap_or(u32::MAX);
            if set != model.desired {
                model.set_desired(set, t);
            }
            let second = model.step(t, true, false);
            tally.record(
                &step,
                needs,
                Duration::from_secs(t - 1),
                replicas,
                second.violation,
            );
            if let Some(sample) = model.sample(t) {
                gateway.set_sample(&function, &sample);
            }
            gateway.set_replicas(&function, replicas);
        }
        tally
    }
}

/// The gateway's half of a closed loop whose load does not depend on the replicas (the test sets
/// it with [`Gateway::set`]): export the replica count alertscaler sets for `function` as
/// `gateway_service_count`, re-read every 200 ms, as a gateway reports its functions' replicas.
/// Never returns: spawn it, and it ends with the test's runtime.
pub async fn report_replicas(gateway: Gateway, receiver: String, password: &str, function: &str) {
    let client = reqwest::Client::new();
    loop {
        if let Some(replicas) = read_replicas(&client, &receiver, password, function).await {
            gateway.set_replicas(function, replicas);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
