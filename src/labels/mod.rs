//! `com.openfaas.scale.*` labels: parsed and validated before any replica count is written.
//!
//! A bad value is a refusal naming the label and the value, never a guess.
//!
//! # Layout
//! This file holds the vocabulary: the label names, the validated types ([`ScaleLabels`],
//! [`PolicyLabels`], [`LabelError`]) and the entry points ([`parse()`], [`LabelRules`]). Beside it:
//! - `parse`: the rules a function's labels are held to, against the defaults, the ceiling and
//!   the platform's limits;
//! - `values`: the parsers of one value each (whole numbers, decimals, percents, booleans,
//!   durations), which word every refusal;
//! - `capacity`: the capacity policy's labels (`com.openfaas.scale.type`).

use std::collections::BTreeMap;
use std::fmt;

use chrono::TimeDelta;

use serde::Serialize;

mod capacity;
mod parse;
#[cfg(test)]
mod tests;
mod values;

pub(crate) use capacity::{ScaleType, has_capacity_labels};
pub(crate) use parse::{parse_policy, parse_within};
pub(crate) use values::parse_duration;

pub use crate::config::Limited;
use crate::config::{Config, LabelDefaults, Platform};

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
