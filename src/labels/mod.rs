//! `com.openfaas.scale.*` labels: parsed and validated before any replica count is written.
//!
//! A bad value is a refusal naming the label and the value, never a guess.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::LabelDefaults;

use chrono::TimeDelta;

use serde::Serialize;

#[path = "labels_capacity.rs"]
mod capacity;
#[cfg(test)]
use capacity::SCALE_TYPE;
use capacity::scale_type;
pub(crate) use capacity::{ScaleType, has_capacity_labels};

pub use crate::config::Limited;
use crate::config::{Config, Platform};

pub const MIN: &str = "com.openfaas.scale.min";
pub const MAX: &str = "com.openfaas.scale.max";
pub const FACTOR: &str = "com.openfaas.scale.factor";
pub const ZERO: &str = "com.openfaas.scale.zero";
/// Load per replica the proportional policy aims for.
pub(crate) const TARGET: &str = "com.openfaas.scale.target";
/// Fraction of `target` used as the effective target (headroom), default 0.9.
pub(crate) const TARGET_PROPORTION: &str = "com.openfaas.scale.target-proportion";
/// Largest multiplication of replicas in one proportional scale-up (outside panic).
pub(crate) const MAX_UP_FACTOR: &str = "com.openfaas.scale.max-up-factor";
/// Latency policy: percent of current replicas added when latency is high (default 50).
pub(crate) const LATENCY_UP_PERCENT: &str = "com.openfaas.scale.latency-up-percent";
/// Latency policy: percent of current replicas removed when latency is low (default 25).
pub(crate) const LATENCY_DOWN_PERCENT: &str = "com.openfaas.scale.latency-down-percent";
/// Latency policy: seconds during which no opposite move follows a move.
pub(crate) const LATENCY_HOLD_SECS: &str = "com.openfaas.scale.latency-hold-secs";
/// Scale-down stabilization window (seconds or a duration such as `5m`).
pub(crate) const DOWN_STABILIZATION: &str = "com.openfaas.scale.down-stabilization";
/// Idle time before scale to zero, used by the rule pack (default `15m`).
pub(crate) const ZERO_DURATION: &str = "com.openfaas.scale.zero-duration";
/// Latency target of the function in milliseconds, exported for the latency rule pack.
pub(crate) const LATENCY_TARGET_MS: &str = "com.openfaas.scale.latency-target-ms";
/// The OpenFaaS gateway's `gateway_functions_seconds` histogram has no finite bucket above 10 s.
const LATENCY_TARGET_MAX_MS: f64 = 10_000.0;
/// Latency tolerance ratio in [0, 1), exported for the latency rule pack.
pub(crate) const LATENCY_TOLERANCE: &str = "com.openfaas.scale.latency-tolerance";

/// A function's validated scaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScaleLabels {
    pub min: u32,
    pub max: u32,
    /// Percent of `max` added per scale-up step, 0..=100; 0 disables scaling up.
    pub factor: u32,
    /// Whether the function may be scaled to zero replicas.
    pub zero: bool,
    /// Settings of the proportional, latency and zero policies and of stabilization.
    pub policy: PolicyLabels,
    /// Where the platform's limits changed what the labels asked.
    pub limit: Limited,
}

/// Per-function policy settings; `None` means "use the configured default".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PolicyLabels {
    /// Load per replica (proportional policy); required by that policy.
    pub target: Option<f64>,
    /// Effective target = target × proportion; in (0, 1].
    pub target_proportion: f64,
    /// Largest growth factor of one proportional scale-up; ≥ 1.
    pub max_up_factor: Option<f64>,
    pub latency_up_percent: u32,
    pub latency_down_percent: u32,
    #[serde(skip)]
    pub latency_hold: Option<TimeDelta>,
    #[serde(skip)]
    pub down_stabilization: Option<TimeDelta>,
    #[serde(skip)]
    pub zero_duration: TimeDelta,
    /// Per-function latency target (seconds) for the rule pack; `None` → the pack's default.
    pub latency_target_secs: Option<f64>,
    /// Per-function latency tolerance ratio for the rule pack; `None` → the pack's default.
    pub latency_tolerance: Option<f64>,
    /// Capacity policy and pack: what a replica's load is measured in.
    pub scale_type: ScaleType,
}

impl Default for PolicyLabels {
    fn default() -> Self {
        Self {
            target: None,
            target_proportion: 0.9,
            max_up_factor: None,
            latency_up_percent: 50,
            latency_down_percent: 25,
            latency_hold: None,
            down_stabilization: None,
            zero_duration: TimeDelta::minutes(15),
            latency_target_secs: None,
            latency_tolerance: None,
            scale_type: ScaleType::Capacity,
        }
    }
}

impl ScaleLabels {
    /// min == max: the user pinned the replica count.
    pub(crate) fn autoscaling_disabled(&self) -> bool {
        self.min == self.max
    }

    /// The max the step policy's step is computed from.
    pub(crate) fn step_max(&self) -> u32 {
        self.limit.step_max.unwrap_or(self.max)
    }

    /// Keep a replica count inside [min, max].
    pub fn clamp(&self, replicas: u32) -> u32 {
        replicas.clamp(self.min, self.max)
    }

    /// A target fitted into these labels: 0 where the function may sleep (`zero`), else inside
    /// [min, max]. For a target decided earlier, on labels that may have changed since.
    pub(crate) fn fit(&self, target: u32) -> u32 {
        if target == 0 && self.zero {
            0
        } else {
            self.clamp(target)
        }
    }

    /// As [`Self::clamp`], never below 1: for policies that size a function that is serving (latency,
    /// capacity), where a min of 0 (accepted for CE's step: resolved → 0) must not put it to sleep; that
    /// stays with the `zero` policy. Never above max either: a max of 0 keeps the function off.
    pub fn clamp_awake(&self, replicas: u32) -> u32 {
        self.clamp(replicas).max(1).min(self.max)
    }
}

/// Why a function's labels were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub label: &'static str,
    pub value: String,
    pub problem: String,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = crate::skipped::shorten(&self.value, crate::skipped::MAX_VALUE_CHARS);
        write!(f, "label {}={value:?}: {}", self.label, self.problem)
    }
}

impl std::error::Error for LabelError {}

/// Parse and validate the scaling labels of a function against the defaults and the global ceiling,
/// on a platform without limits ([`Platform::default`]).
pub fn parse(
    labels: &BTreeMap<String, String>,
    defaults: &LabelDefaults,
    ceiling: u32,
) -> Result<ScaleLabels, LabelError> {
    parse_within(labels, defaults, ceiling, &Platform::default())
}

/// What a function's scaling labels are read against: the defaults for absent labels, the global
/// ceiling on max and the platform's limits. One value, so the decision path and a backend that
/// re-fits a count into labels changed since (the OpenFaaS intent) read them the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRules {
    pub defaults: LabelDefaults,
    pub ceiling: u32,
    pub platform: Platform,
}

impl LabelRules {
    pub fn from_config(config: &Config) -> Self {
        Self {
            defaults: config.labels,
            ceiling: config.max_replicas_ceiling,
            platform: config.platform.clone(),
        }
    }

    /// [`parse_within`] with these rules.
    pub fn parse(&self, labels: &BTreeMap<String, String>) -> Result<ScaleLabels, LabelError> {
        parse_within(labels, &self.defaults, self.ceiling, &self.platform)
    }
}

/// Parse and validate the scaling labels, then fit them into the platform's limits: a max above
/// `max_replicas` is lowered to it (remembered in [`Limited`] for the reason), a min above it or a
/// min of 0 where the platform cannot scale to zero is refused with what to do.
pub(crate) fn parse_within(
    labels: &BTreeMap<String, String>,
    defaults: &LabelDefaults,
    ceiling: u32,
    platform: &Platform,
) -> Result<ScaleLabels, LabelError> {
    let min = number(labels, MIN, defaults.min)?;
    let max = number(labels, MAX, defaults.max)?;
    let factor = number(labels, FACTOR, defaults.factor)?;
    let zero = boolean(labels, ZERO)?;
    let err = |label: &'static str, value: u32, problem: String| LabelError {
        label,
        value: labels
            .get(label)
            .cloned()
            .unwrap_or_else(|| format!("{value} (default)")),
        problem,
    };
    if min == 0 && !platform.scale_to_zero {
        return Err(err(
            MIN,
            min,
            format!(
                "{}: set {MIN} to 1 or more, or set scale_to_zero = true if your provider scales to zero",
                platform.no_zero()
            ),
        ));
    }
    if max < min {
        return Err(err(MAX, max, format!("is below {MIN}={min}")));
    }
    if max > ceiling {
        return Err(err(
            MAX,
            max,
            format!("is above the configured replica ceiling {ceiling}"),
        ));
    }
    if factor > 100 {
        return Err(err(FACTOR, factor, "must be between 0 and 100".into()));
    }
    let (effective, limit) = platform.fit(min, max, zero).map_err(|cap| {
        let problem = format!("{}: set {MIN} to {cap} or less", platform.at_most(cap));
        err(MIN, min, problem)
    })?;
    Ok(ScaleLabels {
        min,
        max: effective,
        factor,
        zero: zero && platform.scale_to_zero,
        policy: parse_policy(labels)?,
        limit,
    })
}

/// Parse the policy labels; each must be well-formed and within its range.
pub(crate) fn parse_policy(labels: &BTreeMap<String, String>) -> Result<PolicyLabels, LabelError> {
    let d = PolicyLabels::default();
    let positive = |x: f64| x > 0.0;
    Ok(PolicyLabels {
        target: decimal(labels, TARGET, positive, "must be a number > 0")?,
        target_proportion: decimal(
            labels,
            TARGET_PROPORTION,
            |x| x > 0.0 && x <= 1.0,
            "must be a number in (0, 1]",
        )?
        .unwrap_or(d.target_proportion),
        max_up_factor: decimal(labels, MAX_UP_FACTOR, |x| x >= 1.0, "must be a number ≥ 1")?,
        latency_up_percent: percent(labels, LATENCY_UP_PERCENT, 1000, d.latency_up_percent)?,
        latency_down_percent: percent(labels, LATENCY_DOWN_PERCENT, 100, d.latency_down_percent)?,
        latency_hold: match labels.get(LATENCY_HOLD_SECS) {
            None => None,
            Some(_) => Some(at_most_a_day(
                labels,
                LATENCY_HOLD_SECS,
                TimeDelta::seconds(i64::from(number(labels, LATENCY_HOLD_SECS, 0)?)),
            )?),
        },
        down_stabilization: duration_label(labels, DOWN_STABILIZATION, true)?
            .map(|d| at_most_a_day(labels, DOWN_STABILIZATION, d))
            .transpose()?,
        zero_duration: duration_label(labels, ZERO_DURATION, false)?.unwrap_or(d.zero_duration),
        latency_target_secs: decimal(
            labels,
            LATENCY_TARGET_MS,
            |ms| ms > 0.0 && ms < LATENCY_TARGET_MAX_MS,
            "must be a number of milliseconds in (0, 10000): the gateway's latency histogram ends at 10 s, \
             where every slower request reads as 10 s, so a longer target could never be exceeded and \
             a slow function would read as fast",
        )?
        .map(|ms| ms / 1000.0),
        latency_tolerance: decimal(
            labels,
            LATENCY_TOLERANCE,
            |x| (0.0..1.0).contains(&x),
            "must be a number in [0, 1)",
        )?,
        scale_type: scale_type(labels)?,
    })
}

/// The longest duration [`parse_duration`] accepts: a million weeks (the largest single part it
/// takes), so that adding any real time span to one cannot overflow.
const MAX_DURATION_MS: i64 = 1_000_000 * 604_800_000;

/// Parse a duration: bare seconds (`300`) or Prometheus style (`15m`, `1h30m`, `90s`, `1d`), at
/// most a million of a unit per part and [`MAX_DURATION_MS`] in all.
pub(crate) fn parse_duration(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u32>() {
        return Some(TimeDelta::seconds(i64::from(secs)));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    let mut parts = 0;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok().filter(|n| *n <= 1_000_000)?;
        digits.clear();
        let unit_ms = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 604_800_000,
            _ => return None,
        };
        total = total
            .checked_add(n.checked_mul(unit_ms)?)
            .filter(|t| *t <= MAX_DURATION_MS)?;
        parts += 1;
    }
    (digits.is_empty() && parts > 0).then(|| TimeDelta::milliseconds(total))
}

/// A per-function hold or window is bounded as its `[policy]` setting is: a day at most. Longer is a
/// typo (`1000w`) that would keep a function from ever scaling down, not a setting.
fn at_most_a_day(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    d: TimeDelta,
) -> Result<TimeDelta, LabelError> {
    if d <= TimeDelta::days(1) {
        return Ok(d);
    }
    Err(LabelError {
        label,
        value: labels.get(label).cloned().unwrap_or_default(),
        problem: "is more than a day (86400 s), the most the [policy] setting allows".into(),
    })
}

fn duration_label(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    seconds_ok: bool,
) -> Result<Option<TimeDelta>, LabelError> {
    let Some(value) = labels.get(label) else {
        return Ok(None);
    };
    let bare = value.trim().parse::<u64>().is_ok();
    match parse_duration(value) {
        Some(d) if seconds_ok => Ok(Some(d)),
        // A Prometheus duration (it goes into a PromQL range): a unit is required, zero is useless.
        Some(d) if !bare && d > TimeDelta::zero() => Ok(Some(d)),
        _ => Err(LabelError {
            label,
            value: value.clone(),
            problem: if seconds_ok {
                "must be seconds or a duration such as 90s, 5m or 1h30m".into()
            } else {
                "must be a Prometheus duration above zero, such as 15m or 1h30m".into()
            },
        }),
    }
}

fn decimal(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    valid: impl Fn(f64) -> bool,
    problem: &str,
) -> Result<Option<f64>, LabelError> {
    let Some(value) = labels.get(label) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && valid(x) => Ok(Some(x)),
        _ => Err(LabelError {
            label,
            value: value.clone(),
            problem: problem.into(),
        }),
    }
}

fn percent(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    max: u32,
    default: u32,
) -> Result<u32, LabelError> {
    let p = number(labels, label, default)?;
    if p == 0 || p > max {
        return Err(LabelError {
            label,
            value: labels.get(label).cloned().unwrap_or_default(),
            problem: format!("must be a whole percent between 1 and {max}"),
        });
    }
    Ok(p)
}

fn number(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    default: u32,
) -> Result<u32, LabelError> {
    match labels.get(label) {
        None => Ok(default),
        // Plain digits only (surrounding spaces aside): `+7`, `0x7` or `7.0` would be read
        // differently by other tools.
        Some(value) => {
            let problem = match plain_digits(value.trim()) {
                None => "must be a whole number ≥ 0 written in plain digits".to_owned(),
                Some(digits) => match digits.parse::<u32>() {
                    Ok(n) => return Ok(n),
                    Err(_) => format!("is too large (at most {})", u32::MAX),
                },
            };
            Err(LabelError {
                label,
                value: value.clone(),
                problem,
            })
        }
    }
}

fn plain_digits(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

fn boolean(labels: &BTreeMap<String, String>, label: &'static str) -> Result<bool, LabelError> {
    match labels.get(label).map(|v| v.trim()) {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(LabelError {
            label,
            value: other.to_owned(),
            problem: "must be \"true\" or \"false\"".into(),
        }),
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
