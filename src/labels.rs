//! `com.openfaas.scale.*` labels: parsed and validated before any replica count is written.
//!
//! A bad value is a refusal naming the label and the value, never a guess.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub const MIN: &str = "com.openfaas.scale.min";
pub const MAX: &str = "com.openfaas.scale.max";
pub const FACTOR: &str = "com.openfaas.scale.factor";
pub const ZERO: &str = "com.openfaas.scale.zero";

/// Defaults for functions that carry no scaling labels (OpenFaaS CE's: min 1, max 20, factor 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelDefaults {
    pub min: u32,
    pub max: u32,
    pub factor: u32,
}

impl Default for LabelDefaults {
    fn default() -> Self {
        Self {
            min: 1,
            max: 20,
            factor: 20,
        }
    }
}

/// A function's validated scaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleLabels {
    pub min: u32,
    pub max: u32,
    /// Percent of `max` added per scale-up step, 0..=100; 0 disables scaling up.
    pub factor: u32,
    /// Whether the function may be scaled to zero replicas.
    pub zero: bool,
}

impl ScaleLabels {
    /// min == max: the user pinned the replica count.
    pub fn autoscaling_disabled(&self) -> bool {
        self.min == self.max
    }

    /// Keep a replica count inside [min, max].
    pub fn clamp(&self, replicas: u32) -> u32 {
        replicas.clamp(self.min, self.max)
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
        write!(f, "label {}={:?}: {}", self.label, self.value, self.problem)
    }
}

impl std::error::Error for LabelError {}

/// Parse and validate the scaling labels of a function against the defaults and the global ceiling.
pub fn parse(
    labels: &BTreeMap<String, String>,
    defaults: &LabelDefaults,
    ceiling: u32,
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
    if min == 0 {
        return Err(err(
            MIN,
            min,
            format!("must be at least 1; label {ZERO}=true allows scaling to zero"),
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
    Ok(ScaleLabels {
        min,
        max,
        factor,
        zero,
    })
}

fn number(
    labels: &BTreeMap<String, String>,
    label: &'static str,
    default: u32,
) -> Result<u32, LabelError> {
    match labels.get(label) {
        None => Ok(default),
        Some(value) => value.trim().parse::<u32>().map_err(|_| LabelError {
            label,
            value: value.clone(),
            problem: "must be a whole number ≥ 0".into(),
        }),
    }
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
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<ScaleLabels, LabelError> {
        let labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&labels, &LabelDefaults::default(), 50)
    }

    #[test]
    fn defaults_are_ce() {
        let l = parse_pairs(&[]).unwrap();
        assert_eq!((l.min, l.max, l.factor, l.zero), (1, 20, 20, false));
        assert!(!l.autoscaling_disabled());
    }

    #[test]
    fn labels_override_defaults() {
        let l = parse_pairs(&[(MIN, "2"), (MAX, "2"), (FACTOR, "0"), (ZERO, "true")]).unwrap();
        assert_eq!((l.min, l.max, l.factor, l.zero), (2, 2, 0, true));
        assert!(l.autoscaling_disabled());
    }

    #[test]
    fn bad_values_are_refused_naming_label_and_value() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[(MIN, "two")], MIN, "two"),
            (&[(MIN, "-1")], MIN, "-1"),
            (&[(MIN, "1.5")], MIN, "1.5"),
            (&[(MIN, "0")], MIN, "0"),
            (&[(MIN, "5"), (MAX, "3")], MAX, "3"),
            (&[(MIN, "30")], MAX, "20 (default)"),
            (&[(MAX, "51")], MAX, "51"),
            (&[(FACTOR, "101")], FACTOR, "101"),
            (&[(FACTOR, "")], FACTOR, ""),
            (&[(ZERO, "yes")], ZERO, "yes"),
        ];
        for (pairs, label, value) in cases {
            let err = parse_pairs(pairs).expect_err(&format!("{pairs:?} must be refused"));
            assert_eq!(
                (err.label, err.value.as_str()),
                (*label, *value),
                "{pairs:?}"
            );
            assert!(err.to_string().contains(label));
        }
    }
}
