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
    let mut planner = Planner::new(entry, now, *settings);
    // Resolutions first: a hand-made body that carries one episode both firing and resolved then
    // means "it ended" whatever the order (AlertManager never sends both for one fingerprint).
    let resolved = signals.iter().filter(|s| s.status == Status::Resolved);
    let firing = signals.iter().filter(|s| s.status == Status::Firing);
    for signal in resolved.chain(firing) {
        match signal.status {
            Status::Firing => planner.firing(signal),
            Status::Resolved => planner.resolved(signal),
        }
    }
    planner.finish(signals)
}

/// One notification being planned: the entry as the signals so far left it, and what they chose.
struct Planner<'a> {
    next: Cow<'a, Entry>,
    now: DateTime<Utc>,
    settings: Timing,
    /// The up signal that decides, and whether its episode was already known (a repeat).
    up: Option<(Signal, bool)>,
    down: Option<Signal>,
    /// The most telling hold so far (no list: a duplicate allocates nothing here).
    held: Option<Hold>,
}

impl<'a> Planner<'a> {
    fn new(entry: &'a Entry, now: DateTime<Utc>, settings: Timing) -> Self {
        let mut next = Cow::Borrowed(entry);
        prune(&mut next, now, &settings);
        Self {
            next,
            now,
            settings,
            up: None,
            down: None,
            held: None,
        }
    }

    /// A firing signal: a stale copy holds; otherwise its episode is recorded, and it holds as a
    /// duplicate or in cooldown, or asks to move.
    fn firing(&mut self, signal: &Signal) {
        let fp = &signal.episode.fingerprint;
        let starts_at = signal.episode.starts_at;
        if self.stale_firing(fp, starts_at) {
            self.hold(Hold::Stale);
            return;
        }
        // The open episode of this fingerprint, also when this copy starts a little earlier
        // than the stored one (see [`START_SKEW`]); much earlier is an older episode.
        let known = self
            .next
            .firing
            .get(fp)
            .is_some_and(|f| same_start(f.starts_at, starts_at));
        let seen = self.record_firing(signal, known);
        match self.firing_hold(signal.direction, known, seen) {
            Some(held) => self.hold(held),
            None => self.choose_firing(signal, known),
        }
    }

    /// Whether a firing copy is of an episode older than the one known. A lapsed resolution that
    /// covers it is dropped instead, the episode live again.
    fn stale_firing(&mut self, fp: &str, starts_at: DateTime<Utc>) -> bool {
        let next = &self.next;
        // A late copy of an episode whose record the bound evicted within the cooldown.
        let unknown = !next.firing.contains_key(fp) && !next.resolved.contains_key(fp);
        if unknown
            && next
                .folded
                .as_ref()
                .is_some_and(|f| f.covers(fp, starts_at))
        {
            return true;
        }
        if let Some(r) = next.resolved.get(fp).filter(|r| r.covers(starts_at)) {
            if !r.lapsed {
                return true;
            }
            // Still firing after the silence was decided as its end: live again, and its real
            // resolution, when it comes, ends it.
            self.next.to_mut().resolved.remove(fp);
        }
        self.next
            .firing
            .get(fp)
            .is_some_and(|f| older(f.starts_at, starts_at))
    }

    /// Update the known episode or insert a new one; returns when the episode was seen within
    /// the cooldown, if it was.
    fn record_firing(&mut self, signal: &Signal, known: bool) -> Option<DateTime<Utc>> {
        let fp = &signal.episode.fingerprint;
        let now = self.now;
        // When this episode was seen within the cooldown, if it was. last_seen is refreshed at
        // most once per cooldown, so that duplicates change nothing and cost no write.
        let seen = self
            .next
            .firing
            .get(fp)
            .map(|f| f.last_seen)
            .filter(|at| known && now - *at < self.settings.cooldown);
        let last_seen = seen.unwrap_or(now);
        match self.next.firing.get(fp) {
            // The known episode (a duplicate above all): updated in place, and copied only when
            // something of it changes.
            Some(f) if known => {
                let same = f.alertname == signal.alertname
                    && f.direction == signal.direction
                    && f.last_seen == last_seen
                    && f.policy == signal.policy;
                if !same && let Some(f) = self.next.to_mut().firing.get_mut(fp) {
                    if f.alertname != signal.alertname {
                        f.alertname.clone_from(&signal.alertname);
                    }
                    f.direction = signal.direction;
                    f.last_seen = last_seen;
                    f.policy = signal.policy;
                }
            }
            _ => self.next.to_mut().firing.insert(
                fp.clone(),
                Firing {
                    starts_at: signal.episode.starts_at,
                    alertname: signal.alertname.clone(),
                    direction: signal.direction,
                    last_seen,
                    policy: signal.policy,
                },
            ),
        }
        seen
    }

    /// Why a recorded firing signal moves nothing, if it does not.
    fn firing_hold(
        &self,
        direction: Direction,
        known: bool,
        seen: Option<DateTime<Utc>>,
    ) -> Option<Hold> {
        // A known episode seen and decided within the cooldown is a duplicate (a retry, an HA
        // copy); a new one, or a repeat after a decision for another alert, waits out the
        // cooldown since the replicas last moved that way (a decision that moved nothing starts
        // no cooldown: an idle function's FunctionOverProvisioned, decided at min every
        // repeat_interval, made every FunctionIdle repeat a "duplicate").
        let (decided, moved) = match direction {
            Direction::Up => (self.next.last_up, self.next.scaled_up),
            Direction::Down => (self.next.last_down, self.next.scaled_down),
        };
        let cooldown = self.settings.cooldown;
        let recent =
            |at: Option<DateTime<Utc>>| at.map(|t| self.now - t).filter(|ago| *ago < cooldown);
        match (known, recent(decided)) {
            (true, Some(ago)) if seen.is_some() => Some(Hold::Duplicate {
                ago_secs: ago.num_seconds(),
            }),
            (true, None) => None,
            _ => recent(moved).map(|ago| Hold::Cooldown {
                remaining_secs: (cooldown - ago).num_seconds().max(1),
                up: direction == Direction::Up,
            }),
        }
    }

    /// A firing signal that asks to move: the first up decides, and a down over a resolution.
    fn choose_firing(&mut self, signal: &Signal, known: bool) {
        match signal.direction {
            Direction::Up => {
                self.up.get_or_insert((signal.clone(), known));
            }
            // A firing down alert decides over an up alert's resolution in the same notification
            // (a route grouped by function alone): it carries a measurement, the resolution only
            // says that the up condition ended.
            Direction::Down => {
                if self
                    .down
                    .as_ref()
                    .is_none_or(|d| d.status == Status::Resolved)
                {
                    self.down = Some(signal.clone());
                }
            }
        }
    }

    /// A resolved signal: a stale or replayed copy holds; otherwise the episode ends, and the end
    /// of an up episode asks to scale down.
    fn resolved(&mut self, signal: &Signal) {
        let ended = match self.end(signal) {
            Ok(ended) => ended,
            Err(held) => {
                self.hold(held);
                return;
            }
        };
        self.next.to_mut().resolved.insert(
            signal.episode.fingerprint.clone(),
            Resolved {
                starts_at: ended,
                resolved_at: self.now,
                ended_at: signal.ends_at,
                lapsed: false,
            },
        );
        match signal.direction {
            Direction::Up => {
                self.down.get_or_insert(signal.clone());
            }
            Direction::Down => self.hold(Hold::DownEnded),
        }
    }

    /// The start the resolved record of the signal's episode keeps, closing its open episode; or
    /// why the resolution is of an older episode or already applied.
    fn end(&mut self, signal: &Signal) -> Result<DateTime<Utc>, Hold> {
        let fp = &signal.episode.fingerprint;
        let starts_at = signal.episode.starts_at;
        // The start the resolved record keeps: a later copy of the episode (another HA peer's,
        // with a later start) is then old too.
        let mut ended = starts_at;
        if let Some(f) = self.next.firing.get(fp) {
            // It resolves the open episode, also from a copy that starts a little earlier (see
            // [`START_SKEW`]), unless it is the resolution of an older episode: one that starts
            // much earlier, is covered by a recorded resolution, or ended before the open
            // episode started (an HA peer's late copy).
            if older(f.starts_at, starts_at)
                || self
                    .next
                    .resolved
                    .get(fp)
                    .is_some_and(|r| r.covers(starts_at))
                || signal.ends_at.is_some_and(|end| end <= f.starts_at)
            {
                return Err(Hold::Stale);
            }
            ended = ended.max(f.starts_at);
            self.next.to_mut().firing.remove(fp);
        } else if let Some(r) = self.next.resolved.get(fp) {
            // The same episode again (another HA peer's copy, whose start may be later but still
            // before the episode's end) is a replay; an older one's is stale.
            if r.starts_at == starts_at
                || r.ended_at
                    .is_some_and(|end| r.starts_at < starts_at && starts_at < end)
            {
                return Err(Hold::Replay);
            }
            if r.starts_at > starts_at {
                return Err(Hold::Stale);
            }
        }
        Ok(ended)
    }

    /// The trigger the signals chose, and the entry to store: bounded, and stamped with the
    /// decision's direction.
    fn finish(mut self, signals: &[Signal]) -> (Trigger, Cow<'a, Entry>) {
        let (next, now) = (&mut self.next, self.now);
        cap(next, now, &self.settings, signals);
        let trigger = if let Some((signal, repeat)) = self.up {
            stamp(&mut next.to_mut().last_up, now);
            Trigger::Up { signal, repeat }
        } else if let Some(signal) = self.down {
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
            Trigger::Hold(self.held.unwrap_or(Hold::Replay))
        };
        (trigger, self.next)
    }

    /// When several signals hold, keep the most telling reason (the first of equal rank).
    fn hold(&mut self, h: Hold) {
        let rank = |h: &Hold| match h {
            Hold::Cooldown { .. } => 0,
            Hold::Duplicate { .. } => 1,
            Hold::StillFiring { .. } => 2,
            Hold::DownEnded => 3,
            Hold::Replay => 4,
            Hold::Stale => 5,
        };
        if self.held.as_ref().is_none_or(|b| rank(&h) < rank(b)) {
            self.held = Some(h);
        }
    }
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
