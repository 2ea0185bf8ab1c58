//! Prometheus' rule manager for one alert rule and one function: pending, `for:`, firing,
//! `keep_firing_for`, resends and resolution. Apart from the series, because it reads only the rule's
//! result at each evaluation, never a sample.

/// Alert state of one rule for one function, as Prometheus' rule manager keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Active {
    pub active_at: u64,
    pub fired_at: Option<u64>,
    pub last_sent: u64,
    /// What the condition observed the last time it held, and the first evaluation since that found it false
    /// (`keep_firing_for`).
    pub observed: Observed,
    pub false_since: Option<u64>,
}

/// What a true alert condition observed: the numbers its annotations carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// `value`: the expression's value (req/s, p95 seconds, or load for the capacity pack).
    pub value: f64,
    /// `target`: the threshold (or the per-replica target).
    pub target: f64,
    /// `desired` and `replicas` (capacity pack only).
    pub desired: Option<u32>,
    pub replicas: Option<u32>,
    /// `window` (idle rule only): how long the function had been idle when the alert became active.
    pub window_secs: Option<u64>,
}

impl Observed {
    /// A value against a threshold, without replica counts.
    pub fn new(value: f64, target: f64) -> Self {
        Self {
            value,
            target,
            desired: None,
            replicas: None,
            window_secs: None,
        }
    }
}

/// What an evaluation asks Prometheus to send to AlertManager for one function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Send {
    /// The alert (still) fires; `starts_at` is when it started firing (Prometheus sends `FiredAt`).
    Firing { starts_at: u64, observed: Observed },
    /// The alert stopped firing at `ends_at`.
    Resolved { starts_at: u64, ends_at: u64 },
}

/// How long Prometheus waits before re-sending a still-firing alert (`--rules.alert.resend-delay`): it
/// re-sends at the first evaluation *more* than this after the last send.
pub const RESEND_DELAY: u64 = 60;

/// Advance one function's alert state by one evaluation: pending after the first true evaluation, firing once
/// it has been true for `for_secs` (`>=`, as Prometheus), resolved on the first false evaluation while firing —
/// or, with `keep_secs` (`keep_firing_for`), once the condition has been false for that long (measured from the
/// first false evaluation, as Prometheus); until then it fires on with what it observed last.
pub fn step_alert(
    state: &mut Option<Active>,
    result: Option<Observed>,
    now: u64,
    for_secs: u64,
    keep_secs: u64,
) -> Option<Send> {
    let result = match (result, state.as_mut()) {
        (Some(observed), Some(a)) => {
            a.observed = observed;
            a.false_since = None;
            result
        }
        (None, Some(a)) if a.fired_at.is_some() => {
            let since = *a.false_since.get_or_insert(now);
            (now - since < keep_secs).then_some(a.observed)
        }
        _ => result,
    };
    match (result, state.as_mut()) {
        (Some(observed), None) => {
            *state = Some(Active {
                active_at: now,
                fired_at: None,
                last_sent: 0,
                observed,
                false_since: None,
            });
            step_alert(state, result, now, for_secs, keep_secs).filter(|_| for_secs == 0)
        }
        (Some(observed), Some(a)) => {
            let fired_at = match a.fired_at {
                Some(f) => f,
                None if now - a.active_at >= for_secs => {
                    a.fired_at = Some(now);
                    a.last_sent = now;
                    return Some(Send::Firing {
                        starts_at: now,
                        observed,
                    });
                }
                None => return None,
            };
            // Prometheus' `needsSending`: `LastSentAt + resendDelay` strictly before the evaluation.
            if now - a.last_sent > RESEND_DELAY {
                a.last_sent = now;
                return Some(Send::Firing {
                    starts_at: fired_at,
                    observed,
                });
            }
            None
        }
        (None, Some(a)) => {
            let sent = a.fired_at.map(|starts_at| Send::Resolved {
                starts_at,
                ends_at: now,
            });
            *state = None;
            sent
        }
        (None, None) => None,
    }
}
