//! Capacity policy: move straight to the replica count the load needs (right-size in one move).
//!
//! The capacity rule pack (`alert-rules/capacity.rules.yml`) computes each function's desired
//! count as ceil(load per window / target per replica), with a panic window for bursts; this
//! policy takes that count — measured from Prometheus at decision time when the service could
//! (`Input::load`, the value of `alertscaler:function_desired_replicas`), else the alert's
//! `desired` annotation — clamps it to [min, max] and proposes it. Scale-ups happen at once;
//! scale-downs go through the stabilization window like every policy's.

use super::{Decision, Input, Proposal, Why};
use crate::alert::{Direction, Signal, Status};
use crate::labels::ScaleLabels;
use crate::ledger::Trigger;

/// The alert annotation holding the desired replica count (set by the capacity rule pack).
pub(crate) const DESIRED_ANNOTATION: &str = "desired";

/// The desired count the alert carries in its `desired` annotation; the error names it.
pub(crate) fn annotation_desired(signal: &Signal) -> Result<f64, String> {
    let Some(text) = signal.annotations.get(DESIRED_ANNOTATION) else {
        return Err(format!(
            "alert {} has no annotation `{DESIRED_ANNOTATION}`: the capacity policy needs the desired \
             replica count there (alert-rules/capacity.rules.yml sets it)",
            signal.alertname
        ));
    };
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!(
            "alert {}: annotation `{DESIRED_ANNOTATION}`={:?} is not a replica count ≥ 0",
            signal.alertname,
            crate::skipped::shorten(text, crate::skipped::MAX_VALUE_CHARS)
        )),
    }
}

/// The capacity policy's proposal.
pub(crate) fn propose(input: &Input<'_>) -> Result<Proposal, Decision> {
    let labels = input.labels;
    let signal = match input.trigger {
        Trigger::Hold(hold) => return Err(super::hold_decision(hold)),
        Trigger::Up { signal, .. } | Trigger::Down { signal } => signal,
    };
    let (wanted, explain) = match (input.load, signal.status) {
        (Some(measured), _) => (
            measured.value,
            format!(
                "{} desired {} ({}), target {} per replica",
                signal.alertname,
                measured.value,
                measured.source,
                own_target(labels)
            ),
        ),
        // A resolved alert's annotations are those of its last firing round: stale by design.
        (None, Status::Resolved) => {
            return Err(Decision::unchanged(
                Why::InBand,
                format!(
                    "{} resolved and no measured desired count: replicas match the load; \
                     scale-downs come from FunctionOverProvisioned",
                    signal.alertname
                ),
            ));
        }
        (None, Status::Firing) => {
            let desired = annotation_desired(signal).map_err(Decision::refused)?;
            (desired, from_annotations(signal, desired, labels))
        }
    };
    let proposal = clamped(labels, wanted, explain);
    // An up alert (firing, followed up, or resolved) only ever moves up. A count below current
    // means the replicas caught up since Prometheus evaluated, or the panic window is calming
    // down; shrinking on it flapped in the closed-loop test (6 → 2 → 6 within one step).
    // Scale-downs are FunctionOverProvisioned's (30s `for:`), through the stabilization window.
    // Except down to a max lowered below the replicas: the pack knows nothing of max, so while
    // the load needs more than max it fires FunctionUnderProvisioned, never FunctionOverProvisioned.
    if signal.direction == Direction::Up && proposal.desired < input.current {
        if input.current > labels.max {
            return Ok(Proposal {
                desired: labels.max,
                explain: format!(
                    "{}; current {} is above max {}: down to it",
                    proposal.explain, input.current, labels.max
                ),
                same: Why::AtMax,
                idle_since: None,
            });
        }
        return Err(Decision::unchanged(
            Why::InBand,
            format!(
                "{}; below current {}: an up alert never scales down (FunctionOverProvisioned does)",
                proposal.explain, input.current
            ),
        ));
    }
    Ok(proposal)
}

/// Clamp a desired count to [min, max] and say so.
fn clamped(labels: &ScaleLabels, wanted: f64, mut explain: String) -> Proposal {
    let raw_f = wanted.ceil();
    let raw = if raw_f >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        raw_f as u32
    };
    let desired = labels.clamp_awake(raw);
    explain += &super::clamp_note(labels, raw, desired);
    let same = super::same_as(labels, desired);
    Proposal {
        desired,
        explain,
        same,
        idle_since: None,
    }
}

/// "load 23.4 in flight / target 9 per replica → desired 3 (annotation)", with the alert's own
/// numbers when it has them (they are what the count was computed from), else the function's.
fn from_annotations(signal: &Signal, desired: f64, labels: &ScaleLabels) -> String {
    let note = |key: &str| signal.annotations.get(key).map(|v| v.trim().to_owned());
    let unit = match note("type").as_deref() {
        Some("rps") => "req/s",
        Some(_) => "in flight",
        None => labels.policy.scale_type.unit(),
    };
    let target = note("target").map_or_else(|| own_target(labels), |t| format!("{t} {unit}"));
    match note("value") {
        Some(load) => format!(
            "{} load {load} {unit} / target {target} per replica → desired {desired} (annotation)",
            signal.alertname
        ),
        None => format!(
            "{} desired {desired} (annotation), target {target} per replica",
            signal.alertname
        ),
    }
}

/// The function's effective target with its unit, e.g. "9 in flight".
fn own_target(labels: &ScaleLabels) -> String {
    let p = &labels.policy;
    format!("{} {}", p.capacity_target(), p.scale_type.unit())
}

#[cfg(test)]
#[path = "capacity_tests.rs"]
mod tests;
