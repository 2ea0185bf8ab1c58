//! The Prometheus side of the monitoring path: gateway metrics as scraped, `rate()` and
//! `histogram_quantile()` computed as Prometheus computes them ([`promql`]), and alert rules with
//! `for:` ([`alerting`]: the rule manager's states).
//!
//! What the gateway exports per function (`function_name="name.namespace"`):
//! `gateway_function_invocation_total{code="200"}` (counter) and the histogram
//! `gateway_functions_seconds_bucket{le}` with the Prometheus client's default buckets. A series exists from
//! its function's first request on, as with the real gateway, which matters for `rate()` at the start.

use std::collections::VecDeque;

mod alerting;
mod promql;

pub use alerting::{Active, Observed, RESEND_DELAY, Send, step_alert};
pub use promql::{extrapolated_rate, histogram_quantile};

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

#[cfg(test)]
mod tests;
