//! The input series of one promtool test group, per function, read by the simulator's rule model through
//! [`Scraped`] as if Prometheus held them (rates extrapolated as `rate()` does, instant lookups with the
//! default lookback and staleness markers).

use std::collections::BTreeMap;

use super::promtool::{TestGroup, expand, selector, stale_markers};
use crate::sim::capacity::{CapacityTarget, SHED_SECS};
use crate::sim::monitor::{Metric, NEWBORN_SECS, Scraped, extrapolated_rate};
use crate::sim::rules::Targets;

type Points = Vec<(f64, f64)>;

/// One function's input series.
#[derive(Debug, Clone, Default)]
pub(super) struct Function {
    ok: Vec<Points>,
    invocations: Vec<Points>,
    count: Vec<Points>,
    sum: Vec<Points>,
    /// `count` and `sum` without `code="429"` (load shed by the function's `max_inflight`).
    served_count: Vec<Points>,
    served_sum: Vec<Points>,
    started: Vec<Points>,
    /// `count` with `code="429"` only: the answers of a function shedding load.
    shed: Vec<Points>,
    /// Per series of `started`, `count` and `invocations` (same order): when it went stale.
    started_stale: Vec<Vec<f64>>,
    count_stale: Vec<Vec<f64>>,
    invocations_stale: Vec<Vec<f64>>,
    buckets: Vec<(f64, Points)>,
    replicas: Points,
    latency_target: Points,
    tolerance: Points,
    capacity: Option<(Points, bool)>,
    /// The gateway target's `up` (the test file's one `up` series, whatever its labels).
    up: Points,
}

fn summed_rate(series: &[Points], now: u64, window: u64) -> Option<f64> {
    let start = now as f64 - window as f64;
    let rates: Vec<f64> = series
        .iter()
        .filter_map(|p| {
            let inside: Points = p
                .iter()
                .copied()
                .filter(|(t, _)| *t >= start && *t <= now as f64)
                .collect();
            extrapolated_rate(&inside, start, now as f64)
        })
        .collect();
    (!rates.is_empty()).then(|| rates.iter().sum())
}

fn latest(points: &Points, now: u64) -> Option<f64> {
    points
        .iter()
        .rev()
        .find(|(t, _)| *t <= now as f64)
        .map(|p| p.1)
}

/// How far back an instant lookup finds a sample (Prometheus' default lookback delta).
const LOOKBACK_SECS: f64 = 300.0;

/// What an instant selector finds of one series at `now`: its latest sample within the lookback, unless
/// the series went stale (`stale`) after it.
fn instant(points: &Points, stale: &[f64], now: u64) -> Option<f64> {
    let now = now as f64;
    let (t, v) = points.iter().rev().find(|(t, _)| *t <= now)?;
    let gone = stale.iter().any(|s| s > t && *s <= now);
    (now - t <= LOOKBACK_SECS && !gone).then_some(*v)
}

impl Scraped for Function {
    fn rate(&self, now: u64, window: u64, metric: Metric) -> Option<f64> {
        summed_rate(self.series(metric), now, window)
    }

    fn arrived(&self, now: u64, window: u64, metric: Metric) -> Option<f64> {
        let steady = self.target_steady(now, NEWBORN_SECS);
        let each: Vec<f64> = self
            .series(metric)
            .iter()
            .filter_map(|p| {
                summed_rate(std::slice::from_ref(p), now, window).or_else(|| {
                    let mut inside = p.iter().filter(|q| within(q.0, now, NEWBORN_SECS));
                    match (steady, inside.next(), inside.next()) {
                        (true, Some(only), None) => Some(only.1 / window as f64),
                        _ => None,
                    }
                })
            })
            .collect();
        (!each.is_empty()).then(|| each.iter().sum())
    }

    fn young(&self, now: u64, window: u64, lookback: u64) -> f64 {
        let then = now.checked_sub(window).map(|t| t as f64);
        let lookback = lookback as f64;
        self.invocations
            .iter()
            .filter(|p| {
                then.is_none_or(|then| !p.iter().any(|(t, _)| *t <= then && *t + lookback >= then))
            })
            .filter_map(|p| latest(p, now))
            .sum()
    }

    fn bucket_rates(&self, now: u64, window: u64) -> Option<Vec<(f64, f64)>> {
        let mut by_le: BTreeMap<u64, (f64, Vec<Points>)> = BTreeMap::new();
        for (le, p) in &self.buckets {
            let key = if le.is_infinite() {
                u64::MAX
            } else {
                le.to_bits()
            };
            by_le
                .entry(key)
                .or_insert((*le, Vec::new()))
                .1
                .push(p.clone());
        }
        let mut out: Vec<(f64, f64)> = by_le
            .values()
            .map(|(le, s)| summed_rate(s, now, window).map(|r| (*le, r)))
            .collect::<Option<_>>()?;
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(out)
    }

    fn replicas(&self, now: u64) -> Option<u32> {
        latest(&self.replicas, now).map(|r| r.max(0.0) as u32)
    }

    fn in_flight(&self, now: u64, answered: Metric) -> Option<f64> {
        let found = |metric: Metric| -> Vec<f64> {
            let stale = self.stale(metric);
            self.series(metric)
                .iter()
                .enumerate()
                .filter_map(|(i, p)| instant(p, stale.get(i).map_or(&[], Vec::as_slice), now))
                .collect()
        };
        let started = found(Metric::Started);
        if started.is_empty() {
            return None;
        }
        let answered: f64 = found(answered).iter().sum();
        Some((started.iter().sum::<f64>() - answered).max(0.0))
    }

    fn shedding(&self, now: u64) -> bool {
        let then = now.checked_sub(SHED_SECS);
        self.shed.iter().any(|p| {
            let rose =
                summed_rate(std::slice::from_ref(p), now, SHED_SECS).is_some_and(|r| r > 0.0);
            let newborn = instant(p, &[], now).is_some()
                && then.is_none_or(|then| instant(p, &[], then).is_none());
            rose || newborn
        })
    }

    fn sampled(&self, at: u64, lookback: u64) -> bool {
        let (at, lookback) = (at as f64, lookback as f64);
        self.invocations
            .iter()
            .flatten()
            .any(|(t, _)| *t <= at && *t + lookback >= at)
    }

    fn newborn(&self, now: u64, metric: Metric) -> Option<f64> {
        let within = |t: f64| within(t, now, NEWBORN_SECS);
        if !self.target_steady(now, NEWBORN_SECS) {
            return None;
        }
        let born: Vec<f64> = self
            .series(metric)
            .iter()
            .filter_map(|p| {
                let mut inside = p.iter().filter(|q| within(q.0));
                match (inside.next(), inside.next()) {
                    (Some(only), None) => Some(only.1),
                    _ => None,
                }
            })
            .collect();
        (!born.is_empty()).then(|| born.iter().sum())
    }

    fn unseen(&self, now: u64, window: u64, metric: Metric) -> bool {
        let sampled = self
            .series(metric)
            .iter()
            .flatten()
            .any(|p| within(p.0, now, window));
        self.replicas(now).is_some() && !sampled && self.target_steady(now, window)
    }
}

/// Whether a point at `t` is in the range `[now − window, now]`.
fn within(t: f64, now: u64, window: u64) -> bool {
    t <= now as f64 && t + window as f64 >= now as f64
}

impl Function {
    /// The gateway target (`up`) was scraped more than once in the `window` before `now`, and up at every
    /// scrape (`count_over_time(up[W]) > 1 and min_over_time(up[W]) == 1`).
    fn target_steady(&self, now: u64, window: u64) -> bool {
        let up: Vec<f64> = self
            .up
            .iter()
            .filter(|p| within(p.0, now, window))
            .map(|p| p.1)
            .collect();
        up.len() > 1 && up.iter().all(|v| *v == 1.0)
    }

    fn series(&self, metric: Metric) -> &[Points] {
        match metric {
            Metric::Ok => &self.ok,
            Metric::Count => &self.count,
            Metric::Sum => &self.sum,
            Metric::ServedCount => &self.served_count,
            Metric::ServedSum => &self.served_sum,
            Metric::Invocations => &self.invocations,
            Metric::Started => &self.started,
        }
    }

    /// When each series of `metric` went stale (kept for the counters `in_flight` reads).
    fn stale(&self, metric: Metric) -> &[Vec<f64>] {
        match metric {
            Metric::Started => &self.started_stale,
            Metric::Count => &self.count_stale,
            Metric::Invocations => &self.invocations_stale,
            _ => &[],
        }
    }

    pub(super) fn targets(&self, now: u64, every: u64) -> Targets {
        let latency = latest(&self.latency_target, now).filter(|x| *x > 0.0);
        let tolerance = latest(&self.tolerance, now).filter(|x| (0.0..1.0).contains(x));
        let capacity = self
            .capacity
            .as_ref()
            .and_then(|(p, rps)| latest(p, now).filter(|x| *x > 0.0).map(|v| (v, *rps)))
            .map_or(CapacityTarget::default(), |(per_replica, rps)| {
                CapacityTarget { per_replica, rps }
            });
        Targets {
            latency_secs: latency.unwrap_or(0.5),
            latency_tolerance: tolerance,
            capacity,
            evaluation_secs: every,
        }
    }
}

pub(super) fn functions(
    group: &TestGroup,
    interval: u64,
) -> Result<BTreeMap<String, Function>, String> {
    let mut out: BTreeMap<String, Function> = BTreeMap::new();
    let mut up = Points::new();
    for input in &group.input_series {
        let (name, labels) =
            selector(&input.series).ok_or(format!("bad series {:?}", input.series))?;
        let values = expand(&input.values).ok_or(format!("bad values {:?}", input.values))?;
        let stale: Vec<f64> = stale_markers(&input.values)
            .into_iter()
            .map(|i| (i as u64 * interval) as f64)
            .collect();
        let points: Points = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| ((i as u64 * interval) as f64, v)))
            .collect();
        let Some(function) = labels.get("function_name") else {
            if name == "up" {
                up = points;
            }
            continue;
        };
        let f = out.entry(function.clone()).or_default();
        f.add(&name, &labels, points, stale)?;
    }
    for f in out.values_mut() {
        f.up = up.clone();
    }
    Ok(out)
}

impl Function {
    /// One input series of this function: metric `name` with `labels`, its `points` and when it went
    /// `stale`. Metrics the model does not read are ignored.
    fn add(
        &mut self,
        name: &str,
        labels: &BTreeMap<String, String>,
        points: Points,
        stale: Vec<f64>,
    ) -> Result<(), String> {
        match name {
            "gateway_function_invocation_total" => {
                if labels.get("code").is_some_and(|c| c == "200") {
                    self.ok.push(points.clone());
                }
                self.invocations.push(points);
                self.invocations_stale.push(stale);
            }
            "gateway_functions_seconds_count" | "gateway_functions_seconds_sum" => {
                self.add_seconds(name, labels, points, stale);
            }
            "gateway_function_invocation_started" => {
                self.started.push(points);
                self.started_stale.push(stale);
            }
            "gateway_functions_seconds_bucket" => {
                let le = labels.get("le").ok_or("bucket without le")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().map_err(|_| "bad le")?
                };
                self.buckets.push((le, points));
            }
            "gateway_service_count" => self.replicas = points,
            "alertscaler_function_latency_target_seconds" => self.latency_target = points,
            "alertscaler_function_latency_tolerance_ratio" => self.tolerance = points,
            "alertscaler_function_capacity_target" => {
                let rps = labels.get("type").is_some_and(|t| t == "rps");
                self.capacity = Some((points, rps));
            }
            _ => {}
        }
        Ok(())
    }

    /// A `gateway_functions_seconds_count` or `_sum` series: all of them, and apart those served (not
    /// `code="429"`) and, for the count, those shed.
    fn add_seconds(
        &mut self,
        name: &str,
        labels: &BTreeMap<String, String>,
        points: Points,
        stale: Vec<f64>,
    ) {
        let served = labels.get("code").is_none_or(|c| c != "429");
        let (all, kept) = if name == "gateway_functions_seconds_count" {
            (&mut self.count, &mut self.served_count)
        } else {
            (&mut self.sum, &mut self.served_sum)
        };
        if served {
            kept.push(points.clone());
        } else if name == "gateway_functions_seconds_count" {
            self.shed.push(points.clone());
        }
        if name == "gateway_functions_seconds_count" {
            self.count_stale.push(stale);
        }
        all.push(points);
    }
}
