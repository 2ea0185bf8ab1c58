//! Proportional target policy (OpenFaaS Pro's target per replica, the HPA's formula):
//! desired = ceil(load / (target × proportion)), clamped to [max(min, 1), max].
//!
//! No change while load is within ±tolerance of current capacity; one scale-up grows at most to
//! max(ceil(current × max-up-factor), current + max_scale_up_step) unless load reaches twice the
//! current capacity (current × target): then it jumps straight to desired (panic, as Knative's KPA).
//! An up alert that resolves goes to min, like CE, through the stabilization window. The alert's
//! direction bounds the move: a down alert whose load asks for more replicas, or an up alert whose
//! load asks for fewer, holds (why `in_band`), except to bring replicas back into [min, max].

use serde::Serialize;

use super::{Decision, Input, PolicyConfig, Proposal, Why, down_to_min};
use crate::alert::{Direction, Signal, Status};
use crate::labels::{ScaleLabels, TARGET};
use crate::ledger::Trigger;

/// The alert annotation holding the observed load (set by the shipped rule packs).
pub(crate) const VALUE_ANNOTATION: &str = "value";

/// Rounding slack of the tolerance band's edges. The usage ratio is computed in binary floating
/// point, where a load exactly 10 % above capacity reads as 99 / 90 − 1 = 0.10000000000000009:
/// without the slack that edge of the band, which is inclusive (≤ tolerance, as the HPA's), would
/// scale while the other (81 / 90) holds. A billionth of the ratio is far below any measurable load.
const TOLERANCE_SLACK: f64 = 1e-9;

/// An observed load and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Load {
    pub value: f64,
    /// `annotation` or `prometheus`.
    pub source: &'static str,
}

/// The load the alert carries in its `value` annotation; the error names the annotation.
pub(crate) fn annotation_load(signal: &Signal) -> Result<Load, String> {
    let Some(text) = signal.annotations.get(VALUE_ANNOTATION) else {
        return Err(format!(
            "alert {} has no annotation `{VALUE_ANNOTATION}`: the proportional policy needs the observed load there",
            signal.alertname
        ));
    };
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(Load {
            value,
            source: "annotation",
        }),
        _ => Err(format!(
            "alert {}: annotation `{VALUE_ANNOTATION}`={:?} is not a number ≥ 0",
            signal.alertname,
            crate::skipped::shorten(text, crate::skipped::MAX_VALUE_CHARS)
        )),
    }
}

/// The proportional policy's proposal.
pub(crate) fn propose(input: &Input<'_>, config: &PolicyConfig) -> Result<Proposal, Decision> {
    let (labels, current) = (input.labels, input.current);
    let signal = match input.trigger {
        Trigger::Hold(hold) => return Err(super::hold_decision(hold)),
        Trigger::Down { signal } if signal.status == Status::Resolved => {
            return Ok(resolved_to_min(labels, current, signal));
        }
        Trigger::Up { signal, .. } | Trigger::Down { signal } => signal,
    };
    let Some(target) = labels.policy.target else {
        return Err(Decision::refused(format!(
            "alert {} selects the proportional policy, but the function has no label {TARGET} (load per replica)",
            signal.alertname
        )));
    };
    let load = match input.load {
        Some(load) => load.clone(),
        None => annotation_load(signal).map_err(Decision::refused)?,
    };
    let (clamped, mut explain) = formula(labels, signal, &load, target);
    let same = super::same_as(labels, clamped);
    if let Some(held) = within_tolerance(labels, current, clamped, &load, target, config) {
        return Ok(Proposal {
            desired: current,
            explain: explain + &held,
            same: Why::Tolerance,
            idle_since: None,
        });
    }
    let proposal = |desired, explain, same| Proposal {
        desired,
        explain,
        same,
        idle_since: None,
    };
    let clamped = match bound_by_direction(signal.direction, labels, current, clamped) {
        Bound::Free => clamped,
        Bound::Held(note) => {
            return Err(Decision::unchanged(Why::InBand, explain + &note));
        }
        Bound::Into(to, note) => {
            let same = super::same_as(labels, to);
            return Ok(proposal(to, explain + &note, same));
        }
    };
    if clamped <= current {
        return Ok(proposal(clamped, explain, same));
    }
    let capacity = f64::from(current) * target;
    if load.value >= 2.0 * capacity {
        explain += &format!("; panic: load ≥ 2 × capacity {capacity} → straight to {clamped}");
        return Ok(proposal(clamped, explain, same));
    }
    let desired = rate_limited(labels, current, clamped, config, &mut explain);
    Ok(proposal(desired, explain, same))
}

/// A resolution: to min, but never to 0 through a min of 0 (scale to zero stays with the zero
/// policy), and never up from below 1 either: a resolution wakes nothing.
fn resolved_to_min(labels: &ScaleLabels, current: u32, signal: &Signal) -> Proposal {
    let to_min = down_to_min(labels, signal);
    let desired = labels.clamp_awake(labels.min).min(current.max(labels.min));
    let explain = to_min.explain.clone() + &super::clamp_note(labels, labels.min, desired);
    Proposal {
        desired,
        explain,
        ..to_min
    }
}

/// The formula's count, `ceil(load / (target × proportion))` clamped to the labels, with how it
/// was computed.
fn formula(labels: &ScaleLabels, signal: &Signal, load: &Load, target: f64) -> (u32, String) {
    let proportion = labels.policy.target_proportion;
    let effective = target * proportion;
    let raw_f = (load.value / effective).ceil();
    let raw = if raw_f >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        raw_f as u32
    };
    // Never to 0 through a min of 0: scale to zero stays with the zero policy.
    let clamped = labels.clamp_awake(raw);
    let mut explain = format!(
        "{} load {} ({}) / (target {target} × {proportion}) → ceil = {raw}",
        signal.alertname, load.value, load.source
    );
    explain += &super::clamp_note(labels, raw, clamped);
    (clamped, explain)
}

/// Why the current count stays, when the load uses it within the tolerance (a count within the
/// labels that the formula would change only by noise).
fn within_tolerance(
    labels: &ScaleLabels,
    current: u32,
    clamped: u32,
    load: &Load,
    target: f64,
    config: &PolicyConfig,
) -> Option<String> {
    let in_bounds = labels.clamp(current) == current;
    if current == 0 || !in_bounds || clamped == current {
        return None;
    }
    let effective = target * labels.policy.target_proportion;
    let usage = load.value / (f64::from(current) * effective);
    ((usage - 1.0).abs() <= config.tolerance + TOLERANCE_SLACK).then(|| {
        format!(
            "; usage {usage:.2} of current capacity is within ±{}% tolerance",
            (config.tolerance * 100.0).round()
        )
    })
}

/// A scale-up limited to `max(current × factor, current + step)`, saying so in `explain`.
fn rate_limited(
    labels: &ScaleLabels,
    current: u32,
    clamped: u32,
    config: &PolicyConfig,
    explain: &mut String,
) -> u32 {
    let factor = labels
        .policy
        .max_up_factor
        .unwrap_or(config.max_scale_up_factor);
    let by_factor = (f64::from(current) * factor)
        .ceil()
        .min(f64::from(u32::MAX)) as u32;
    // Never below min (a min raised while the function ran lower): the limit slows a climb, it does not
    // undo the clamp.
    let limit = by_factor
        .max(current.saturating_add(config.max_scale_up_step))
        .max(labels.min);
    if clamped > limit {
        *explain += &format!(
            "; rate-limited to max(×{factor}, +{}) = {limit}",
            config.max_scale_up_step
        );
        limit
    } else {
        clamped
    }
}

/// What an alert's direction leaves of the formula's count.
#[derive(Debug, PartialEq)]
enum Bound {
    /// The count moves the way the alert points (or nowhere).
    Free,
    /// The count goes against the alert: hold, saying so.
    Held(String),
    /// Against the alert, but current is outside [min, max]: into the bounds, no further.
    Into(u32, String),
}

/// An alert's direction bounds the move, as the capacity policy's up alerts do: a down alert never
/// scales up and an up alert never scales down. A down alert's load may read high (it was taken when
/// the alert's rule last sent its annotations) and an up alert's low (the replicas caught up since):
/// against the alert that fired, the count is stale, and the opposite alert moves the replicas when
/// the load really is there. Only the bounds still win: an up alert above max goes down to max, a
/// down alert below min up to min (never waking a function from 0 with a min of 0).
fn bound_by_direction(direction: Direction, labels: &ScaleLabels, current: u32, to: u32) -> Bound {
    let (bounded, way) = match direction {
        Direction::Down if to > current => (to.min(current.max(labels.min)), "above"),
        Direction::Up if to < current => (to.max(current.min(labels.max)), "below"),
        _ => return Bound::Free,
    };
    let (alert, never) = match direction {
        Direction::Down => ("a down alert", "up"),
        Direction::Up => ("an up alert", "down"),
    };
    if bounded == current {
        return Bound::Held(format!(
            "; {way} current {current}: {alert} never scales {never}"
        ));
    }
    let (side, limit) = match direction {
        Direction::Down => ("below min", labels.min),
        Direction::Up => ("above max", labels.max),
    };
    Bound::Into(
        bounded,
        format!(
            "; {way} current {current}: {alert} never scales {never}, but current is {side} {limit}: to it"
        ),
    )
}

#[cfg(test)]
#[path = "proportional_tests.rs"]
mod tests;
