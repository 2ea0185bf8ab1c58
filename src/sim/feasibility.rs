//! Is a scenario fair? Each function's SLO must be reachable at its max replicas, or every policy shows the
//! same violations and the comparison says nothing. Computed from the scenario alone (no run).

use super::function::RHO_MAX;
use super::load::Trace;
use super::queue::Response;
use super::scenario::FunctionSpec;
use crate::config::LabelDefaults;
use crate::labels;

/// One function's capacity against its peak load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Largest offered rate over the run (open loop, plus each closed population at its no-wait rate).
    pub peak_rps: f64,
    pub max_replicas: u32,
    /// Requests per second the max replicas serve at 100 % utilisation.
    pub capacity_rps: f64,
    /// Stationary p95 at the peak on max replicas (ms); infinite when the queue would be unstable.
    pub p95_at_max_ms: f64,
    pub target_ms: f64,
}

impl Capacity {
    /// The SLO is reachable: the peak stays below 95 % of capacity and the p95 there meets the target.
    pub fn feasible(&self) -> bool {
        self.peak_rps < RHO_MAX * self.capacity_rps && self.p95_at_max_ms <= self.target_ms
    }

    /// One line for the scenario's report.
    pub fn describe(&self, name: &str) -> String {
        format!(
            "{name}: peak {:.0} req/s, capacity {:.0} req/s at max {} replicas (utilisation {:.0} %), p95 there {:.0} ms vs target {:.0} ms: {}",
            self.peak_rps,
            self.capacity_rps,
            self.max_replicas,
            100.0 * self.peak_rps / self.capacity_rps,
            self.p95_at_max_ms,
            self.target_ms,
            if self.feasible() {
                "feasible"
            } else {
                "NOT feasible"
            }
        )
    }
}

/// The capacity of `f` under `trace` over `duration` seconds.
pub fn capacity(f: &FunctionSpec, trace: &Trace, duration: u64) -> Capacity {
    let service = f.service_time_ms / 1000.0;
    let peak_rps = (0..duration)
        .map(|t| {
            let d = trace.at(t as f64);
            d.rps + d.clients / (service + d.think)
        })
        .fold(0.0, f64::max);
    let max_replicas = labels::parse(&f.labels, &LabelDefaults::default(), u32::MAX)
        .map_or(LabelDefaults::default().max, |l| l.max);
    let servers = max_replicas.saturating_mul(f.concurrency);
    let p95 = Response::new(peak_rps, servers, service, f.service_distribution)
        .map_or(f64::INFINITY, |r| r.quantile(0.95));
    Capacity {
        peak_rps,
        max_replicas,
        capacity_rps: f64::from(servers) / service,
        p95_at_max_ms: p95 * 1000.0,
        target_ms: f.latency_target_ms,
    }
}
