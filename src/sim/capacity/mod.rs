//! The capacity rule pack's recording rules as the simulator computes them (`alert-rules/capacity.rules.yml`,
//! group `alertscaler-capacity`): load from arrivals (`rate(gateway_function_invocation_started[W])`), as
//! requests per second (`rps`) or as the requests in flight they make (arrivals × the service time, the lower of
//! the 1m and 15s mean latencies; the panic window uses its own 15s mean, queueing included), over a stable (1m)
//! and a panic (15s) window (where arrivals × service time has no value, the gateway's count of requests in
//! flight); desired = ceil(load / target per replica), panic when the panic window's desired ≥
//! 2 × the gateway's replicas (`gateway_service_count`); panic *mode* lasts while that condition held at any
//! evaluation of the last minute (`max_over_time(alertscaler:function_panic[1m])`), and the published desired
//! is max(stable, panic) in panic mode, else stable — or, where that is below the replicas, the count that keeps
//! each replica at most [`DOWN_FILL`] of its target full (a scale-down's hysteresis) and, for in-flight targets,
//! leaves room for a queue by square-root staffing ([`DOWN_SAFETY`]), and at least the highest count the 15s
//! window needed in the last [`PEAK_SECS`] (a burst's need survives a short pause), never above the replicas.

use std::collections::BTreeMap;

use super::monitor::{Metric, Observed, Scraped};

/// Label that selects what a function's target counts (`capacity`: in flight, `rps`: requests/s).
pub const TYPE: &str = "com.openfaas.scale.type";
/// Panic threshold of the pack (×current replicas).
pub const PANIC_THRESHOLD: f64 = 2.0;
/// How full a replica may be after a scale-down, as a fraction of its target
/// (`alertscaler:capacity_down_fill`): the hysteresis between scaling up at the target and down.
pub const DOWN_FILL: f64 = 0.85;
/// Queueing headroom of a scale-down for in-flight targets, in square roots of the load
/// (`alertscaler:capacity_down_safety`): square-root staffing, `ceil((load + β √load) / target)`, so a function
/// with few slots is not scaled down to a count its queue fills past the target.
pub const DOWN_SAFETY: f64 = 0.75;
/// How far back a scale-down looks for the highest count the 15s window needed
/// (`alertscaler:function_needed_replicas:peak30s` = `max_over_time(…:15s[30s])`).
pub const PEAK_SECS: u64 = 30;
/// How long a function must go without counters to be unseen (`alertscaler:function_unseen:1m`).
pub const UNSEEN_SECS: u64 = 60;
/// How far back a 429 makes a function one that sheds load (`alertscaler:function_shedding:1m`).
pub const SHED_SECS: u64 = 60;

/// A function's effective target per replica, as alertscaler exports it
/// (`alertscaler_function_capacity_target` = target × proportion).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityTarget {
    pub per_replica: f64,
    /// `rps`: the load is requests per second; otherwise in-flight requests.
    pub rps: bool,
}

impl Default for CapacityTarget {
    /// The pack's default series: type capacity, 10 × 0.9.
    fn default() -> Self {
        Self {
            per_replica: 9.0,
            rps: false,
        }
    }
}

impl CapacityTarget {
    /// From a function's labels (`com.openfaas.scale.type`, `.target`, `.target-proportion`); invalid or
    /// absent values fall back to the defaults (capacity, 10, 0.9), as the pack's default series does.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let number = |key: &str| {
            labels
                .get(key)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|x| x.is_finite() && *x > 0.0)
        };
        let rps = labels.get(TYPE).is_some_and(|t| t.trim() == "rps");
        let target = number(crate::labels::TARGET).unwrap_or(10.0);
        let proportion = number(crate::labels::TARGET_PROPORTION)
            .filter(|p| *p <= 1.0)
            .unwrap_or(0.9);
        Self {
            per_replica: target * proportion,
            rps,
        }
    }
}

/// The pack's recording rules for one function at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Desired {
    /// Load over the stable window (in flight or req/s).
    pub load: f64,
    pub load_panic: f64,
    pub stable: u32,
    pub panic: u32,
    pub panicking: bool,
    /// `alertscaler:function_desired_replicas`: the needed count at or above the replicas, else the
    /// count that leaves headroom ([`headroom`]) or the recent peak ([`needed_peak`]), whichever is
    /// higher, at most the replicas.
    pub desired: u32,
    /// `gateway_service_count`; `None` when the gateway reports none (no panic, no alert, but a desired
    /// count all the same).
    pub replicas: Option<u32>,
}

impl Desired {
    /// The annotations the pack's alerts carry: `value` (`alertscaler:function_load`: the panic window's load
    /// while panicking and asking for more, else the stable one), `target`, `desired` (the alert's `$value`:
    /// `desired`, raised to 1 for the over-provisioned alert), `replicas`.
    pub fn observed(&self, target: CapacityTarget, desired: u32) -> Observed {
        Observed {
            value: if self.panicking && self.panic > self.stable {
                self.load_panic
            } else {
                self.load
            },
            target: target.per_replica,
            desired: Some(desired),
            replicas: self.replicas,
            window_secs: None,
        }
    }
}

/// Replicas for `load` at `target` per replica: `ceil(load / target)`, saturating, 0 without load.
pub(super) fn ceil_div(load: f64, target: f64) -> u32 {
    let x = (load / target).ceil();
    if x >= f64::from(u32::MAX) {
        u32::MAX
    } else if x > 0.0 {
        x as u32
    } else {
        0
    }
}

/// `alertscaler:function_headroom_replicas`: the count a scale-down leaves for `load`, the higher of the one
/// that keeps each replica at most [`DOWN_FILL`] of its target full and, for in-flight targets, the
/// square-root staffing count `ceil((load + DOWN_SAFETY × √load) / target)`.
pub fn headroom(load: f64, target: CapacityTarget) -> u32 {
    let fill = ceil_div(load, target.per_replica * DOWN_FILL);
    if target.rps {
        return fill;
    }
    fill.max(ceil_div(
        load + DOWN_SAFETY * load.sqrt(),
        target.per_replica,
    ))
}

/// The pack's windows, and how often its rules are evaluated (panic mode is a `max_over_time` of a series
/// recorded at each evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Stable window (1m).
    pub stable: u64,
    /// Panic window (15s).
    pub panic: u64,
    /// Panic mode lasts this long after the last panic condition (1m).
    pub hold: u64,
    /// Evaluation interval.
    pub every: u64,
}

impl Windows {
    /// The pack's windows at evaluation interval `every`.
    pub fn pack(every: u64) -> Self {
        Self {
            stable: 60,
            panic: 15,
            hold: 60,
            every,
        }
    }
}

/// Per series `rate(metric[window])`, or where it has no value (one sample) a newborn series' count over
/// the window (`alertscaler:function_started:newborn / W`), summed: the gateway creates a series at its
/// function's first request, so all it counts arrived inside the window.
fn rate(series: &impl Scraped, now: u64, window: u64, metric: Metric) -> Option<f64> {
    series.arrived(now, window, metric)
}

/// Mean latency of the requests served in the last `window` (`rate(_sum) / rate(_count)` without the
/// 429s of load shedding, or a newborn series' `_sum / _count`), where some were.
fn latency(series: &impl Scraped, now: u64, window: u64) -> Option<f64> {
    let sum = rate(series, now, window, Metric::ServedSum)?;
    let count = rate(series, now, window, Metric::ServedCount)?;
    let mean = sum / count;
    (mean > 0.0).then_some(mean)
}

/// `alertscaler:function_service_seconds`: how long a request takes once the function has caught up,
/// the lower of the 15s and 1m mean latencies (a backlog inflates the 1m mean for a minute after it is
/// gone; the 15s one recovers at once).
pub fn service_seconds(series: &impl Scraped, now: u64, w: Windows) -> Option<f64> {
    let stable = latency(series, now, w.stable)?;
    Some(latency(series, now, w.panic).map_or(stable, |short| short.min(stable)))
}

/// `alertscaler:function_arrivals:<window>`: arrivals per second from `rate()` or a newborn series, else
/// 0 for a function the gateway reports replicas for but has no counters for (`…:function_unseen:1m`).
pub fn arrivals(series: &impl Scraped, now: u64, window: u64) -> Option<f64> {
    rate(series, now, window, Metric::Started).or_else(|| {
        series
            .unseen(now, UNSEEN_SECS, Metric::Started)
            .then_some(0.0)
    })
}

/// Load over `window` in the target's unit: arrivals per second (`rps`), or the requests in flight the
/// arrivals make, arrivals × `seconds` (capacity); where that has no value (no arrivals in the window, or no
/// service time: nothing answered for a minute) the gateway's count of requests in flight
/// ([`Scraped::in_flight`]) unless the function sheds load (what it admits is not its load: no value), and
/// 0 for an unseen function.
fn load(
    series: &impl Scraped,
    now: u64,
    window: u64,
    target: CapacityTarget,
    seconds: Option<f64>,
) -> Option<f64> {
    let arrivals = arrivals(series, now, window)?;
    if target.rps {
        return Some(arrivals);
    }
    seconds
        .filter(|_| arrivals > 0.0)
        .map(|s| arrivals * s)
        .or_else(|| {
            series
                .in_flight(now, Metric::Count)
                .filter(|_| !series.shedding(now))
        })
        .or((arrivals == 0.0).then_some(0.0))
}

/// The panic window's load: arrivals over 15s × the 15s mean latency (queueing included: a backlog gets
/// replicas while it lasts), or × the service time when nothing was answered in 15s.
pub fn panic_load(
    series: &impl Scraped,
    now: u64,
    target: CapacityTarget,
    w: Windows,
) -> Option<f64> {
    let seconds = latency(series, now, w.panic).or_else(|| service_seconds(series, now, w));
    load(series, now, w.panic, target, seconds)
}

/// `alertscaler:function_needed_replicas:15s`: the replicas the last 15 s of arrivals need at the target, at
/// the service time (queueing left out, unlike the panic window's load; the requests in flight where that
/// has no value, as in [`load`]). `None` where it has no value.
pub fn needed_15s(
    series: &impl Scraped,
    now: u64,
    target: CapacityTarget,
    w: Windows,
) -> Option<u32> {
    let load = load(
        series,
        now,
        w.panic,
        target,
        service_seconds(series, now, w),
    )?;
    Some(ceil_div(load, target.per_replica))
}

/// `alertscaler:function_needed_replicas:peak30s`: the highest [`needed_15s`] recorded at the evaluations of the
/// last [`PEAK_SECS`] (both ends, as Prometheus 2's range); `None` without any.
pub fn needed_peak(
    series: &impl Scraped,
    now: u64,
    target: CapacityTarget,
    w: Windows,
) -> Option<u32> {
    evaluations(now, PEAK_SECS, w)
        .filter_map(|t| needed_15s(series, t, target, w))
        .max()
}

/// The evaluation times a `…[span]` range over a recorded series sees at `now`: every evaluation
/// interval back to `now − span`, both ends included (Prometheus 2's closed range), none before 0.
fn evaluations(now: u64, span: u64, w: Windows) -> impl Iterator<Item = u64> {
    let every = w.every.max(1);
    (0..=span / every).filter_map(move |k| now.checked_sub(k * every))
}

/// `alertscaler:function_panic` at `t`: `None` where it has no value (no load or no replicas).
pub fn panic_condition(
    series: &impl Scraped,
    t: u64,
    target: CapacityTarget,
    w: Windows,
) -> Option<bool> {
    let load = panic_load(series, t, target, w)?;
    let replicas = series.replicas(t)?;
    Some(f64::from(ceil_div(load, target.per_replica)) >= PANIC_THRESHOLD * f64::from(replicas))
}

/// Evaluate the recording rules at `now`. `None` where the function has no arrivals series, or fewer than two
/// samples in the stable window and no newborn series (Prometheus has no value, so neither alert fires); a
/// panic window without a value, or unknown replicas, count as no panic.
pub fn desired(
    series: &impl Scraped,
    now: u64,
    target: CapacityTarget,
    w: Windows,
) -> Option<Desired> {
    let load = load(
        series,
        now,
        w.stable,
        target,
        service_seconds(series, now, w),
    )?;
    let replicas = series.replicas(now);
    let load_panic = panic_load(series, now, target, w).unwrap_or(0.0);
    let stable = ceil_div(load, target.per_replica);
    let panic = ceil_div(load_panic, target.per_replica);
    // `alertscaler:function_panic` as recorded at each evaluation of the last `hold` seconds (both ends).
    let panicking =
        evaluations(now, w.hold, w).any(|t| panic_condition(series, t, target, w) == Some(true));
    let needed = if panicking { stable.max(panic) } else { stable };
    let desired = match replicas {
        Some(current) if needed < current => {
            let published = if panicking && panic > stable {
                load_panic
            } else {
                load
            };
            let peak = needed_peak(series, now, target, w).unwrap_or(0);
            current.min(headroom(published, target).max(peak))
        }
        _ => needed,
    };
    Some(Desired {
        load,
        load_panic,
        stable,
        panic,
        panicking,
        desired,
        replicas,
    })
}

#[cfg(test)]
mod tests;
