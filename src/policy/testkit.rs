//! Fixtures shared by the policy tables.

use chrono::{DateTime, TimeZone, Utc};

use super::stabilize::{self, Recommendation};
use super::{Decision, Input, Load, PolicyConfig};
use crate::alert::{Direction, EpisodeKey, Signal, Status};
use crate::labels::{PolicyLabels, ScaleLabels};
use crate::ledger::Trigger;
use crate::stored::Stored;

/// A fixed instant, `secs` after an arbitrary origin.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

pub fn labels(min: u32, max: u32, factor: u32) -> ScaleLabels {
    ScaleLabels {
        min,
        max,
        factor,
        zero: false,
        policy: PolicyLabels::default(),
        limit: Default::default(),
    }
}

pub fn signal(
    alertname: &str,
    status: Status,
    direction: Direction,
    policy: Option<&str>,
    value: Option<&str>,
) -> Signal {
    Signal {
        alertname: alertname.into(),
        status,
        direction,
        policy: policy.map(|p| crate::config::PolicyKind::parse(p).expect("a known policy")),
        episode: EpisodeKey {
            fingerprint: "f".into(),
            starts_at: t(0),
        },
        ends_at: None,
        annotations: value
            .map(|v| [("value".to_string(), v.to_string())].into())
            .unwrap_or_default(),
    }
}

/// A firing up-direction alert.
pub fn up(alertname: &str, policy: Option<&str>, value: Option<&str>) -> Trigger {
    Trigger::Up {
        signal: signal(alertname, Status::Firing, Direction::Up, policy, value),
        repeat: false,
    }
}

/// A firing down-direction alert.
pub fn down(alertname: &str, policy: Option<&str>, value: Option<&str>) -> Trigger {
    Trigger::Down {
        signal: signal(alertname, Status::Firing, Direction::Down, policy, value),
    }
}

/// An up-direction alert that resolved.
pub fn resolved(alertname: &str, policy: Option<&str>) -> Trigger {
    Trigger::Down {
        signal: signal(alertname, Status::Resolved, Direction::Up, policy, None),
    }
}

/// `trigger` with the capacity pack's `desired` annotation.
pub fn with_desired(mut trigger: Trigger, desired: &str) -> Trigger {
    if let Trigger::Up { signal, .. } | Trigger::Down { signal } = &mut trigger {
        signal.annotations.insert("desired".into(), desired.into());
    }
    trigger
}

/// Labels that let the function sleep (`com.openfaas.scale.zero=true`), factor 20.
pub fn sleepy(min: u32, max: u32) -> ScaleLabels {
    ScaleLabels {
        zero: true,
        ..labels(min, max, 20)
    }
}

/// Stored state with a sleep (target 0) held back by these (seconds, desired) recommendations.
pub fn held_sleep(recs: &[(i64, u32)]) -> Stored {
    let mut stored = history(recs);
    stored.window.pending = Some(0);
    stored
}

/// Stored state whose stabilization history holds these (seconds, desired) recommendations.
pub fn history(recs: &[(i64, u32)]) -> Stored {
    let mut stored = Stored::default();
    stored.window.recommendations = recs
        .iter()
        .map(|(at, desired)| Recommendation {
            at: t(*at),
            desired: *desired,
        })
        .collect();
    stored
}

/// Decide at `t(now)` with this entry and config; returns the decision and the entry to store.
pub fn run(
    labels: &ScaleLabels,
    current: u32,
    trigger: &Trigger,
    entry: &Stored,
    load: Option<&Load>,
    now: i64,
    config: &PolicyConfig,
) -> (Decision, Stored) {
    let input = Input {
        labels,
        current,
        trigger,
        ledger: &entry.ledger,
        window: &entry.window,
        load,
        now: t(now),
    };
    let verdict = super::decide(&input, config);
    let next = Stored {
        ledger: entry.ledger.clone(),
        window: verdict.window,
    };
    (verdict.decision, next)
}

/// Resume a held-back scale-down at `now`; the decision and the state to store.
pub fn settle(
    labels: &ScaleLabels,
    current: u32,
    entry: &Stored,
    now: DateTime<Utc>,
    config: &PolicyConfig,
) -> Option<(Decision, Stored)> {
    let verdict = stabilize::resume(labels, current, &entry.window, now, config)?;
    let next = Stored {
        ledger: entry.ledger.clone(),
        window: verdict.window,
    };
    Some((verdict.decision, next))
}

/// Decide with no history, default config, at t(1000).
pub fn simple(labels: &ScaleLabels, current: u32, trigger: &Trigger) -> Decision {
    run(
        labels,
        current,
        trigger,
        &Stored::default(),
        None,
        1000,
        &PolicyConfig::default(),
    )
    .0
}

/// The `why` of an unchanged decision.
pub fn why(d: &Decision) -> Option<super::Why> {
    match d {
        Decision::Unchanged { why, .. } => Some(*why),
        _ => None,
    }
}
