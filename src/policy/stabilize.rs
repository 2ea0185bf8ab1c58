//! Gentle scale-down for every policy: an HPA-like stabilization window.
//!
//! Every proposal is recorded in the ledger as a [`Recommendation`]; a scale-down never goes below
//! the highest count recommended within the window (`scale_down_stabilization_secs`, label
//! `com.openfaas.scale.down-stabilization`). A held-back scale-down is remembered in
//! `Entry::settle_to`; since AlertManager sends a resolution only once, the service's settle loop
//! calls [`settle`] periodically to finish it when the window allows. Scale-ups are never held.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Decision, Input, PolicyConfig, Proposal, Why};
use crate::labels::ScaleLabels;
use crate::ledger::{Entry, MAX_RECOMMENDATIONS, Recommendation};

/// The window for this function: its label, else the configured one (zero in `ce` mode).
pub fn window(labels: &ScaleLabels, config: &PolicyConfig) -> TimeDelta {
    labels
        .policy
        .down_stabilization
        .unwrap_or_else(|| config.stabilization())
}

/// The highest recommendation made within `window` before `now`, with when it was made.
pub fn floor(
    history: &[Recommendation],
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Option<Recommendation> {
    history
        .iter()
        .filter(|r| r.at <= now && now - r.at < window)
        .max_by_key(|r| (r.desired, r.at))
        .copied()
}

/// Append a recommendation and bound the history: drop what left the window (always keeping the
/// newest) and keep at most [`MAX_RECOMMENDATIONS`].
pub fn record(history: &mut Vec<Recommendation>, rec: Recommendation, window: TimeDelta) {
    history.push(rec);
    prune(history, rec.at, window);
}

fn prune(history: &mut Vec<Recommendation>, now: DateTime<Utc>, window: TimeDelta) {
    let newest = history.iter().map(|r| r.at).max();
    history.retain(|r| Some(r.at) == newest || now - r.at < window);
    history.sort_by_key(|r| r.at);
    let excess = history.len().saturating_sub(MAX_RECOMMENDATIONS);
    history.drain(..excess);
}

/// Turn a policy's proposal into the decision: record it, scale up at once, scale down no lower
/// than the window's highest recommendation.
pub fn apply(input: &Input<'_>, config: &PolicyConfig, p: Proposal, next: &mut Entry) -> Decision {
    let (current, now) = (input.current, input.now);
    let w = window(input.labels, config);
    let high = floor(&next.recommendations, now, w);
    record(
        &mut next.recommendations,
        Recommendation {
            at: now,
            desired: p.desired,
        },
        w,
    );
    next.settle_to = None;
    if p.desired == current {
        return Decision::unchanged(p.same, format!("{}: stays at {current}", p.explain));
    }
    if p.desired > current {
        return Decision::Scale {
            from: current,
            to: p.desired,
            reason: format!("{}: {current} → {}", p.explain, p.desired),
        };
    }
    let to = high
        .map_or(p.desired, |h| h.desired.max(p.desired))
        .min(current);
    let Some(h) = high.filter(|_| to > p.desired) else {
        return Decision::Scale {
            from: current,
            to,
            reason: format!("{}: {current} → {to}", p.explain),
        };
    };
    next.settle_to = Some(p.desired);
    let held = format!(
        "desired {}, but the stabilization window of {}s holds {} (wanted {}s ago)",
        p.desired,
        w.num_seconds(),
        h.desired,
        (now - h.at).num_seconds()
    );
    if to == current {
        Decision::unchanged(
            Why::Stabilizing,
            format!("{}; {held}: stays at {current}", p.explain),
        )
    } else {
        Decision::Scale {
            from: current,
            to,
            reason: format!("{}; {held}: {current} → {to}", p.explain),
        }
    }
}

/// Finish a held-back scale-down as far as the window now allows. `None` when nothing is held;
/// otherwise the decision and the entry to store.
pub fn settle(
    labels: &ScaleLabels,
    current: u32,
    entry: &Entry,
    now: DateTime<Utc>,
    config: &PolicyConfig,
) -> Option<(Decision, Entry)> {
    let wanted = entry.settle_to?;
    let target = if wanted == 0 && labels.zero {
        0
    } else {
        labels.clamp(wanted)
    };
    let mut next = entry.clone();
    let w = window(labels, config);
    prune(&mut next.recommendations, now, w);
    if current <= target {
        next.settle_to = None;
        let reason = format!("settled: {current} is at or below the held-back target {target}");
        return Some((Decision::unchanged(Why::AtMin, reason), next));
    }
    let high = floor(&next.recommendations, now, w);
    let to = high.map_or(target, |h| h.desired.max(target)).min(current);
    if to == target {
        next.settle_to = None;
    }
    let why = match high.filter(|h| h.desired > target) {
        Some(h) => format!(
            "window of {}s still holds {} (wanted {}s ago)",
            w.num_seconds(),
            h.desired,
            (now - h.at).num_seconds()
        ),
        None => format!("window of {}s has passed", w.num_seconds()),
    };
    let decision = if to < current {
        Decision::Scale {
            from: current,
            to,
            reason: format!("held-back scale-down to {target}: {why}: {current} → {to}"),
        }
    } else {
        Decision::unchanged(
            Why::Stabilizing,
            format!("held-back scale-down to {target}: {why}: stays at {current}"),
        )
    };
    Some((decision, next))
}

#[cfg(test)]
#[path = "stabilize_tests.rs"]
mod tests;
