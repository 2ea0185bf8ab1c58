//! `[policy]` configuration: the default policy, the scale-down mode and the policies' defaults.
//!
//! Per-function labels (see [`crate::labels::PolicyLabels`]) override the defaults that have a label.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// A scaling policy an alert can select with its `scale_policy` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// OpenFaaS CE: a fixed step of `max × factor %` per notification.
    Step,
    /// Replicas = ceil(load / (target × proportion)).
    Proportional,
    /// Up or down by a percentage of current replicas.
    Latency,
    /// To zero on an idle alert, for functions that allow it.
    Zero,
    /// Straight to the replica count the capacity rule pack computes from load per replica.
    Capacity,
}

impl PolicyKind {
    /// The label value that selects this policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Proportional => "proportional",
            Self::Latency => "latency",
            Self::Zero => "zero",
            Self::Capacity => "capacity",
        }
    }

    /// The policy an alert's `scale_policy` label names; the error says which policies exist.
    pub fn parse(label: &str) -> Result<Self, String> {
        match label.trim() {
            "step" => Ok(Self::Step),
            "proportional" => Ok(Self::Proportional),
            "latency" => Ok(Self::Latency),
            "zero" => Ok(Self::Zero),
            "capacity" => Ok(Self::Capacity),
            other => Err(format!(
                "scale_policy={other:?} is not a policy this alertscaler knows \
                 (known: step, proportional, latency, zero, capacity)"
            )),
        }
    }
}

/// How scale-downs happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleDown {
    /// OpenFaaS CE: straight to the computed count (min when an up alert resolves).
    Ce,
    /// Never below the highest count wanted within the stabilization window.
    Stabilized,
}

/// `[policy]` section of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Policy of alerts without a `scale_policy` label.
    pub default: PolicyKind,
    /// `stabilized` (default) or `ce`.
    pub scale_down: ScaleDown,
    /// Scale-down stabilization window; label `com.openfaas.scale.down-stabilization` overrides.
    pub scale_down_stabilization_secs: u64,
    /// How often held-back scale-downs are re-checked (the settle loop); 0 disables the loop.
    pub settle_interval_secs: u64,
    /// While a capacity alert fires, its function's desired count is re-read from Prometheus and
    /// re-decided this often (AlertManager repeats only every repeat_interval); 0 disables.
    pub follow_up_interval_secs: u64,
    /// Proportional: no change while load is within ±tolerance of current capacity.
    pub tolerance: f64,
    /// Proportional: one scale-up at most multiplies replicas by this (label `max-up-factor`)…
    pub max_scale_up_factor: f64,
    /// …or adds this many, whichever allows more (as the HPA's default: ×2 or +4).
    pub max_scale_up_step: u32,
    /// Latency: no opposite move within this many seconds (label `latency-hold-secs`).
    pub latency_hold_secs: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            default: PolicyKind::Step,
            scale_down: ScaleDown::Stabilized,
            scale_down_stabilization_secs: 300,
            settle_interval_secs: 15,
            follow_up_interval_secs: 5,
            tolerance: 0.1,
            max_scale_up_factor: 2.0,
            max_scale_up_step: 4,
            latency_hold_secs: 300,
        }
    }
}

impl PolicyConfig {
    /// Check ranges; the error names the key under `[policy]` and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..1.0).contains(&self.tolerance) {
            return Err(("policy.tolerance", "must be in [0, 1)".into()));
        }
        if !self.max_scale_up_factor.is_finite() || self.max_scale_up_factor < 1.0 {
            return Err(("policy.max_scale_up_factor", "must be ≥ 1".into()));
        }
        let day = 86_400;
        for (key, v) in [
            (
                "policy.scale_down_stabilization_secs",
                self.scale_down_stabilization_secs,
            ),
            ("policy.latency_hold_secs", self.latency_hold_secs),
            ("policy.settle_interval_secs", self.settle_interval_secs),
            (
                "policy.follow_up_interval_secs",
                self.follow_up_interval_secs,
            ),
        ] {
            if v > day {
                return Err((key, format!("{v} is more than a day ({day})")));
            }
        }
        Ok(())
    }

    /// The configured stabilization window (zero in `ce` mode).
    pub fn stabilization(&self) -> TimeDelta {
        match self.scale_down {
            ScaleDown::Ce => TimeDelta::zero(),
            ScaleDown::Stabilized => secs(self.scale_down_stabilization_secs),
        }
    }

    /// The configured latency hold.
    pub fn latency_hold(&self) -> TimeDelta {
        secs(self.latency_hold_secs)
    }
}

fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        use PolicyKind::*;
        let cases: [(&str, Option<PolicyKind>); 7] = [
            ("step", Some(Step)),
            ("proportional", Some(Proportional)),
            (" latency ", Some(Latency)),
            ("zero", Some(Zero)),
            ("capacity", Some(Capacity)),
            ("Step", None),
            ("", None),
        ];
        for (label, want) in cases {
            assert_eq!(PolicyKind::parse(label).ok(), want, "{label:?}");
        }
        let err = PolicyKind::parse("magic").unwrap_err();
        assert!(err.contains("\"magic\"") && err.contains("known"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let bad = [
            PolicyConfig {
                tolerance: 1.0,
                ..Default::default()
            },
            PolicyConfig {
                max_scale_up_factor: 0.5,
                ..Default::default()
            },
            PolicyConfig {
                latency_hold_secs: 100_000,
                ..Default::default()
            },
        ];
        let keys: Vec<_> = bad.iter().map(|c| c.validate().unwrap_err().0).collect();
        assert_eq!(
            keys,
            [
                "policy.tolerance",
                "policy.max_scale_up_factor",
                "policy.latency_hold_secs"
            ]
        );
        PolicyConfig::default().validate().unwrap();
        let ce = PolicyConfig {
            scale_down: ScaleDown::Ce,
            ..Default::default()
        };
        assert_eq!(ce.stabilization(), TimeDelta::zero());
        assert_eq!(
            PolicyConfig::default().stabilization(),
            TimeDelta::minutes(5)
        );
    }
}
