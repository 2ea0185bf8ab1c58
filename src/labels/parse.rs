//! Reading a function's labels into [`ScaleLabels`]: the bounds checked against each other, the
//! global ceiling and the platform's limits, then each policy label within its range. Apart from the
//! types so that the rules a label is held to read in one place.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::capacity::scale_type;
use super::values::{at_most_a_day, boolean, decimal, duration_label, number, percent};
use super::{
    DOWN_STABILIZATION, FACTOR, LATENCY_DOWN_PERCENT, LATENCY_HOLD_SECS, LATENCY_TARGET_MS,
    LATENCY_TOLERANCE, LATENCY_UP_PERCENT, LabelError, MAX, MAX_UP_FACTOR, MIN, PolicyLabels,
    ScaleLabels, TARGET, TARGET_PROPORTION, ZERO, ZERO_DURATION,
};
use crate::config::{LabelDefaults, Platform};

/// The OpenFaaS gateway's `gateway_functions_seconds` histogram has no finite bucket above 10 s.
const LATENCY_TARGET_MAX_MS: f64 = 10_000.0;

/// Parse and validate the scaling labels, then fit them into the platform's limits: a max above
/// `max_replicas` is lowered to it (remembered in [`Limited`](crate::config::Limited) for the
/// reason), a min above it or a min of 0 where the platform cannot scale to zero is refused with
/// what to do.
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
