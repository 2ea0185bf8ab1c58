//! The alert rules of the shipped packs, as the simulator evaluates them: each rule's expression, `for:`
//! and labels. `tests/it/simulate/rules.rs` checks them against the files in `alert-rules/` (names, `for:`, labels,
//! windows and thresholds) and replays the packs' promtool cases through [`Expr::eval`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::capacity::{self, CapacityTarget, Windows};
use super::monitor::{Metric, Observed, Scraped, histogram_quantile};

/// Per-function numbers the rules compare with (in production: series alertscaler exports from labels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// p95 objective in seconds (`alertscaler_function_latency_target_seconds`).
    pub latency_secs: f64,
    /// Per-function tolerance (`alertscaler_function_latency_tolerance_ratio`); `None`: the rule's.
    pub latency_tolerance: Option<f64>,
    /// Capacity per replica (`alertscaler_function_capacity_target`).
    pub capacity: CapacityTarget,
    /// Prometheus' evaluation interval (the capacity pack's panic mode looks back at past evaluations).
    pub evaluation_secs: u64,
}

/// The expression of a simulated alert rule, one per alerting rule of the shipped packs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expr {
    /// `sum(rate(gateway_function_invocation_total{code="200"}[window])) by (function_name) > threshold`.
    RateAbove { window: u64, threshold: f64 },
    /// p95 over `window` above the function's latency target while the function has requests in the last
    /// `traffic_window` (`FunctionLatencyHigh`: the guard on `rate(gateway_functions_seconds_count[30s]) > 0`
    /// that stops it firing on the stale 1m window after the load has ended).
    P95Above { window: u64, traffic_window: u64 },
    /// p95 over `window` below target × (1 − tolerance) while the function has traffic (`FunctionLatencyLow`).
    P95Below { window: u64, tolerance: f64 },
    /// The capacity pack's desired replicas above the gateway's replicas (`FunctionUnderProvisioned`).
    DesiredAbove {
        stable_window: u64,
        panic_window: u64,
        /// Panic mode lasts this long after the last panic condition.
        panic_hold: u64,
    },
    /// …below them, desired raised to 1 (`FunctionOverProvisioned`: `clamp_min(desired, 1) < replicas`), for
    /// a function whose arrivals had a stable-window rate one stable window ago (`and … offset 1m`: a young
    /// series' rate under-reads).
    DesiredBelow {
        stable_window: u64,
        panic_window: u64,
        /// Panic mode lasts this long after the last panic condition.
        panic_hold: u64,
    },
    /// `FunctionIdle`: no invocation in `window` (`increase(gateway_function_invocation_total[15m]) == 0`),
    /// for a function whose series existed `window` ago (`… offset 15m`, `lookback` = Prometheus' 5m), and
    /// none in flight (started, not answered).
    Idle { window: u64, lookback: u64 },
}

impl Expr {
    /// The longest window this expression reads.
    pub fn window(&self) -> u64 {
        match *self {
            Self::RateAbove { window, .. } | Self::P95Below { window, .. } => window,
            Self::P95Above {
                window,
                traffic_window,
            } => window.max(traffic_window),
            Self::DesiredAbove {
                stable_window,
                panic_window,
                panic_hold,
            }
            | Self::DesiredBelow {
                stable_window,
                panic_window,
                panic_hold,
            } => stable_window.max(panic_window + panic_hold),
            Self::Idle { window, lookback } => 2 * window + lookback,
        }
    }

    /// Whether the expression needs the latency histogram buckets.
    pub fn needs_histogram(&self) -> bool {
        matches!(self, Self::P95Above { .. } | Self::P95Below { .. })
    }

    /// Evaluate for one function at `now`: `Some` (with the annotations' numbers) when the condition holds.
    pub fn eval(&self, series: &impl Scraped, now: u64, targets: &Targets) -> Option<Observed> {
        match *self {
            Self::RateAbove { window, threshold } => series
                .rate(now, window, Metric::Ok)
                .filter(|v| *v > threshold)
                .map(|v| Observed::new(v, threshold)),
            Self::P95Above {
                window,
                traffic_window,
            } => {
                let p95 = p95(series, now, window)?;
                let current = series.rate(now, traffic_window, Metric::Count)?;
                (p95 > targets.latency_secs && current > 0.0)
                    .then_some(Observed::new(p95, targets.latency_secs))
            }
            Self::P95Below { window, tolerance } => {
                let p95 = p95(series, now, window)?;
                let tolerance = targets.latency_tolerance.unwrap_or(tolerance);
                (p95 < targets.latency_secs * (1.0 - tolerance))
                    .then_some(Observed::new(p95, targets.latency_secs))
            }
            Self::DesiredAbove {
                stable_window,
                panic_window,
                panic_hold,
            } => {
                let w = windows(stable_window, panic_window, panic_hold, targets);
                let d = capacity::desired(series, now, targets.capacity, w)?;
                let replicas = d.replicas?;
                (d.desired > replicas).then_some(d.observed(targets.capacity, d.desired))
            }
            Self::DesiredBelow {
                stable_window,
                panic_window,
                panic_hold,
            } => {
                let w = windows(stable_window, panic_window, panic_hold, targets);
                desired_below(series, now, targets, w)
            }
            Self::Idle { window, lookback } => idle(series, now, window, lookback),
        }
    }
}

/// `FunctionOverProvisioned`'s condition: fewer replicas needed than run, over a full stable window.
fn desired_below(
    series: &impl Scraped,
    now: u64,
    targets: &Targets,
    w: Windows,
) -> Option<Observed> {
    let stable_window = w.stable;
    let d = capacity::desired(series, now, targets.capacity, w)?;
    let desired = d.desired.max(1);
    // `alertscaler:function_arrivals:1m offset 1m` had a value other than an unseen function's
    // 0 (a young series' 1m rate under-reads), or the function is unseen now.
    let unseen = |t| series.unseen(t, capacity::UNSEEN_SECS, Metric::Started);
    let full_window = now.checked_sub(stable_window).is_some_and(|then| {
        capacity::arrivals(series, then, stable_window).is_some() && !unseen(then)
    }) || unseen(now);
    (desired < d.replicas? && full_window).then_some(d.observed(targets.capacity, desired))
}

/// `FunctionIdle`'s condition: no request over `window` (counted or forgotten), none in flight.
fn idle(series: &impl Scraped, now: u64, window: u64, lookback: u64) -> Option<Observed> {
    let then = now.checked_sub(window);
    // Counted: the counters existed a window ago and did not move since, and no series
    // younger than the window counts a request.
    let counted = series
        .rate(now, window, Metric::Invocations)
        .is_some_and(|r| r * window as f64 == 0.0)
        && series.young(now, window, lookback) == 0.0
        && then.is_some_and(|then| series.sampled(then, lookback));
    // Forgotten: the gateway (up throughout) reported the function since a window ago but
    // has no counter for it (a gateway restart, or never invoked).
    let forgotten = series.unseen(now, window, Metric::Invocations)
        && then.is_some_and(|then| series.replicas(then).is_some());
    // Never with a request in flight: one longer than the window answers nothing in it.
    let running = series
        .in_flight(now, Metric::Invocations)
        .is_some_and(|n| n > 0.0);
    ((counted || forgotten) && !running).then_some(Observed {
        window_secs: Some(window),
        ..Observed::new(0.0, 0.0)
    })
}

/// The capacity pack's windows, evaluated at the simulated Prometheus' interval.
fn windows(stable: u64, panic: u64, hold: u64, targets: &Targets) -> Windows {
    Windows {
        stable,
        panic,
        hold,
        every: targets.evaluation_secs,
    }
}

/// The latency pack's `p95_1m` recording rule: only defined where the request rate is > 0.
pub fn p95(series: &impl Scraped, now: u64, window: u64) -> Option<f64> {
    let traffic = series.rate(now, window, Metric::Count)?;
    if traffic <= 0.0 {
        return None;
    }
    let q = histogram_quantile(0.95, &series.bucket_rates(now, window)?);
    (!q.is_nan()).then_some(q)
}

/// The alerting rules of the shipped packs the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// CE's `APIHighInvocationRate` (rate over 10 s > 5, for 5 s), `alert-rules/openfaas-ce.rules.yml`.
    CeRate,
    /// `FunctionLatencyHigh` (`alert-rules/latency.rules.yml`).
    LatencyHigh,
    /// `FunctionLatencyLow` (`alert-rules/latency.rules.yml`).
    LatencyLow,
    /// `FunctionUnderProvisioned` (`alert-rules/capacity.rules.yml`).
    CapacityUnder,
    /// `FunctionOverProvisioned` (`alert-rules/capacity.rules.yml`).
    CapacityOver,
    /// `FunctionIdle` (`alert-rules/latency.rules.yml`, group `alertscaler-idle`; the zero policy).
    Idle,
}

/// A simulated alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alertname: &'static str,
    pub expr: Expr,
    pub for_secs: u64,
    /// `keep_firing_for`: how long a firing alert keeps firing after its condition stopped holding.
    pub keep_firing_secs: u64,
    /// Labels the rule adds to every alert.
    pub labels: BTreeMap<String, String>,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl RuleKind {
    /// The rule exactly as the pack in `alert-rules/` defines it.
    pub fn rule(self) -> Rule {
        let scaling = |direction: &str, policy: &str| {
            labels(&[
                ("scale_direction", direction),
                ("scale_policy", policy),
                ("service", "gateway"),
                ("severity", "major"),
            ])
        };
        let (alertname, expr, for_secs, labels) = match self {
            Self::CeRate => (
                "APIHighInvocationRate",
                Expr::RateAbove {
                    window: 10,
                    threshold: 5.0,
                },
                5,
                labels(&[("service", "gateway"), ("severity", "major")]),
            ),
            Self::LatencyHigh => (
                "FunctionLatencyHigh",
                Expr::P95Above {
                    window: 60,
                    traffic_window: 30,
                },
                30,
                scaling("up", "latency"),
            ),
            Self::LatencyLow => (
                "FunctionLatencyLow",
                Expr::P95Below {
                    window: 60,
                    tolerance: 0.2,
                },
                120,
                scaling("down", "latency"),
            ),
            Self::CapacityUnder => (
                "FunctionUnderProvisioned",
                Expr::DesiredAbove {
                    stable_window: 60,
                    panic_window: 15,
                    panic_hold: 60,
                },
                0,
                scaling("up", "capacity"),
            ),
            Self::CapacityOver => (
                "FunctionOverProvisioned",
                Expr::DesiredBelow {
                    stable_window: 60,
                    panic_window: 15,
                    panic_hold: 60,
                },
                30,
                scaling("down", "capacity"),
            ),
            Self::Idle => (
                "FunctionIdle",
                Expr::Idle {
                    window: 900,
                    lookback: 300,
                },
                60,
                scaling("down", "zero"),
            ),
        };
        // Only FunctionOverProvisioned keeps firing after its condition stops (so follow-ups continue).
        let keep_firing_secs = if self == Self::CapacityOver { 30 } else { 0 };
        Rule {
            alertname,
            expr,
            for_secs,
            keep_firing_secs,
            labels,
        }
    }
}

/// A scenario's changes to one rule of a preset (`[presets.<name>.rules.<alertname>]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    pub for_secs: Option<u64>,
    /// The rule's (main) range window.
    pub window_secs: Option<u64>,
    /// `APIHighInvocationRate`'s req/s threshold, or the latency pack's tolerance.
    pub threshold: Option<f64>,
    /// Labels added to (or replacing) the rule's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl RuleParams {
    /// What is wrong with these parameters for `rule`, if anything: Prometheus refuses a zero range
    /// window, and a threshold that is not a finite number (TOML's `nan`, `inf`) would never compare true.
    pub fn problem(&self, rule: &Rule) -> Option<String> {
        if self.window_secs == Some(0) {
            return Some("window_secs must be ≥ 1".into());
        }
        let threshold = self.threshold?;
        match rule.expr {
            Expr::RateAbove { .. } if !(threshold.is_finite() && threshold >= 0.0) => {
                Some(format!(
                    "threshold = {threshold} must be a finite number of requests per second ≥ 0"
                ))
            }
            Expr::P95Below { .. } if !(0.0..1.0).contains(&threshold) => Some(format!(
                "threshold = {threshold} (the latency tolerance) must be ≥ 0 and below 1"
            )),
            Expr::RateAbove { .. } | Expr::P95Below { .. } => None,
            _ => Some("this rule has no threshold".into()),
        }
    }
}

impl Rule {
    /// Apply a scenario's parameters.
    pub fn with(mut self, p: &RuleParams) -> Self {
        if let Some(f) = p.for_secs {
            self.for_secs = f;
        }
        match &mut self.expr {
            Expr::RateAbove { window, threshold } => {
                *window = p.window_secs.unwrap_or(*window);
                *threshold = p.threshold.unwrap_or(*threshold);
            }
            Expr::P95Above { window, .. } => *window = p.window_secs.unwrap_or(*window),
            Expr::P95Below { window, tolerance } => {
                *window = p.window_secs.unwrap_or(*window);
                *tolerance = p.threshold.unwrap_or(*tolerance);
            }
            Expr::DesiredAbove { stable_window, .. } | Expr::DesiredBelow { stable_window, .. } => {
                *stable_window = p.window_secs.unwrap_or(*stable_window);
            }
            Expr::Idle { window, .. } => *window = p.window_secs.unwrap_or(*window),
        }
        self.labels.extend(p.labels.clone());
        self
    }
}
