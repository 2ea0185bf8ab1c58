//! Replays a rule pack's promtool test file (`alert-rules/*.test.yml`) through the simulator's rule model:
//! the input series become [`Scraped`] series, every simulated alerting rule is evaluated at each evaluation
//! step with [`step_alert`], and at each `alert_rule_test` the set of firing functions (and their `value`,
//! `desired`, `replicas` annotations) is compared with what promtool expects. This is how the simulator shows
//! that the rules it simulates are the shipped ones. The YAML is read by the caller (tests/it/simulate/rules.rs).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::capacity::{self, CapacityTarget, SHED_SECS};
use super::monitor::{Active, Metric, NEWBORN_SECS, Scraped, extrapolated_rate, step_alert};
use super::rules::{Rule, Targets};

/// A promtool test file (fields this replay does not use are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct TestFile {
    pub evaluation_interval: Option<String>,
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// One `tests:` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct TestGroup {
    pub name: Option<String>,
    pub interval: Option<String>,
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    pub promql_expr_test: Vec<ExprTest>,
}

/// One expectation on an expression (recorded series of the capacity pack are checked).
#[derive(Debug, Clone, Deserialize)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: String,
    #[serde(default)]
    pub exp_samples: Vec<ExpSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpSample {
    #[serde(default)]
    pub labels: String,
    pub value: f64,
}

/// One input series in promtool's notation.
#[derive(Debug, Clone, Deserialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

/// One expectation.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    #[serde(default)]
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected firing alert.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpAlert {
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Expectations compared.
    pub checked: usize,
    /// Expectations for alerts the simulator does not model (named, for the report).
    pub skipped: Vec<String>,
    /// Expression expectations compared (recorded series the model computes).
    pub checked_exprs: usize,
    /// Expressions of series the model does not compute (named).
    pub skipped_exprs: Vec<String>,
    /// Disagreements, each saying where and what.
    pub mismatches: Vec<String>,
}

/// A Prometheus duration (`15s`, `2m15s`, `1h`) in seconds.
pub fn duration(text: &str) -> Option<u64> {
    let (mut total, mut number) = (0u64, String::new());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' if chars.peek() == Some(&'s') => return None,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
    }
    number.is_empty().then_some(total)
}

/// Expand promtool's series notation (`0+50x20`, `1 2 _ 3`, `_x10 3+0x20`): one `Option` per interval
/// (`_` and `stale` are both `None`; [`stale_markers`] tells them apart).
pub fn expand(values: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for token in values.split_whitespace() {
        if token == "_" || token == "stale" {
            out.push(None);
            continue;
        }
        let Some((start, times)) = token.split_once('x') else {
            out.push(Some(token.parse().ok()?));
            continue;
        };
        let n: usize = times.parse().ok()?;
        if start == "_" {
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let split = start[1..].find(['+', '-']).map(|i| i + 1);
        let (a, step) = match split {
            Some(i) => (
                start[..i].parse::<f64>().ok()?,
                start[i..].parse::<f64>().ok()?,
            ),
            None => (start.parse::<f64>().ok()?, 0.0),
        };
        out.extend((0..=n).map(|k| Some(a + step * k as f64)));
    }
    Some(out)
}

/// The intervals of [`expand`]'s output that are staleness markers (`stale`): Prometheus drops the series
/// there, so an instant lookup after one finds nothing until its next sample.
fn stale_markers(values: &str) -> Vec<usize> {
    let mut at = 0;
    let mut out = Vec::new();
    for token in values.split_whitespace() {
        if token == "stale" {
            out.push(at);
        }
        at += match token.split_once('x') {
            Some(("_", n)) => n.parse().unwrap_or(0),
            Some((_, n)) => n.parse::<usize>().map_or(1, |n| n + 1),
            None => 1,
        };
    }
    out
}

/// `name{k="v",…}` → name and labels.
fn selector(text: &str) -> Option<(String, BTreeMap<String, String>)> {
    let text = text.trim();
    let Some((name, rest)) = text.split_once('{') else {
        return Some((text.to_string(), BTreeMap::new()));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = BTreeMap::new();
    for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=')?;
        labels.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    Some((name.to_string(), labels))
}

type Points = Vec<(f64, f64)>;

/// One function's input series.
#[derive(Debug, Clone, Default)]
struct Function {
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

    fn targets(&self, now: u64, every: u64) -> Targets {
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

fn functions(group: &TestGroup, interval: u64) -> Result<BTreeMap<String, Function>, String> {
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
        match name.as_str() {
            "gateway_function_invocation_total" => {
                if labels.get("code").is_some_and(|c| c == "200") {
                    f.ok.push(points.clone());
                }
                f.invocations.push(points);
                f.invocations_stale.push(stale);
            }
            "gateway_functions_seconds_count" | "gateway_functions_seconds_sum" => {
                let served = labels.get("code").is_none_or(|c| c != "429");
                let (all, kept) = if name == "gateway_functions_seconds_count" {
                    (&mut f.count, &mut f.served_count)
                } else {
                    (&mut f.sum, &mut f.served_sum)
                };
                if served {
                    kept.push(points.clone());
                } else if name == "gateway_functions_seconds_count" {
                    f.shed.push(points.clone());
                }
                if name == "gateway_functions_seconds_count" {
                    f.count_stale.push(stale);
                }
                all.push(points);
            }
            "gateway_function_invocation_started" => {
                f.started.push(points);
                f.started_stale.push(stale);
            }
            "gateway_functions_seconds_bucket" => {
                let le = labels.get("le").ok_or("bucket without le")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().map_err(|_| "bad le")?
                };
                f.buckets.push((le, points));
            }
            "gateway_service_count" => f.replicas = points,
            "alertscaler_function_latency_target_seconds" => f.latency_target = points,
            "alertscaler_function_latency_tolerance_ratio" => f.tolerance = points,
            "alertscaler_function_capacity_target" => {
                let rps = labels.get("type").is_some_and(|t| t == "rps");
                f.capacity = Some((points, rps));
            }
            _ => {}
        }
    }
    for f in out.values_mut() {
        f.up = up.clone();
    }
    Ok(out)
}

/// Replay every group of `file` through `rules` (the simulator's model of the pack).
pub fn replay(file: &TestFile, rules: &[Rule]) -> Outcome {
    let mut outcome = Outcome::default();
    let every = file
        .evaluation_interval
        .as_deref()
        .and_then(duration)
        .unwrap_or(60)
        .max(1);
    for (g, group) in file.tests.iter().enumerate() {
        let label = group.name.clone().unwrap_or_else(|| format!("group {g}"));
        let interval = group
            .interval
            .as_deref()
            .and_then(duration)
            .unwrap_or(every);
        let inputs = match functions(group, interval.max(1)) {
            Ok(f) => f,
            Err(e) => {
                outcome.mismatches.push(format!("{label}: {e}"));
                continue;
            }
        };
        let mut checks: BTreeMap<u64, Vec<&AlertTest>> = BTreeMap::new();
        for test in &group.alert_rule_test {
            match duration(&test.eval_time) {
                Some(t) if rules.iter().any(|r| r.alertname == test.alertname) => {
                    checks.entry(t).or_default().push(test)
                }
                Some(_) => outcome
                    .skipped
                    .push(format!("{label}: {} at {}", test.alertname, test.eval_time)),
                None => outcome
                    .mismatches
                    .push(format!("{label}: bad eval_time {:?}", test.eval_time)),
            }
        }
        let mut exprs: BTreeMap<u64, Vec<&ExprTest>> = BTreeMap::new();
        for test in &group.promql_expr_test {
            match (duration(&test.eval_time), recorded_series(&test.expr)) {
                (Some(t), Some(_)) => exprs.entry(t).or_default().push(test),
                _ => outcome
                    .skipped_exprs
                    .push(format!("{label}: {} at {}", test.expr, test.eval_time)),
            }
        }
        let last = checks
            .keys()
            .chain(exprs.keys())
            .max()
            .copied()
            .unwrap_or(0);
        let mut states: States = BTreeMap::new();
        let mut t = 0;
        while t <= last {
            for (r, rule) in rules.iter().enumerate() {
                for (name, f) in &inputs {
                    let result = rule.expr.eval(f, t, &f.targets(t, every));
                    let state = states.entry((r, name.as_str())).or_default();
                    step_alert(
                        &mut state.0,
                        result,
                        t,
                        rule.for_secs,
                        rule.keep_firing_secs,
                    );
                    state.1 = result;
                }
            }
            for test in checks.get(&t).into_iter().flatten() {
                outcome.checked += 1;
                compare(&mut outcome, &label, test, rules, &states);
            }
            for test in exprs.get(&t).into_iter().flatten() {
                outcome.checked_exprs += 1;
                compare_expr(&mut outcome, &label, test, rules, &inputs, t, every);
            }
            t += every;
        }
        if let Some(missed) = checks.keys().find(|k| *k % every != 0) {
            outcome.mismatches.push(format!(
                "{label}: eval_time {missed}s is not on an evaluation step"
            ));
        }
    }
    outcome
}

/// The capacity pack's recorded series the model computes: `alertscaler:function_desired_replicas`, its
/// `:stable` and `:panic` parts, the 15s needed count and its 30s peak, `alertscaler:function_panic` and
/// `…_panic_mode`; with an optional
/// `{function_name="…"}` selector.
fn recorded_series(expr: &str) -> Option<(&str, Option<String>)> {
    let (name, labels) = selector(expr)?;
    let known = [
        "alertscaler:function_desired_replicas",
        "alertscaler:function_needed_replicas:15s",
        "alertscaler:function_needed_replicas:peak30s",
        "alertscaler:function_desired_replicas:stable",
        "alertscaler:function_desired_replicas:panic",
        "alertscaler:function_panic",
        "alertscaler:function_panic_mode",
    ];
    let name = known.into_iter().find(|k| *k == name)?;
    let only = labels.get("function_name").cloned();
    (labels.len() == usize::from(only.is_some())).then_some((name, only))
}

/// What the model records for `name` and one function at `t`; `None` where Prometheus has no sample.
fn model_value(name: &str, f: &Function, t: u64, w: capacity::Windows) -> Option<f64> {
    let target = f.targets(t, w.every).capacity;
    let d = capacity::desired(f, t, target, w)?;
    match name {
        "alertscaler:function_desired_replicas" => Some(f64::from(d.desired)),
        "alertscaler:function_needed_replicas:15s" => {
            capacity::needed_15s(f, t, target, w).map(f64::from)
        }
        "alertscaler:function_needed_replicas:peak30s" => {
            capacity::needed_peak(f, t, target, w).map(f64::from)
        }
        "alertscaler:function_desired_replicas:stable" => Some(f64::from(d.stable)),
        "alertscaler:function_desired_replicas:panic" => {
            capacity::panic_load(f, t, target, w).map(|_| f64::from(d.panic))
        }
        "alertscaler:function_panic" => {
            capacity::panic_condition(f, t, target, w).map(|p| f64::from(u8::from(p)))
        }
        _ => Some(f64::from(u8::from(d.panicking))),
    }
}

fn compare_expr(
    outcome: &mut Outcome,
    label: &str,
    test: &ExprTest,
    rules: &[Rule],
    inputs: &BTreeMap<String, Function>,
    t: u64,
    every: u64,
) {
    let Some((name, only)) = recorded_series(&test.expr) else {
        return;
    };
    let w = rules
        .iter()
        .find_map(|r| match r.expr {
            super::rules::Expr::DesiredAbove {
                stable_window,
                panic_window,
                panic_hold,
            } => Some(capacity::Windows {
                stable: stable_window,
                panic: panic_window,
                hold: panic_hold,
                every,
            }),
            _ => None,
        })
        .unwrap_or(capacity::Windows::pack(every));
    let model: BTreeMap<&str, f64> = inputs
        .iter()
        .filter(|(n, _)| only.as_deref().is_none_or(|o| o == n.as_str()))
        .filter_map(|(n, f)| model_value(name, f, t, w).map(|v| (n.as_str(), v)))
        .collect();
    let expected: BTreeMap<String, f64> = test
        .exp_samples
        .iter()
        .filter_map(|s| {
            let (_, labels) = selector(&s.labels)?;
            Some((labels.get("function_name")?.clone(), s.value))
        })
        .collect();
    let same = model.len() == expected.len()
        && expected
            .iter()
            .all(|(f, v)| model.get(f.as_str()).is_some_and(|m| (m - v).abs() < 1e-9));
    if !same {
        outcome.mismatches.push(format!(
            "{label}: {} at {}: promtool expects {expected:?}, the model {model:?}",
            test.expr, test.eval_time
        ));
    }
}

type States<'a> = BTreeMap<(usize, &'a str), (Option<Active>, Option<super::monitor::Observed>)>;

fn compare(outcome: &mut Outcome, label: &str, test: &AlertTest, rules: &[Rule], states: &States) {
    let Some(r) = rules.iter().position(|r| r.alertname == test.alertname) else {
        return;
    };
    let firing: BTreeMap<&str, _> = states
        .iter()
        .filter(|((i, _), (a, _))| *i == r && a.is_some_and(|a| a.fired_at.is_some()))
        .map(|((_, f), (_, o))| (*f, *o))
        .collect();
    let expected: BTreeSet<&str> = test
        .exp_alerts
        .iter()
        .filter_map(|a| a.exp_labels.get("function_name").map(String::as_str))
        .collect();
    let got: BTreeSet<&str> = firing.keys().copied().collect();
    let at = format!("{label}: {} at {}", test.alertname, test.eval_time);
    if got != expected {
        outcome.mismatches.push(format!(
            "{at}: promtool expects {expected:?} firing, the model {got:?}"
        ));
        return;
    }
    for exp in &test.exp_alerts {
        let Some(function) = exp.exp_labels.get("function_name") else {
            continue;
        };
        let Some(Some(o)) = firing.get(function.as_str()) else {
            continue;
        };
        for (key, model) in [
            ("value", Some(o.value)),
            ("desired", o.desired.map(f64::from)),
            ("replicas", o.replicas.map(f64::from)),
        ] {
            let Some(want) = exp
                .exp_annotations
                .get(key)
                .and_then(|v| v.parse::<f64>().ok())
            else {
                continue;
            };
            let close = model.is_some_and(|m| (m - want).abs() <= 1e-6 * want.abs().max(1.0));
            if !close {
                outcome.mismatches.push(format!(
                    "{at}: {function} annotation {key}: promtool {want}, the model {model:?}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_notation_expands() {
        assert_eq!(
            expand("0+50x2 300+0x1 _ 7").unwrap(),
            vec![
                Some(0.0),
                Some(50.0),
                Some(100.0),
                Some(300.0),
                Some(300.0),
                None,
                Some(7.0)
            ]
        );
        assert_eq!(
            expand("_x2 1.5-0.5x1").unwrap(),
            vec![None, None, Some(1.5), Some(1.0)]
        );
        assert_eq!(expand("0x2").unwrap(), vec![Some(0.0); 3]);
        assert_eq!(expand("a+1x2"), None);
        assert_eq!(duration("2m15s"), Some(135));
        assert_eq!(duration("1h"), Some(3600));
        assert_eq!(duration("5"), None);
        let (name, labels) = selector(r#"m{function_name="a.b",code="200"}"#).unwrap();
        assert_eq!((name.as_str(), labels["code"].as_str()), ("m", "200"));
    }
}
