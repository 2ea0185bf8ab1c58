//! Gentle scale-down for every policy: an HPA-like stabilization window.
//!
//! Every proposal is remembered as a [`Recommendation`] in the function's [`Window`]; a scale-down
//! never goes below the highest count recommended within the window (`scale_down_stabilization_secs`,
//! label `com.openfaas.scale.down-stabilization`). A held-back scale-down is remembered as
//! [`Window::pending`]; since AlertManager sends a resolution only once, the service's settle pass
//! calls [`resume`] periodically to finish it when the window allows. Scale-ups are never held.
//!
//! The [`Window`] is this module's state: stored beside the function with the ledger's episodes
//! (see [`crate::stored::Stored`]), changed only here, and returned as part of a [`Verdict`].

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{Decision, Input, PolicyConfig, Proposal, Verdict, Why};
use crate::labels::{ScaleLabels, ZERO_DURATION};

/// At most this many recommendations are kept per function.
pub(crate) const MAX_RECOMMENDATIONS: usize = 32;

/// One replica count a policy wanted at one moment (before stabilization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub at: DateTime<Utc>,
    pub desired: u32,
}

/// The stabilization state of one function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Window {
    /// Recent replica counts the policies wanted, oldest first: a scale-down never goes below the
    /// highest of them within the window. Bounded by time and by [`MAX_RECOMMENDATIONS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
    /// A scale-down held back by the window is still heading to this count (serialized as
    /// `settle_to`, the name stored by earlier versions).
    #[serde(rename = "settle_to", skip_serializing_if = "Option::is_none")]
    pub pending: Option<u32>,
    /// For a held sleep (`pending` 0): since when the function has been idle, when its idle alert
    /// said. The settle pass finishes the sleep only once the function has been idle for the
    /// zero-duration its labels ask then (they may have been raised since the hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_since: Option<DateTime<Utc>>,
}

impl Window {
    /// Hold a scale-down back: it still heads to `target` (a sleep when 0, idle since `idle_since`).
    fn hold(&mut self, target: u32, idle_since: Option<DateTime<Utc>>) {
        self.pending = Some(target);
        self.idle_since = idle_since.filter(|_| target == 0);
    }

    /// Nothing is held back any more.
    pub(crate) fn release(&mut self) {
        self.pending = None;
        self.idle_since = None;
    }
}

/// The window for this function: its label, else the configured one (zero in `ce` mode).
pub fn window(labels: &ScaleLabels, config: &PolicyConfig) -> TimeDelta {
    labels
        .policy
        .down_stabilization
        .unwrap_or_else(|| config.stabilization())
}

/// The highest recommendation made within `window` before `now`, with when it was made. One
/// stamped after `now` counts too: a decision that read its clock earlier (a background pass that
/// waited for the function's lock, or another replica whose clock is behind) must not scale below
/// what a newer decision recorded. A window of zero (`ce` mode, or a label of 0) holds nothing.
pub(crate) fn floor(
    history: &[Recommendation],
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Option<Recommendation> {
    if window <= TimeDelta::zero() {
        return None;
    }
    history
        .iter()
        .filter(|r| now - r.at < window)
        .max_by_key(|r| (r.desired, r.at))
        .copied()
}

/// The recommendation that holds a scale-down to `target`: the window's highest ([`floor`]), except
/// that a move below min (the zero policy's sleep) is held only by a count above min. Every policy
/// sizes a serving function at least at its min, so a recommendation at min says only "keep it
/// serving", which is what a sleep ends: the capacity pack's `FunctionOverProvisioned` fires for as
/// long as an idle function's min is above 1, and each of its follow-ups recorded min, so the
/// sleep was held for good.
fn holding(
    history: &[Recommendation],
    now: DateTime<Utc>,
    window: TimeDelta,
    labels: &ScaleLabels,
    target: u32,
) -> Option<Recommendation> {
    floor(history, now, window).filter(|h| target >= labels.min || h.desired > labels.min)
}

/// Append a recommendation and bound the history: drop what left the window (always keeping the
/// newest) and what a newer, at least as high recommendation makes irrelevant, and keep at most
/// [`MAX_RECOMMENDATIONS`] by merging neighbours conservatively.
///
/// The bound must never shorten the window: a follow-up every 5 s records 60 recommendations in
/// 300 s, and dropping the oldest (the peak) would let a scale-down through early.
pub(crate) fn record(history: &mut Vec<Recommendation>, rec: Recommendation, window: TimeDelta) {
    // The floor is the highest recommendation within the window; one that is not higher than a
    // newer one can never be it again (the newer one stays in the window longer).
    history.retain(|r| r.desired > rec.desired || r.at > rec.at);
    history.push(rec);
    prune(history, rec.at, window);
}

fn prune(history: &mut Vec<Recommendation>, now: DateTime<Utc>, window: TimeDelta) {
    let newest = history.iter().map(|r| r.at).max();
    history.retain(|r| Some(r.at) == newest || now - r.at < window);
    history.sort_by_key(|r| r.at);
    // Still too many (a long descending run): merge the two neighbours whose counts are closest
    // into the later time with the higher count. The floor then holds that count a little longer:
    // a scale-down may come later than exact, never earlier.
    while history.len() > MAX_RECOMMENDATIONS {
        let closest = (0..history.len() - 1)
            .min_by_key(|&i| history[i].desired.abs_diff(history[i + 1].desired))
            .unwrap_or(0);
        let high = history[closest].desired.max(history[closest + 1].desired);
        history[closest + 1].desired = high;
        history.remove(closest);
    }
}

/// Turn a policy's proposal into the verdict: record it, scale up at once, scale down no lower
/// than the window's highest recommendation.
pub fn apply(input: &Input<'_>, config: &PolicyConfig, p: Proposal) -> Verdict {
    let current = input.current;
    let w = window(input.labels, config);
    let high = holding(
        &input.window.recommendations,
        input.now,
        w,
        input.labels,
        p.desired,
    );
    let next = remember(input, &p, w);
    if p.desired == current {
        let reason = format!("{}: stays at {current}", p.explain);
        return Verdict {
            decision: Decision::unchanged(p.same, reason),
            window: next,
        };
    }
    if p.desired > current {
        let reason = format!("{}: {current} → {}", p.explain, p.desired);
        return Verdict {
            decision: Decision::Scale {
                from: current,
                to: p.desired,
                reason,
            },
            window: next,
        };
    }
    scale_down(input, &p, w, high, next)
}

/// The window after a proposal: the proposal recorded, and a held target released, each unless
/// the proposal only says "keep serving" (a count at min or at the serving floor that moves nothing).
fn remember(input: &Input<'_>, p: &Proposal, w: TimeDelta) -> Window {
    let (current, now) = (input.current, input.now);
    let mut next = input.window.clone();
    // A count at min that moves nothing is not recorded: a recommendation at min holds nothing (see
    // [`holding`]), and the capacity pack's follow-ups of an idle function whose min is above 1 say
    // it every few seconds for as long as it idles, each a write of the function's state.
    if !(p.desired == current && p.desired == input.labels.min) {
        record(
            &mut next.recommendations,
            Recommendation {
                at: now,
                desired: p.desired,
            },
            w,
        );
    }
    // A newer decision replaces a held target, except that one sizing the function at its serving
    // floor (min, at least 1) and moving nothing keeps a held sleep (a target of 0): like a
    // recommendation at min (see [`holding`]) it says "keep serving", not "stay awake", and the
    // capacity pack's follow-ups say it every few seconds, which left the sleep to FunctionIdle's
    // next repeat (AlertManager's repeat_interval: 4h by default).
    let floor_count = input.labels.min.max(1);
    let keeps_sleep = p.desired == current && p.desired == floor_count;
    if !next.pending.is_some_and(|t| keeps_sleep && t == 0) {
        next.release();
    }
    next
}

/// A proposal below the current count: scaled down no lower than the window's `high` (and held,
/// so the settle pass can finish it), or straight to the proposal when nothing holds it.
fn scale_down(
    input: &Input<'_>,
    p: &Proposal,
    w: TimeDelta,
    high: Option<Recommendation>,
    mut next: Window,
) -> Verdict {
    let (current, now) = (input.current, input.now);
    let to = held_to(high, p.desired, current, input.labels);
    let Some(h) = high.filter(|_| to > p.desired) else {
        let reason = format!("{}: {current} → {to}", p.explain);
        return Verdict {
            decision: Decision::Scale {
                from: current,
                to,
                reason,
            },
            window: next,
        };
    };
    next.hold(p.desired, p.idle_since);
    let held = format!(
        "desired {}, but the stabilization window of {}s holds {} (wanted {}s ago){}",
        p.desired,
        w.num_seconds(),
        h.desired,
        (now - h.at).num_seconds().max(0),
        above_max(input.labels, h, to)
    );
    let decision = if to == current {
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
    };
    Verdict {
        decision,
        window: next,
    }
}

/// Where a scale-down from `current` to `target` may go now: no lower than the window's `high`,
/// never up, and never above the max the labels say now. The window may hold counts recorded under
/// older labels (a redeploy that lowered max, or pinned min = max): it cannot hold a function at a
/// count its labels forbid, as Kubernetes' HPA applies its bounds after stabilizing.
fn held_to(high: Option<Recommendation>, target: u32, current: u32, labels: &ScaleLabels) -> u32 {
    high.map_or(target, |h| h.desired.max(target))
        .min(current)
        .min(labels.max.max(target))
}

/// What a reason adds when the max cut the window's `high` down to `to`: ", above max 3".
fn above_max(labels: &ScaleLabels, high: Recommendation, to: u32) -> String {
    if high.desired > to && to == labels.max {
        format!(", above max {}", labels.max)
    } else {
        String::new()
    }
}

/// Finish a held-back scale-down as far as the window now allows. `None` when nothing is held;
/// otherwise the verdict (the decision and the window to store). A held sleep finishes only once
/// the function has been idle for the zero-duration its labels ask now ([`too_early`]); until then
/// it stays held, and the scale-down goes no lower than the serving floor (min, at least 1).
pub(crate) fn resume(
    labels: &ScaleLabels,
    current: u32,
    held: &Window,
    now: DateTime<Utc>,
    config: &PolicyConfig,
) -> Option<Verdict> {
    let mut target = labels.fit(held.pending?);
    let mut next = held.clone();
    let w = window(labels, config);
    prune(&mut next.recommendations, now, w);
    let early = (target == 0)
        .then(|| too_early(labels, held.idle_since, now))
        .flatten();
    if early.is_some() {
        target = labels.clamp_awake(labels.min);
    }
    let what = match &early {
        Some(note) => format!("held-back sleep: {note}; scale-down to {target}"),
        None => format!("held-back scale-down to {target}"),
    };
    if current <= target {
        let decision = match &early {
            Some(_) => {
                Decision::unchanged(Why::IdleTooShort, format!("{what}: stays at {current}"))
            }
            None => {
                next.release();
                let reason =
                    format!("settled: {current} is at or below the held-back target {target}");
                Decision::unchanged(Why::AtMin, reason)
            }
        };
        return Some(Verdict {
            decision,
            window: next,
        });
    }
    let high = holding(&next.recommendations, now, w, labels, target);
    let to = held_to(high, target, current, labels);
    if to == target && early.is_none() {
        next.release();
    }
    let why = match high.filter(|h| h.desired > target) {
        Some(h) => format!(
            "window of {}s still holds {} (wanted {}s ago){}",
            w.num_seconds(),
            h.desired,
            (now - h.at).num_seconds().max(0),
            above_max(labels, h, to)
        ),
        None => format!("window of {}s has passed", w.num_seconds()),
    };
    let decision = if to < current {
        Decision::Scale {
            from: current,
            to,
            reason: format!("{what}: {why}: {current} → {to}"),
        }
    } else {
        Decision::unchanged(
            Why::Stabilizing,
            format!("{what}: {why}: stays at {current}"),
        )
    };
    Some(Verdict {
        decision,
        window: next,
    })
}

/// Why a held sleep may not finish at `now`: the function has not been idle (since `idle_since`, as
/// its idle alert said when the sleep was held) for the zero-duration its labels ask now, which
/// may have been raised since. `None` when it may, or when the alert did not say.
fn too_early(
    labels: &ScaleLabels,
    idle_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    let idle_for = now - idle_since?;
    let asked = labels.policy.zero_duration;
    (idle_for < asked).then(|| {
        format!(
            "idle for {}s, but {ZERO_DURATION} asks for {}s",
            idle_for.num_seconds(),
            asked.num_seconds()
        )
    })
}

#[cfg(test)]
#[path = "stabilize_tests.rs"]
mod tests;
