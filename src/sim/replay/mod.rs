//! Replays a rule pack's promtool test file (`alert-rules/*.test.yml`) through the simulator's rule model:
//! the input series become [`Scraped`](super::monitor::Scraped) series ([`series`]), every simulated
//! alerting rule is evaluated at each evaluation step with [`step_alert`], and at each `alert_rule_test` the
//! set of firing functions (and their `value`, `desired`, `replicas` annotations) is compared with what
//! promtool expects. This is how the simulator shows that the rules it simulates are the shipped ones. The
//! YAML is read by the caller (tests/it/simulate/rules.rs) into [`promtool`]'s types.

mod promtool;
mod series;

use std::collections::{BTreeMap, BTreeSet};

use promtool::selector;
pub use promtool::{
    AlertTest, ExpAlert, ExpSample, ExprTest, InputSeries, TestFile, TestGroup, duration, expand,
};
use series::{Function, functions};

use super::capacity;
use super::monitor::{Active, step_alert};
use super::rules::Rule;

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
        replay_group(&mut outcome, g, group, rules, every);
    }
    outcome
}

/// Replay the `g`-th group, evaluating `rules` every `every` seconds up to its last expectation.
fn replay_group(outcome: &mut Outcome, g: usize, group: &TestGroup, rules: &[Rule], every: u64) {
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
            return;
        }
    };
    let checks = alert_checks(outcome, &label, group, rules);
    let exprs = expr_checks(outcome, &label, group);
    let last = checks
        .keys()
        .chain(exprs.keys())
        .max()
        .copied()
        .unwrap_or(0);
    let mut states: States = BTreeMap::new();
    let mut t = 0;
    while t <= last {
        evaluate(&mut states, rules, &inputs, t, every);
        for test in checks.get(&t).into_iter().flatten() {
            outcome.checked += 1;
            compare(outcome, &label, test, rules, &states);
        }
        for test in exprs.get(&t).into_iter().flatten() {
            outcome.checked_exprs += 1;
            compare_expr(outcome, &label, test, rules, &inputs, t, every);
        }
        t += every;
    }
    if let Some(missed) = checks.keys().find(|k| *k % every != 0) {
        outcome.mismatches.push(format!(
            "{label}: eval_time {missed}s is not on an evaluation step"
        ));
    }
}

/// The group's alert expectations by evaluation time; those of alerts `rules` do not model are skipped.
fn alert_checks<'g>(
    outcome: &mut Outcome,
    label: &str,
    group: &'g TestGroup,
    rules: &[Rule],
) -> BTreeMap<u64, Vec<&'g AlertTest>> {
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
    checks
}

/// The group's expression expectations by evaluation time; those of series the model does not compute are
/// skipped.
fn expr_checks<'g>(
    outcome: &mut Outcome,
    label: &str,
    group: &'g TestGroup,
) -> BTreeMap<u64, Vec<&'g ExprTest>> {
    let mut exprs: BTreeMap<u64, Vec<&ExprTest>> = BTreeMap::new();
    for test in &group.promql_expr_test {
        match (duration(&test.eval_time), recorded_series(&test.expr)) {
            (Some(t), Some(_)) => exprs.entry(t).or_default().push(test),
            _ => outcome
                .skipped_exprs
                .push(format!("{label}: {} at {}", test.expr, test.eval_time)),
        }
    }
    exprs
}

/// One evaluation at `t`: every rule on every function's inputs, stepping its alert state.
fn evaluate<'i>(
    states: &mut States<'i>,
    rules: &[Rule],
    inputs: &'i BTreeMap<String, Function>,
    t: u64,
    every: u64,
) {
    for (r, rule) in rules.iter().enumerate() {
        for (name, f) in inputs {
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
