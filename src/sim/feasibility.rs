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

/// Replicas `f` needs in each second `t` = 1..=`duration` of its trace to meet its SLO, with perfect
/// foresight, no cold start and no backlog from earlier seconds: the fewest whose stationary p95 at the
/// second's rate is within the target (closed populations at the least rate that meets it:
/// clients / (target + think), since a mean response within the target cannot send less). `Some(floor)` in
/// a second without traffic (`floor` = min, or 0 where the function may sleep); `None` where even max
/// replicas cannot meet it.
fn needed_per_second(f: &FunctionSpec, trace: &Trace, duration: u64) -> (u32, Vec<Option<u32>>) {
    let service = f.service_time_ms / 1000.0;
    let target = f.latency_target_ms / 1000.0;
    let labels = labels::parse(&f.labels, &LabelDefaults::default(), u32::MAX).ok();
    let (min, max) = labels.map_or((1, LabelDefaults::default().max), |l| (l.min, l.max));
    let floor = if labels.is_some_and(|l| l.zero) {
        0
    } else {
        min
    };
    let meets = |rate: f64, replicas: u32| {
        let servers = replicas.saturating_mul(f.concurrency);
        rate < RHO_MAX * f64::from(servers) / service
            && Response::new(rate, servers, service, f.service_distribution)
                .is_some_and(|r| r.quantile(0.95) <= target)
    };
    let seconds = (1..=duration)
        .map(|t| {
            let d = trace.at((t - 1) as f64);
            let rate = d.rps + d.clients / (target + d.think);
            if rate <= 0.0 {
                return Some(floor);
            }
            (floor.max(1)..=max).find(|c| meets(rate, *c))
        })
        .collect();
    (floor, seconds)
}

/// A lower bound on the replica-seconds any policy spends on `functions` over `duration` while leaving at
/// most `allowed` function-seconds in violation: every other second holds at least what it needs (see
/// `needed_per_second`), every second at least the floor, and the `allowed` violations fall on the seconds
/// that would cost the most. `None` when more seconds than `allowed` cannot be met even at max replicas.
pub fn least_replica_seconds(
    functions: &[(FunctionSpec, Trace)],
    duration: u64,
    allowed: u64,
) -> Option<u64> {
    let mut base = 0u64;
    let mut extras: Vec<u64> = Vec::new();
    let mut unmeetable = 0u64;
    for (f, trace) in functions {
        let (floor, seconds) = needed_per_second(f, trace, duration);
        base += u64::from(floor) * duration;
        for needed in seconds {
            match needed {
                Some(n) => extras.push(u64::from(n - floor)),
                None => unmeetable += 1,
            }
        }
    }
    let left = allowed.checked_sub(unmeetable)?;
    extras.sort_unstable_by(|a, b| b.cmp(a));
    Some(base + extras.iter().skip(left as usize).sum::<u64>())
}

/// What serving every second that a cold start's notice allows costs at the least. A policy that learns
/// each second's need (see `needed_per_second`) the moment that second starts, gets the replicas it asks
/// for after the function's cold start and never holds more than the most the function has needed so far
/// (or its starting replicas) cannot serve the seconds of each new peak's cold start; serving all the
/// others costs what each needs. Any policy that serves those others spends at least that much, with or
/// without headroom (headroom can serve the cold-start seconds too, at a higher cost). So where
/// `replica_seconds` is above CE's, a policy within CE's replica-seconds has to leave seconds unserved
/// that a cold start's notice would have served: it can meet CE's bar only by serving worse on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Serving {
    /// The seconds such a policy leaves unserved: a need above every need at least a cold start earlier
    /// (a load that rises past anything seen before waits for new replicas), or above max replicas.
    pub violation_seconds: u64,
    /// The least that serving every other second costs: its need there, the floor in the rest.
    pub replica_seconds: u64,
}

/// [`Serving`] for `functions` over `duration` seconds (no alert path is that fast: the detection delay
/// is taken as zero).
pub fn serving_bound(functions: &[(FunctionSpec, Trace)], duration: u64) -> Serving {
    let mut bound = Serving {
        violation_seconds: 0,
        replica_seconds: 0,
    };
    for (f, trace) in functions {
        let (floor, seconds) = needed_per_second(f, trace, duration);
        let cold = usize::try_from(f.cold_start_secs).unwrap_or(usize::MAX);
        let mut ready = f.replicas;
        for (i, needed) in seconds.iter().enumerate() {
            // Replicas asked for in the second `cold` seconds back serve from this one on.
            if let Some(Some(n)) = i.checked_sub(cold).and_then(|j| seconds.get(j)) {
                ready = ready.max(*n);
            }
            match needed {
                Some(n) if *n <= ready => bound.replica_seconds += u64::from(*n),
                _ => {
                    bound.violation_seconds += 1;
                    bound.replica_seconds += u64::from(floor);
                }
            }
        }
    }
    bound
}
