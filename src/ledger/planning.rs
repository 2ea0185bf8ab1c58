//! Planning one notification: its signals against the stored entry give the trigger (up, down or
//! hold, with why) and the entry to store if the decision is applied. Episode identity lives here:
//! duplicates, repeats, stale and replayed copies, and the start skew of HA copies.

use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::Timing;
use super::entry::{Entry, Firing, Resolved, cap, prune, stamp};
use crate::alert::{Direction, Signal, Status};

/// Why a notification moves nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// The same episode was decided `ago` seconds ago, within the cooldown.
    Duplicate { ago_secs: i64 },
    /// The replicas moved this way (`up` or down) too recently for a new episode to move them.
    Cooldown { remaining_secs: i64, up: bool },
    /// A resolved notification while other alerts still fire for the function.
    StillFiring { alerts: Vec<String> },
    /// A notification for an episode older than the one we know.
    Stale,
    /// A resolved notification already applied.
    Replay,
    /// A scale-down alert (e.g. latency below target) ended: nothing to move.
    DownEnded,
}

/// What the notification asks of the function, before the policy turns it into replicas.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Scale up for this signal; `repeat` when the episode was already known (repeat_interval).
    Up { signal: Signal, repeat: bool },
    /// Scale down: a firing down-direction alert, or the last up-direction alert resolved.
    Down { signal: Signal },
    /// Move nothing.
    Hold(Hold),
}

/// The result of planning: the trigger, and the entry to store if the decision is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub trigger: Trigger,
    pub next: Entry,
}

/// Plan one notification's signals for one function.
pub fn plan(entry: &Entry, signals: &[Signal], now: DateTime<Utc>, settings: &Timing) -> Plan {
    let (trigger, next) = plan_borrowed(entry, signals, now, settings);
    Plan {
        trigger,
        next: next.into_owned(),
    }
}

/// As [`plan`], with the entry to store borrowed from `entry` while nothing changes it: a
/// duplicate (the hot path) copies no episode.
pub fn plan_borrowed<'a>(
    entry: &'a Entry,
    signals: &[Signal],
    now: DateTime<Utc>,
    settings: &Timing,
) -> (Trigger, Cow<'a, Entry>) {
    let mut next = Cow::Borrowed(entry);
    prune(&mut next, now, settings);
    let mut up: Option<(Signal, bool)> = None;
    let mut down: Option<Signal> = None;
    // The most telling hold so far (no list: a duplicate allocates nothing here).
    let mut holds: Option<Hold> = None;

    // Resolutions first: a hand-made body that carries one episode both firing and resolved then
    // means "it ended" whatever the order (AlertManager never sends both for one fingerprint).
    let resolved = signals.iter().filter(|s| s.status == Status::Resolved);
    let firing = signals.iter().filter(|s| s.status == Status::Firing);
    for signal in resolved.chain(firing) {
        let fp = &signal.episode.fingerprint;
        let starts_at = signal.episode.starts_at;
        match signal.status {
            Status::Firing => {
                // A late copy of an episode whose record the bound evicted within the cooldown.
                let unknown = !next.firing.contains_key(fp) && !next.resolved.contains_key(fp);
                if unknown
                    && next
                        .folded
                        .as_ref()
                        .is_some_and(|f| f.covers(fp, starts_at))
                {
                    hold(&mut holds, Hold::Stale);
                    continue;
                }
                if let Some(r) = next.resolved.get(fp).filter(|r| r.covers(starts_at)) {
                    if !r.lapsed {
                        hold(&mut holds, Hold::Stale);
                        continue;
                    }
                    // Still firing after the silence was decided as its end: live again, and its
                    // real resolution, when it comes, ends it.
                    next.to_mut().resolved.remove(fp);
                }
                // The open episode of this fingerprint, also when this copy starts a little earlier
                // than the stored one (see [`START_SKEW`]); much earlier is an older episode.
                let known = next
                    .firing
                    .get(fp)
                    .is_some_and(|f| same_start(f.starts_at, starts_at));
                if next
                    .firing
                    .get(fp)
                    .is_some_and(|f| older(f.starts_at, starts_at))
                {
                    hold(&mut holds, Hold::Stale);
                    continue;
                }
                // When this episode was seen within the cooldown, if it was. last_seen is refreshed
                // at most once per cooldown, so that duplicates change nothing and cost no write.
                let seen = next
                    .firing
                    .get(fp)
                    .map(|f| f.last_seen)
                    .filter(|at| known && now - *at < settings.cooldown);
                let last_seen = seen.unwrap_or(now);
                match next.firing.get(fp) {
                    // The known episode (a duplicate above all): updated in place, and copied
                    // only when something of it changes.
                    Some(f) if known => {
                        let same = f.alertname == signal.alertname
                            && f.direction == signal.direction
                            && f.last_seen == last_seen
                            && f.policy == signal.policy;
                        if !same && let Some(f) = next.to_mut().firing.get_mut(fp) {
                            if f.alertname != signal.alertname {
                                f.alertname.clone_from(&signal.alertname);
                            }
                            f.direction = signal.direction;
                            f.last_seen = last_seen;
                            f.policy = signal.policy;
                        }
                    }
                    _ => next.to_mut().firing.insert(
                        fp.clone(),
                        Firing {
                            starts_at,
                            alertname: signal.alertname.clone(),
                            direction: signal.direction,
                            last_seen,
                            policy: signal.policy,
                        },
                    ),
                }
                // A known episode seen and decided within the cooldown is a duplicate (a retry, an
                // HA copy); a new one, or a repeat after a decision for another alert, waits out
                // the cooldown since the replicas last moved that way (a decision that moved
                // nothing starts no cooldown: an idle function's FunctionOverProvisioned, decided
                // at min every repeat_interval, made every FunctionIdle repeat a "duplicate").
                let (decided, moved) = match signal.direction {
                    Direction::Up => (next.last_up, next.scaled_up),
                    Direction::Down => (next.last_down, next.scaled_down),
                };
                let recent = |at: Option<DateTime<Utc>>| {
                    at.map(|t| now - t).filter(|ago| *ago < settings.cooldown)
                };
                let held = match (known, recent(decided)) {
                    (true, Some(ago)) if seen.is_some() => Some(Hold::Duplicate {
                        ago_secs: ago.num_seconds(),
                    }),
                    (true, None) => None,
                    _ => recent(moved).map(|ago| Hold::Cooldown {
                        remaining_secs: (settings.cooldown - ago).num_seconds().max(1),
                        up: signal.direction == Direction::Up,
                    }),
                };
                match held {
                    Some(held) => hold(&mut holds, held),
                    None => match signal.direction {
                        Direction::Up => {
                            up.get_or_insert((signal.clone(), known));
                        }
                        // A firing down alert decides over an up alert's resolution in the same
                        // notification (a route grouped by function alone): it carries a
                        // measurement, the resolution only says that the up condition ended.
                        Direction::Down => {
                            if down.as_ref().is_none_or(|d| d.status == Status::Resolved) {
                                down = Some(signal.clone());
                            }
                        }
                    },
                }
            }
            Status::Resolved => {
                // The start the resolved record keeps: a later copy of the episode (another HA
                // peer's, with a later start) is then old too.
                let mut ended = starts_at;
                if let Some(f) = next.firing.get(fp) {
                    // It resolves the open episode, also from a copy that starts a little earlier
                    // (see [`START_SKEW`]), unless it is the resolution of an older episode: one
                    // that starts much earlier, is covered by a recorded resolution, or ended
                    // before the open episode started (an HA peer's late copy).
                    if older(f.starts_at, starts_at)
                        || next.resolved.get(fp).is_some_and(|r| r.covers(starts_at))
                        || signal.ends_at.is_some_and(|end| end <= f.starts_at)
                    {
                        hold(&mut holds, Hold::Stale);
                        continue;
                    }
                    ended = ended.max(f.starts_at);
                    next.to_mut().firing.remove(fp);
                } else if let Some(r) = next.resolved.get(fp) {
                    // The same episode again (another HA peer's copy, whose start may be later but
                    // still before the episode's end) is a replay; an older one's is stale.
                    if r.starts_at == starts_at
                        || r.ended_at
                            .is_some_and(|end| r.starts_at < starts_at && starts_at < end)
                    {
                        hold(&mut holds, Hold::Replay);
                        continue;
                    }
                    if r.starts_at > starts_at {
                        hold(&mut holds, Hold::Stale);
                        continue;
                    }
                }
                next.to_mut().resolved.insert(
                    fp.clone(),
                    Resolved {
                        starts_at: ended,
                        resolved_at: now,
                        ended_at: signal.ends_at,
                        lapsed: false,
                    },
                );
                match signal.direction {
                    Direction::Up => {
                        down.get_or_insert(signal.clone());
                    }
                    Direction::Down => hold(&mut holds, Hold::DownEnded),
                }
            }
        }
    }
    cap(&mut next, now, settings);

    let trigger = if let Some((signal, repeat)) = up {
        stamp(&mut next.to_mut().last_up, now);
        Trigger::Up { signal, repeat }
    } else if let Some(signal) = down {
        // Named only here: a duplicate (the hot path) copies no alert names.
        let still_firing = next.firing_up();
        if still_firing.is_empty() {
            stamp(&mut next.to_mut().last_down, now);
            Trigger::Down { signal }
        } else {
            Trigger::Hold(Hold::StillFiring {
                alerts: still_firing,
            })
        }
    } else {
        Trigger::Hold(holds.unwrap_or(Hold::Replay))
    };
    (trigger, next)
}

/// How much earlier than the stored firing episode a copy may start and still be that episode.
/// AlertManager keeps the earliest startsAt when it merges copies of an alert, and HA Prometheus
/// replicas start the same alert up to about an evaluation interval apart: so one episode can
/// arrive from two HA AlertManagers with different starts, or move earlier while it fires. A copy
/// that starts earlier still is an older episode (a late retry), as is one that starts no later
/// than a resolved episode of the fingerprint.
pub const START_SKEW: TimeDelta = TimeDelta::seconds(120);

/// Whether a copy starting at `copy` is the episode stored as starting at `stored`.
fn same_start(stored: DateTime<Utc>, copy: DateTime<Utc>) -> bool {
    copy <= stored && !older(stored, copy)
}

/// Whether a copy starting at `copy` is from an episode before the one stored as starting at
/// `stored`.
fn older(stored: DateTime<Utc>, copy: DateTime<Utc>) -> bool {
    stored - copy > START_SKEW
}

/// When several signals hold, keep the most telling reason (the first of equal rank).
fn hold(best: &mut Option<Hold>, h: Hold) {
    let rank = |h: &Hold| match h {
        Hold::Cooldown { .. } => 0,
        Hold::Duplicate { .. } => 1,
        Hold::StillFiring { .. } => 2,
        Hold::DownEnded => 3,
        Hold::Replay => 4,
        Hold::Stale => 5,
    };
    if best.as_ref().is_none_or(|b| rank(&h) < rank(b)) {
        *best = Some(h);
    }
}
