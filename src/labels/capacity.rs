//! The capacity policy's labels (OpenFaaS Pro's names): `com.openfaas.scale.type`, and the
//! effective target per replica from `target` × `target-proportion`.
//!
//! Kept apart from the other labels so each policy's parsing reads on one screen.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{LabelError, PolicyLabels, TARGET, TARGET_PROPORTION};

/// What the capacity pack measures per replica: `capacity` (in flight, default) or `rps`.
pub(crate) const SCALE_TYPE: &str = "com.openfaas.scale.type";
/// Capacity policy: target per replica of type `capacity` when the function has no `target`
/// label (Knative's container-concurrency idea at a tenth of its soft default of 100, because an
/// OpenFaaS function replica usually serves few requests at once; see docs/policies.md).
pub(crate) const DEFAULT_CAPACITY_TARGET: f64 = 10.0;

/// The unit of a replica's load for the capacity policy and pack (OpenFaaS Pro's `scale.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleType {
    /// Requests in flight per replica (Little's law on the gateway histogram).
    Capacity,
    /// Requests per second per replica.
    Rps,
}

impl ScaleType {
    /// Every type, for exporters that withdraw a function's series of the other type.
    pub(crate) const ALL: [Self; 2] = [Self::Capacity, Self::Rps];

    /// The label value, also the `type` label of the exported target series.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::Rps => "rps",
        }
    }

    /// Unit words for reasons ("in flight", "req/s").
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Self::Capacity => "in flight",
            Self::Rps => "req/s",
        }
    }
}

impl PolicyLabels {
    /// The capacity policy's effective target per replica: (target, else
    /// [`DEFAULT_CAPACITY_TARGET`]) × target-proportion, in the unit of [`ScaleType`].
    pub fn capacity_target(&self) -> f64 {
        self.target.unwrap_or(DEFAULT_CAPACITY_TARGET) * self.target_proportion
    }
}

/// Whether the function sets any label of the capacity target (type, target, target-proportion):
/// only those functions get an exported target series; the others use the rule pack's default.
pub(crate) fn has_capacity_labels(labels: &BTreeMap<String, String>) -> bool {
    [SCALE_TYPE, TARGET, TARGET_PROPORTION]
        .iter()
        .any(|l| labels.contains_key(*l))
}

/// `com.openfaas.scale.type`: `capacity` (default) or `rps`. `rps` needs an explicit target: there
/// is no request rate per replica that suits every function.
pub(super) fn scale_type(labels: &BTreeMap<String, String>) -> Result<ScaleType, LabelError> {
    let kind = match labels.get(SCALE_TYPE).map(|v| v.trim()) {
        None | Some("capacity") => ScaleType::Capacity,
        Some("rps") => ScaleType::Rps,
        Some(other) => {
            return Err(LabelError {
                label: SCALE_TYPE,
                value: other.to_owned(),
                problem: "must be \"capacity\" (in flight per replica) or \"rps\" \
                          (requests/s per replica); alertscaler does not scale on cpu"
                    .into(),
            });
        }
    };
    if kind == ScaleType::Rps && !labels.contains_key(TARGET) {
        return Err(LabelError {
            label: SCALE_TYPE,
            value: "rps".into(),
            problem: format!("needs {TARGET} (requests/s per replica): rps has no default target"),
        });
    }
    Ok(kind)
}
