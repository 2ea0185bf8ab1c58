//! `[platform]`: the replica limits of the platform that runs the functions, whatever their labels
//! ask. An OpenFaaS CE gateway sets at most 5 replicas and never 0 (it clamps silently and answers
//! 200); a Kubernetes Deployment has no such limit. Labels are fitted into these limits when they
//! are parsed ([`crate::labels::parse_within`]), so every policy plans within them, and a capped or
//! refused move says why ([`crate::policy::platform::explain`]).
//!
//! A leaf: it imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// What the step policy computes its step from when the platform lowers a function's max.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepBase {
    /// `ceil(label max × factor / 100)`: OpenFaaS CE before its 5-replica cap (and the workshop).
    #[default]
    LabelMax,
    /// `ceil(min(label max, max_replicas) × factor / 100)`: OpenFaaS CE 0.27's alert handler.
    CappedMax,
}

/// Where the platform's limits changed what a function's labels asked ([`crate::labels::ScaleLabels`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Limited {
    /// The label's max, when the platform's `max_replicas` lowered it to `max`.
    pub label_max: Option<u32>,
    /// The max the step policy computes its step from, when not `max` (see [`StepBase`]).
    pub step_max: Option<u32>,
    /// `com.openfaas.scale.zero=true` is set, but the platform does not scale to zero.
    pub zero_blocked: bool,
}

/// `[platform]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Platform {
    /// Named in reasons: "OpenFaaS CE allows at most 5 replicas".
    pub name: String,
    /// The most replicas the platform sets (OpenFaaS CE: 5); unset = no limit but the ceiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// Whether the platform can be asked for 0 replicas (a CE gateway sets 1 instead).
    pub scale_to_zero: bool,
    /// The step policy's base when `max_replicas` lowers a function's max.
    pub step_base: StepBase,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            name: "the platform".into(),
            max_replicas: None,
            scale_to_zero: true,
            step_base: StepBase::LabelMax,
        }
    }
}

impl Platform {
    /// OpenFaaS CE 0.27 behind its gateway: at most 5 replicas, never 0, CE 0.27's step.
    pub fn openfaas_ce() -> Self {
        Self {
            name: "OpenFaaS CE".into(),
            max_replicas: Some(5),
            scale_to_zero: false,
            step_base: StepBase::CappedMax,
        }
    }

    /// Check the section against the global ceiling and the label defaults' min; the error names
    /// the key.
    pub fn validate(&self, ceiling: u32, default_min: u32) -> Result<(), (&'static str, String)> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err((
                "platform.name",
                "must be 1 to 64 printable characters".into(),
            ));
        }
        match self.max_replicas {
            Some(0) => Err((
                "platform.max_replicas",
                "must be at least 1 (leave it unset for no limit)".into(),
            )),
            Some(max) if max < default_min => Err((
                "platform.max_replicas",
                format!(
                    "{max} is below labels.min ({default_min}): every function would be refused"
                ),
            )),
            Some(max) if max > ceiling => Err((
                "platform.max_replicas",
                format!(
                    "{max} is above max_replicas_ceiling ({ceiling}), which already caps every function"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Fit valid label bounds into the limits: the effective max and what was changed, or the
    /// platform's max when even `min` is above it.
    pub fn fit(&self, min: u32, max: u32, zero: bool) -> Result<(u32, Limited), u32> {
        let mut limit = Limited {
            zero_blocked: zero && !self.scale_to_zero,
            ..Limited::default()
        };
        let Some(cap) = self.max_replicas.filter(|cap| max > *cap) else {
            return Ok((max, limit));
        };
        if min > cap {
            return Err(cap);
        }
        limit.label_max = Some(max);
        limit.step_max = (self.step_base == StepBase::LabelMax).then_some(max);
        Ok((cap, limit))
    }

    /// The words of a capped move: "OpenFaaS CE allows at most 5 replicas".
    pub fn at_most(&self, max: u32) -> String {
        format!("{} allows at most {max} replicas", self.name)
    }

    /// The words of a refused scale to zero.
    pub fn no_zero(&self) -> String {
        format!(
            "{} does not scale to zero ([platform] scale_to_zero = false)",
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let with = |max: Option<u32>, name: &str| Platform {
            name: name.into(),
            max_replicas: max,
            ..Platform::default()
        };
        // (platform, ceiling, default min) → the key refused, if any.
        let cases = [
            (Platform::default(), 100, 1, None),
            (Platform::openfaas_ce(), 100, 1, None),
            (with(Some(5), "CE"), 5, 5, None),
            (with(Some(0), "CE"), 100, 1, Some("platform.max_replicas")),
            (with(Some(2), "CE"), 100, 3, Some("platform.max_replicas")),
            (with(Some(200), "CE"), 100, 1, Some("platform.max_replicas")),
            (with(None, " "), 100, 1, Some("platform.name")),
            (with(None, &"x".repeat(65)), 100, 1, Some("platform.name")),
        ];
        for (platform, ceiling, min, want) in cases {
            let got = platform.validate(ceiling, min).err().map(|e| e.0);
            assert_eq!(got, want, "{platform:?} ceiling {ceiling} min {min}");
        }
    }

    #[test]
    fn the_section_loads_and_rejects_unknown_keys() {
        let text = "name = \"OpenFaaS CE\"\nmax_replicas = 5\nscale_to_zero = false\nstep_base = \"capped_max\"";
        assert_eq!(
            toml::from_str::<Platform>(text).unwrap(),
            Platform::openfaas_ce()
        );
        assert_eq!(toml::from_str::<Platform>("").unwrap(), Platform::default());
        assert!(toml::from_str::<Platform>("max_replica = 5").is_err());
        assert!(toml::from_str::<Platform>("step_base = \"ce\"").is_err());
        let config = crate::config::Config {
            platform: Platform {
                max_replicas: Some(0),
                ..Platform::default()
            },
            ..crate::config::Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("platform.max_replicas"), "{err}");
    }

    #[test]
    fn reasons_name_the_platform() {
        let ce = Platform::openfaas_ce();
        assert_eq!(ce.at_most(5), "OpenFaaS CE allows at most 5 replicas");
        assert!(ce.no_zero().contains("scale_to_zero = false"));
    }
}
