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
mod tests {
    use super::*;
    use crate::sim::monitor::{BUCKETS, NB, Sample, Series};
    use crate::sim::rules::{Expr, Targets, p95};

    /// Scrapes every 5 s: `per_scrape(t)` = (requests, latency seconds) added in the 5 s before `t`.
    fn scraped(until: u64, replicas: u32, per_scrape: impl Fn(u64) -> (f64, f64)) -> Series {
        let mut series = Series::default();
        let (mut n, mut sum) = (0.0, 0.0);
        for t in (5..=until).step_by(5) {
            let (dn, ds) = per_scrape(t);
            n += dn;
            sum += ds;
            let mut buckets = [0.0; NB];
            buckets.fill(n);
            series.push(
                Sample {
                    t,
                    ok: n,
                    sum,
                    started: n,
                    buckets,
                    replicas,
                },
                65,
            );
        }
        series
    }

    #[test]
    fn target_from_labels_with_pack_defaults() {
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            CapacityTarget::from_labels(&l(&[])),
            CapacityTarget::default()
        );
        let t = CapacityTarget::from_labels(&l(&[
            (TYPE, "rps"),
            ("com.openfaas.scale.target", "50"),
            ("com.openfaas.scale.target-proportion", "0.8"),
        ]));
        assert_eq!((t.per_replica, t.rps), (40.0, true));
        let t = CapacityTarget::from_labels(&l(&[("com.openfaas.scale.target", "-3")]));
        assert_eq!(t.per_replica, 9.0);
    }

    #[test]
    fn little_law_load_gives_desired_and_panic() {
        let cap = CapacityTarget::default(); // 9 in flight per replica
        // 100 req/s at 0.2 s each = 20 in flight, steady for a minute on 1 replica: stable ceil(20/9) = 3,
        // panic 3 ≥ 2 × 1 → panicking, desired 3.
        let s = scraped(120, 1, |_| (500.0, 100.0));
        let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
        assert!((d.load - 20.0).abs() < 1e-9, "{}", d.load);
        assert_eq!((d.stable, d.panic, d.panicking, d.desired), (3, 3, true, 3));
        // The same load on 3 replicas: no panic, desired 3, neither alert.
        let s = scraped(120, 3, |_| (500.0, 100.0));
        let targets = Targets {
            latency_secs: 1.0,
            latency_tolerance: None,
            capacity: cap,
            evaluation_secs: 5,
        };
        let under = Expr::DesiredAbove {
            stable_window: 60,
            panic_window: 15,
            panic_hold: 60,
        };
        let over = Expr::DesiredBelow {
            stable_window: 60,
            panic_window: 15,
            panic_hold: 60,
        };
        assert_eq!(under.eval(&s, 120, &targets), None);
        assert_eq!(over.eval(&s, 120, &targets), None);
        // A burst in the last 15 s: 4× the load. Stable (1m) rises a little, panic reads the burst:
        // panic window [105, 120]: 3 scrapes × 400 s of work / 15 s = 80 → ceil(80/9) = 9 ≥ 6 → panic.
        let s = scraped(120, 3, |t| {
            if t > 105 {
                (2000.0, 400.0)
            } else {
                (500.0, 100.0)
            }
        });
        let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
        assert_eq!((d.panic, d.panicking), (9, true));
        assert!(d.desired >= 9);
        let o = under.eval(&s, 120, &targets).unwrap();
        assert_eq!(
            (o.desired, o.replicas, o.target),
            (Some(d.desired), Some(3), 9.0)
        );
        // The value is the panic window's load (it asks for more than the stable one).
        assert!((o.value - 80.0).abs() < 1e-9, "{}", o.value);
        // Traffic stopped: desired 0, raised to 1 by the alert (`clamp_min`), < 3 → over-provisioned …
        let stopped = |t: u64| if t <= 100 { (500.0, 100.0) } else { (0.0, 0.0) };
        let o = over.eval(&scraped(200, 3, stopped), 200, &targets).unwrap();
        assert_eq!(o.desired, Some(1));
        // … but an idle function at one replica is not.
        assert_eq!(over.eval(&scraped(200, 1, stopped), 200, &targets), None);
        // No series at all → no alert.
        assert_eq!(under.eval(&Series::default(), 200, &targets), None);
    }

    /// Requests in flight, queue included, at `load` busy slots on `n` slots (M/M/n: Erlang C).
    fn in_flight(n: u32, load: f64) -> f64 {
        if load >= f64::from(n) {
            return f64::INFINITY;
        }
        let n_f = f64::from(n);
        // Σ_{k<n} a^k / k!, term by term; `term` ends at a^(n-1) / (n-1)!.
        let (mut below, mut term) = (0.0, 1.0);
        for k in 0..n {
            if k > 0 {
                term *= load / f64::from(k);
            }
            below += term;
        }
        // a^n / n! × n / (n − a); the probability of waiting is its share, and the queue that × a / (n − a).
        let queued = term * load / n_f * n_f / (n_f - load);
        let wait = queued / (below + queued);
        load + wait * load / (n_f - load)
    }

    #[test]
    fn a_scale_down_leaves_few_slots_room_for_their_queue() {
        // Replicas of 1 to 10 slots at the pack's proportion (target = slots × 0.9), loads up to 20 replicas' worth:
        // the worst ratio of in flight (queue included) to target × replicas after a scale-down to `count`.
        let worst = |count: &dyn Fn(f64, CapacityTarget) -> u32| {
            let mut worst: f64 = 0.0;
            for slots in [1u32, 2, 4, 10] {
                let target = CapacityTarget {
                    per_replica: 0.9 * f64::from(slots),
                    rps: false,
                };
                for i in 1..400 {
                    let load = f64::from(i) * 0.05 * f64::from(slots);
                    let replicas = count(load, target);
                    let ratio = in_flight(replicas * slots, load)
                        / (target.per_replica * f64::from(replicas));
                    worst = worst.max(ratio);
                }
            }
            worst
        };
        // The fill alone leaves a one-slot function up to 3× over its target once it queues (the panic window
        // then scales it straight back up); with the staffing term the worst case stays near the fill.
        let fill_only = worst(&|load, t| ceil_div(load, t.per_replica * DOWN_FILL));
        assert!(fill_only > 3.0, "{fill_only}");
        let with_safety = worst(&headroom);
        assert!(with_safety <= 0.88, "{with_safety}");
        // A rate target has no slots: the fill only.
        let rps = CapacityTarget {
            per_replica: 1.0,
            rps: true,
        };
        assert_eq!(headroom(2.0, rps), 3);
        assert_eq!(
            headroom(
                2.0,
                CapacityTarget {
                    per_replica: 1.0,
                    rps: false
                }
            ),
            4
        );
    }

    #[test]
    fn rps_type_counts_requests() {
        let cap = CapacityTarget {
            per_replica: 45.0,
            rps: true,
        };
        let s = scraped(120, 1, |_| (500.0, 100.0)); // 100 req/s
        let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
        assert!((d.load - 100.0).abs() < 1e-9);
        assert_eq!(d.stable, 3);
    }

    #[test]
    fn p95_above_needs_traffic_in_the_short_window() {
        // One scrape every 5 s up to `until`; 10 slow requests (all in (0.5, 1]) per scrape until t = 100,
        // flat after.
        let slow = BUCKETS.iter().position(|b| *b == 1.0).unwrap();
        let scraped = |until: u64| {
            let mut series = Series::default();
            for t in (0..=until).step_by(5) {
                let n = 10.0 * (t.min(100) / 5) as f64;
                let mut buckets = [0.0; NB];
                buckets[slow..].fill(n);
                let sample = Sample {
                    t,
                    ok: n,
                    sum: 0.0,
                    started: n,
                    buckets,
                    replicas: 1,
                };
                series.push(sample, 65);
            }
            series
        };
        let targets = Targets {
            latency_secs: 0.5,
            latency_tolerance: None,
            capacity: CapacityTarget::default(),
            evaluation_secs: 5,
        };
        let high = Expr::P95Above {
            window: 60,
            traffic_window: 30,
        };
        assert_eq!(high.window(), 60);
        // Requests in the last 30 s: fires (p95 in (0.5, 1] against a 0.5 s target).
        assert!(high.eval(&scraped(125), 125, &targets).is_some());
        // 30 s after the last request the 1m p95 is still above target, but there is no current traffic.
        let series = scraped(130);
        assert!(p95(&series, 130, 60).is_some_and(|q| q > 0.5));
        assert_eq!(high.eval(&series, 130, &targets), None);
        // Without the guard (a 60 s traffic window, as the rule was before) it would still fire.
        let unguarded = Expr::P95Above {
            window: 60,
            traffic_window: 60,
        };
        assert!(unguarded.eval(&series, 130, &targets).is_some());
    }
}
