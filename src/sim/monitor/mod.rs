//! The Prometheus side of the monitoring path: gateway metrics as scraped, `rate()` and
//! `histogram_quantile()` computed as Prometheus computes them, and alert rules with `for:`.
//!
//! What the gateway exports per function (`function_name="name.namespace"`):
//! `gateway_function_invocation_total{code="200"}` (counter) and the histogram
//! `gateway_functions_seconds_bucket{le}` with the Prometheus client's default buckets. A series exists from
//! its function's first request on, as with the real gateway, which matters for `rate()` at the start.

use std::collections::VecDeque;

/// Upper bounds of the gateway histogram (the Prometheus client's `DefBuckets`); `+Inf` is implicit.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Number of cumulative bucket counters including `+Inf`.
pub const NB: usize = BUCKETS.len() + 1;

/// One scrape of one function's gateway metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: u64,
    /// `gateway_function_invocation_total{code="200"}`.
    pub ok: f64,
    /// `gateway_functions_seconds_sum`: seconds of latency of every observed request.
    pub sum: f64,
    /// `gateway_function_invocation_started`: requests that arrived (counted before they are served).
    pub started: f64,
    /// Cumulative `gateway_functions_seconds_bucket{le}`; the last one is `+Inf` (= `_count`).
    pub buckets: [f64; NB],
    /// `gateway_service_count`: the function's replicas as the gateway reports them.
    pub replicas: u32,
}

/// A gateway counter of one function, as the rules select it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `gateway_function_invocation_total{code="200"}`.
    Ok,
    /// `gateway_functions_seconds_count`.
    Count,
    /// `gateway_functions_seconds_sum`.
    Sum,
    /// `gateway_functions_seconds_count{code!="429"}`: requests the function served, not shed.
    ServedCount,
    /// `gateway_functions_seconds_sum{code!="429"}`.
    ServedSum,
    /// `gateway_function_invocation_total` over every code.
    Invocations,
    /// `gateway_function_invocation_started`: arrivals, whether served yet or not.
    Started,
}

/// What the rules read of one function's scraped series. [`Series`] is the simulator's; the promtool replay
/// in `tests/it/simulate/rules.rs` implements it over a test file's input series (any bucket bounds).
pub trait Scraped {
    /// `rate(metric[window])` at `now`; `None` without two samples in the window.
    fn rate(&self, now: u64, window: u64, metric: Metric) -> Option<f64>;
    /// Per-bucket `rate(gateway_functions_seconds_bucket[window])` as `(le, rate)`, sorted, `+Inf` last.
    fn bucket_rates(&self, now: u64, window: u64) -> Option<Vec<(f64, f64)>>;
    /// The latest `gateway_service_count` at or before `now`.
    fn replicas(&self, now: u64) -> Option<u32>;
    /// Whether `gateway_function_invocation_total` has a sample in `[at − lookback, at]` (what
    /// `… offset` selects).
    fn sampled(&self, at: u64, lookback: u64) -> bool;
    /// The summed value of `metric`'s series that are newborn at `now`: exactly one sample in the last
    /// [`NEWBORN_SECS`] (`count_over_time(…[1m]) == 1`) while the gateway target was up at every scrape of
    /// that minute and scraped more than once (`up`); `None` where no series is.
    fn newborn(&self, now: u64, metric: Metric) -> Option<f64>;
    /// Whether the gateway reports replicas for the function at `now` but exported no `metric` sample for
    /// it in the last `window`, while its target was up at every scrape of that window and scraped more
    /// than once (`alertscaler:function_unseen:1m`, `FunctionIdle`'s second branch: the gateway creates the
    /// counters at a function's first request, so after a restart an idle function has none).
    fn unseen(&self, now: u64, window: u64, metric: Metric) -> bool;
    /// Per series, its `rate(metric[window])`, or its count / `window` where it is newborn, summed (the
    /// capacity pack's arrivals and mean latency: with two gateways, a newborn series on one adds to
    /// the other's rate); `None` where no series has either. For one series: `rate() or newborn / W`.
    fn arrived(&self, now: u64, window: u64, metric: Metric) -> Option<f64> {
        self.rate(now, window, metric)
            .or_else(|| Some(self.newborn(now, metric)? / window as f64))
    }
    /// The summed latest value of the `gateway_function_invocation_total` series with no sample a
    /// `window` ago (`… unless … offset W`, `lookback` = Prometheus' 5m): requests `increase()` cannot
    /// see, since such a series started inside the window (`FunctionIdle`).
    fn young(&self, now: u64, window: u64, lookback: u64) -> f64;
    /// Requests in flight at `now`: the latest `gateway_function_invocation_started` minus the latest
    /// `answered` counter (every code; none while nothing was answered), summed over series, at least 0;
    /// `None` without a started series. The capacity pack counts answers with
    /// `gateway_functions_seconds_count` (`alertscaler:function_in_flight`), `FunctionIdle` with
    /// `gateway_function_invocation_total`.
    fn in_flight(&self, now: u64, answered: Metric) -> Option<f64>;
    /// Whether the function answered 429 in the last [`SHED_SECS`](super::capacity::SHED_SECS)
    /// (`alertscaler:function_shedding:1m`: a `code="429"` series that rose, or that the gateway created,
    /// in that time).
    fn shedding(&self, now: u64) -> bool;
}

/// The range over which a series with a single sample counts as newborn.
pub const NEWBORN_SECS: u64 = 60;

/// Which counter of a sample `metric` is.
fn value(s: &Sample, metric: Metric) -> f64 {
    match metric {
        Metric::Ok => s.ok,
        // The simulated function sheds nothing with 429: served is everything answered.
        Metric::Count | Metric::ServedCount | Metric::Invocations => s.buckets[NB - 1],
        Metric::Sum | Metric::ServedSum => s.sum,
        Metric::Started => s.started,
    }
}

impl Scraped for Series {
    fn rate(&self, now: u64, window: u64, metric: Metric) -> Option<f64> {
        Series::rate(self, now, window, |s| value(s, metric))
    }

    fn young(&self, now: u64, window: u64, lookback: u64) -> f64 {
        let old = now
            .checked_sub(window)
            .is_some_and(|then| self.sampled(then, lookback));
        match self.samples.iter().rev().find(|s| s.t <= now) {
            Some(latest) if !old => value(latest, Metric::Invocations),
            _ => 0.0,
        }
    }

    fn bucket_rates(&self, now: u64, window: u64) -> Option<Vec<(f64, f64)>> {
        Series::bucket_rates(self, now, window)
    }

    /// The simulated function answers what it serves within the second it serves it (its latency is
    /// accounted for analytically), so this is its backlog at the scrape; the requests in service, which the
    /// real gateway counts too, are left out. It matters only where the rules fall back to it: no arrivals
    /// in the window, or nothing answered for a minute.
    fn in_flight(&self, now: u64, answered: Metric) -> Option<f64> {
        let latest = self.samples.iter().rev().find(|s| s.t <= now)?;
        Some((latest.started - value(latest, answered)).max(0.0))
    }

    /// The simulated function sheds nothing with 429.
    fn shedding(&self, _now: u64) -> bool {
        false
    }

    fn replicas(&self, now: u64) -> Option<u32> {
        // `gateway_service_count` is exported for every function, with or without counters.
        let scraped = self.scrapes.iter().rev().find(|s| s.0 <= now);
        let sampled = self.samples.iter().rev().find(|s| s.t <= now);
        match (scraped, sampled) {
            (Some(s), Some(sample)) if sample.t > s.0 => Some(sample.replicas),
            (Some(s), _) => Some(s.1),
            (None, sample) => sample.map(|s| s.replicas),
        }
    }

    fn sampled(&self, at: u64, lookback: u64) -> bool {
        self.samples
            .iter()
            .any(|s| s.t <= at && s.t + lookback >= at)
    }

    fn newborn(&self, now: u64, metric: Metric) -> Option<f64> {
        let mut own = self
            .samples
            .iter()
            .filter(|s| within(s.t, now, NEWBORN_SECS));
        let (first, second) = (own.next()?, own.next());
        (second.is_none() && self.target_steady(now, NEWBORN_SECS)).then(|| value(first, metric))
    }

    fn unseen(&self, now: u64, window: u64, _metric: Metric) -> bool {
        // Every counter of the simulated gateway comes and goes together.
        let scraped = self.scrapes.iter().any(|s| s.0 <= now);
        let sampled = self.samples.iter().any(|s| within(s.t, now, window));
        scraped && !sampled && self.target_steady(now, window)
    }
}

/// Whether a sample at `t` is in the range `[now − window, now]` (Prometheus 2's closed range).
fn within(t: u64, now: u64, window: u64) -> bool {
    t <= now && t + window >= now
}

/// The samples Prometheus holds for one function, trimmed to the longest window any rule reads.
#[derive(Debug, Clone, Default)]
pub struct Series {
    samples: VecDeque<Sample>,
    /// When the gateway target was scraped (as far back as the samples are kept), and the replicas it
    /// reported for this function (`gateway_service_count`), whether or not the function had counters yet
    /// (the simulated gateway is always up).
    scrapes: VecDeque<(u64, u32)>,
}

impl Series {
    /// The gateway target was scraped at `t`, reporting `replicas` for this function; `sample` is its
    /// counters then, if it has them.
    pub fn scrape(&mut self, t: u64, replicas: u32, sample: Option<Sample>, keep_secs: u64) {
        self.scrapes.push_back((t, replicas));
        let keep_scrapes = keep_secs.max(NEWBORN_SECS);
        while self.scrapes.front().is_some_and(|s| s.0 + keep_scrapes < t) {
            self.scrapes.pop_front();
        }
        if let Some(sample) = sample {
            self.push(sample, keep_secs);
        }
    }

    /// The gateway target was scraped more than once in the `window` before `now` (the simulated gateway
    /// is always up, so every scrape saw it up).
    fn target_steady(&self, now: u64, window: u64) -> bool {
        self.scrapes
            .iter()
            .filter(|s| within(s.0, now, window))
            .count()
            > 1
    }

    /// Append a scrape, forgetting samples older than `keep_secs` before it.
    pub fn push(&mut self, sample: Sample, keep_secs: u64) {
        self.samples.push_back(sample);
        while self
            .samples
            .front()
            .is_some_and(|s| s.t + keep_secs < sample.t)
        {
            self.samples.pop_front();
        }
    }

    /// `rate(metric[window])` evaluated at `now`, for the counter `value` picks from each sample.
    pub fn rate(&self, now: u64, window: u64, value: impl Fn(&Sample) -> f64) -> Option<f64> {
        // The range starts `window` before `now` even when that is before the run began (Prometheus' range
        // is [now - window, now] whatever data it holds): a young series extrapolates only half an interval
        // back and under-reads, rather than being divided by the shorter time since the start.
        let start = now as f64 - window as f64;
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.t as f64 >= start && s.t <= now)
            .map(|s| (s.t as f64, value(s)))
            .collect();
        extrapolated_rate(&points, start, now as f64)
    }

    /// Per-bucket `rate(gateway_functions_seconds_bucket[window])`, as `(le, rate)` with `+Inf` last.
    pub fn bucket_rates(&self, now: u64, window: u64) -> Option<Vec<(f64, f64)>> {
        (0..NB)
            .map(|i| {
                let le = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
                self.rate(now, window, |s| s.buckets[i]).map(|r| (le, r))
            })
            .collect()
    }
}

/// Prometheus' `extrapolatedRate` (2.x, promql/functions.go) for a counter: the increase between the first and
/// last sample in `[range_start, range_end]`, counting across resets (a sample below the one before it, as
/// when a gateway restarts at the same address, adds the value before the reset), extrapolated towards the
/// range edges (not before the counter's zero point; half an average sample interval when an edge is further
/// than 1.1 intervals), per second. `None` with fewer than two samples, as Prometheus returns no value.
pub fn extrapolated_rate(points: &[(f64, f64)], range_start: f64, range_end: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut increase = last_v - first_v;
    let mut before = 0.0;
    for &(_, v) in points {
        if v < before {
            increase += before;
        }
        before = v;
    }
    let sampled = last_t - first_t;
    let average = sampled / (points.len() - 1) as f64;
    let mut to_start = first_t - range_start;
    let to_end = range_end - last_t;
    // Prometheus 2.42 order: first limit the start by the counter's zero point, then cap both edges.
    if increase > 0.0 && first_v >= 0.0 {
        to_start = to_start.min(sampled * (first_v / increase));
    }
    let threshold = average * 1.1;
    let edge = |d: f64| if d < threshold { d } else { average / 2.0 };
    let (to_start, to_end) = (edge(to_start), edge(to_end));
    let factor = (sampled + to_start + to_end) / sampled;
    Some(increase * factor / (range_end - range_start))
}

/// Prometheus' `histogram_quantile(q, …)` over cumulative `(le, count)` buckets sorted by `le` with `+Inf`
/// last: linear interpolation inside the bucket holding the rank; the lowest bucket starts at 0; a rank in
/// `+Inf` answers the highest finite bound. NaN when there are no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if buckets.len() < 2 || !buckets.last().is_some_and(|b| b.0.is_infinite()) {
        return f64::NAN;
    }
    // Prometheus fixes non-monotonic buckets (from float error) by carrying the maximum forward.
    let mut counts: Vec<f64> = buckets.iter().map(|b| b.1).collect();
    for i in 1..counts.len() {
        counts[i] = counts[i].max(counts[i - 1]);
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * total;
    let b = counts
        .iter()
        .position(|c| *c >= rank)
        .unwrap_or(counts.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (lower, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (buckets[b - 1].0, counts[b - 1])
    };
    let upper = buckets[b].0;
    let in_bucket = counts[b] - below;
    lower + (upper - lower) * ((rank - below) / in_bucket)
}

/// Alert state of one rule for one function, as Prometheus' rule manager keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Active {
    pub active_at: u64,
    pub fired_at: Option<u64>,
    pub last_sent: u64,
    /// What the condition observed the last time it held, and the first evaluation since that found it false
    /// (`keep_firing_for`).
    pub observed: Observed,
    pub false_since: Option<u64>,
}

/// What a true alert condition observed: the numbers its annotations carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// `value`: the expression's value (req/s, p95 seconds, or load for the capacity pack).
    pub value: f64,
    /// `target`: the threshold (or the per-replica target).
    pub target: f64,
    /// `desired` and `replicas` (capacity pack only).
    pub desired: Option<u32>,
    pub replicas: Option<u32>,
    /// `window` (idle rule only): how long the function had been idle when the alert became active.
    pub window_secs: Option<u64>,
}

impl Observed {
    /// A value against a threshold, without replica counts.
    pub fn new(value: f64, target: f64) -> Self {
        Self {
            value,
            target,
            desired: None,
            replicas: None,
            window_secs: None,
        }
    }
}

/// What an evaluation asks Prometheus to send to AlertManager for one function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Send {
    /// The alert (still) fires; `starts_at` is when it started firing (Prometheus sends `FiredAt`).
    Firing { starts_at: u64, observed: Observed },
    /// The alert stopped firing at `ends_at`.
    Resolved { starts_at: u64, ends_at: u64 },
}

/// How long Prometheus waits before re-sending a still-firing alert (`--rules.alert.resend-delay`): it
/// re-sends at the first evaluation *more* than this after the last send.
pub const RESEND_DELAY: u64 = 60;

/// Advance one function's alert state by one evaluation: pending after the first true evaluation, firing once
/// it has been true for `for_secs` (`>=`, as Prometheus), resolved on the first false evaluation while firing —
/// or, with `keep_secs` (`keep_firing_for`), once the condition has been false for that long (measured from the
/// first false evaluation, as Prometheus); until then it fires on with what it observed last.
pub fn step_alert(
    state: &mut Option<Active>,
    result: Option<Observed>,
    now: u64,
    for_secs: u64,
    keep_secs: u64,
) -> Option<Send> {
    let result = match (result, state.as_mut()) {
        (Some(observed), Some(a)) => {
            a.observed = observed;
            a.false_since = None;
            result
        }
        (None, Some(a)) if a.fired_at.is_some() => {
            let since = *a.false_since.get_or_insert(now);
            (now - since < keep_secs).then_some(a.observed)
        }
        _ => result,
    };
    match (result, state.as_mut()) {
        (Some(observed), None) => {
            *state = Some(Active {
                active_at: now,
                fired_at: None,
                last_sent: 0,
                observed,
                false_since: None,
            });
            step_alert(state, result, now, for_secs, keep_secs).filter(|_| for_secs == 0)
        }
        (Some(observed), Some(a)) => {
            let fired_at = match a.fired_at {
                Some(f) => f,
                None if now - a.active_at >= for_secs => {
                    a.fired_at = Some(now);
                    a.last_sent = now;
                    return Some(Send::Firing {
                        starts_at: now,
                        observed,
                    });
                }
                None => return None,
            };
            // Prometheus' `needsSending`: `LastSentAt + resendDelay` strictly before the evaluation.
            if now - a.last_sent > RESEND_DELAY {
                a.last_sent = now;
                return Some(Send::Firing {
                    starts_at: fired_at,
                    observed,
                });
            }
            None
        }
        (None, Some(a)) => {
            let sent = a.fired_at.map(|starts_at| Send::Resolved {
                starts_at,
                ends_at: now,
            });
            *state = None;
            sent
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
