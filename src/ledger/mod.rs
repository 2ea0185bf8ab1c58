//! Per-function memory of alert episodes: deduplication, cooldown and "is anything still firing".
//!
//! Pure: the current entry, the notification's signals and `now` go in; the entry to store next and
//! the trigger (up, down or hold, with why) come out. The service stores the new entry only when the
//! decision was applied, so a failed write is retried as if it never happened.
//!
//! An episode is (fingerprint, startsAt). The same episode again within the cooldown is a duplicate
//! (an AlertManager retry or its HA peer); after the cooldown it is a repeat (repeat_interval) and
//! steps again, which keeps OpenFaaS CE's ramp-up. A copy that starts up to [`START_SKEW`] earlier
//! than the stored firing episode of its fingerprint is that episode (AlertManager keeps the
//! earliest start when it merges copies from HA Prometheus replicas).

use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Direction, EpisodeKey, Signal, Status};
use crate::config::PolicyKind;
pub mod episodes;
pub mod folded;

use episodes::Episodes;
use folded::Folded;

/// Timing settings of the ledger.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Minimum time between two scale-ups (and between two firing-driven scale-downs) of a function.
    pub cooldown: TimeDelta,
    /// Resolved episodes are forgotten after this; firing episodes not seen again for this long expire.
    pub episode_ttl: TimeDelta,
    /// At most this many firing and this many resolved episodes are kept per function; resolved
    /// ones evicted within the cooldown are folded into a fixed-size summary ([`Folded`]).
    pub max_episodes: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            cooldown: TimeDelta::seconds(20),
            episode_ttl: TimeDelta::hours(1),
            max_episodes: 32,
        }
    }
}

/// An episode that is firing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub starts_at: DateTime<Utc>,
    pub alertname: String,
    pub direction: Direction,
    pub last_seen: DateTime<Utc>,
    /// The policy the alert selected (`scale_policy`), when it named one: a capacity alert is
    /// followed up between notifications ([`follow_up`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
}

impl Firing {
    /// The signal of this stored episode, rebuilt for a background decision: without annotations
    /// (a follow-up measures the desired count from Prometheus; a lapse has none to give).
    fn signal(&self, fingerprint: &str, status: Status) -> Signal {
        Signal {
            alertname: self.alertname.clone(),
            status,
            direction: self.direction,
            policy: self.policy,
            episode: EpisodeKey {
                fingerprint: fingerprint.to_owned(),
                starts_at: self.starts_at,
            },
            ends_at: None,
            annotations: Default::default(),
        }
    }
}

/// An episode that has resolved, kept to recognise replays and stale notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub starts_at: DateTime<Utc>,
    pub resolved_at: DateTime<Utc>,
    /// When the episode ended (its resolution's `endsAt`): the fingerprint's next episode starts
    /// after it, so a copy that starts before it is this episode's (an HA peer's, whose start may
    /// be an evaluation interval later). `None` for a resolution without one, and in state stored
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Recorded by [`lapsed`], not by a resolution: the episode only went silent for the TTL. Its
    /// resolution arriving after all is a replay, but a firing copy of it is AlertManager's next
    /// repeat (a retry never comes a TTL of silence late): it fires again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lapsed: bool,
}

impl Resolved {
    /// Whether a copy starting at `starts_at` is of this resolved episode (or an older one).
    fn covers(&self, starts_at: DateTime<Utc>) -> bool {
        self.starts_at >= starts_at || self.ended_at.is_some_and(|end| starts_at < end)
    }
}

/// The alert episodes remembered about one function. Small and serialisable: a backend stores it
/// beside the function (with the policy layer's stabilization window, see
/// [`crate::stored::Stored`]) and writes it together with the replica count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// Firing episodes by fingerprint.
    pub firing: Episodes<Firing>,
    /// Resolved episodes by fingerprint.
    pub resolved: Episodes<Resolved>,
    /// Resolved episodes the bound evicted within the cooldown, summarised: a late firing copy of
    /// one is still `stale` ([`folded`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded: Option<Folded>,
    /// When a scale-up was last triggered (decided, whether or not it moved anything): a known
    /// episode within the cooldown of this is a duplicate.
    pub last_up: Option<DateTime<Utc>>,
    /// When a scale-down was last triggered.
    pub last_down: Option<DateTime<Utc>>,
    /// When the replicas last went up / down, whatever moved them (a notification, the settle pass, a
    /// follow-up); set by the service when it writes the move. A new episode waits out the cooldown
    /// since these; the latency policy's hold reads them too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaled_up: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaled_down: Option<DateTime<Utc>>,
}

impl Entry {
    /// Number of episodes remembered (for the ledger-size metric).
    pub fn len(&self) -> usize {
        self.firing.len() + self.resolved.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an up alert fires that has not gone silent for the episode TTL: a held scale-down
    /// waits for it (its resolution decides again), as a resolution does ([`Hold::StillFiring`]).
    pub fn fires_up(&self, now: DateTime<Utc>, timing: &Timing) -> bool {
        self.firing
            .values()
            .any(|f| f.direction == Direction::Up && now - f.last_seen < timing.episode_ttl)
    }

    /// Names of the up-direction alerts firing, as stored (silent ones included).
    pub fn firing_up(&self) -> Vec<String> {
        live_up(self.up_seen(), None)
    }

    /// Each up-direction alert firing, as stored, with when it was last seen.
    pub fn up_seen(&self) -> impl Iterator<Item = (&str, DateTime<Utc>)> {
        self.firing
            .values()
            .filter(|f| f.direction == Direction::Up)
            .map(|f| (f.alertname.as_str(), f.last_seen))
    }
}

/// The names in `seen` (alert name, last seen) of the alerts still firing when those last seen at
/// or before `silent_before` (now − the episode TTL; `None`: none) have gone silent: a silent one
/// holds nothing ([`Entry::fires_up`]) and is stored only until the settle pass decides on its lost
/// resolution, so a listing leaves it out. Sorted, each name once.
pub fn live_up<'a>(
    seen: impl IntoIterator<Item = (&'a str, DateTime<Utc>)>,
    silent_before: Option<DateTime<Utc>>,
) -> Vec<String> {
    let mut names: Vec<String> = seen
        .into_iter()
        .filter(|&(_, at)| silent_before.is_none_or(|before| at > before))
        .map(|(name, _)| name.to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

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

/// Record a decision at `now`, unless one was recorded later: a trigger that read its clock before
/// waiting for the function's lock (another replica's clock, a pass that read it early) never
/// moves the last decision back, which would end the cooldown and the duplicate window early.
pub(crate) fn stamp(at: &mut Option<DateTime<Utc>>, now: DateTime<Utc>) {
    *at = Some(at.map_or(now, |t| t.max(now)));
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

/// What the follow-up pass does for one function.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    /// No capacity alert is firing: stop following.
    Stop,
    /// Re-decide for this firing capacity alert.
    Decide(Signal),
    /// Keep following, but decide nothing now: the alert to follow asks for a scale-down while an
    /// up alert still fires, which a notification would hold too ([`Hold::StillFiring`]).
    Hold,
}

/// What a follow-up does at `now`. It re-decides for the most recently seen firing episode whose
/// alert selected the capacity policy (its `scale_policy` label, else `default_policy`) and that
/// has not gone silent for the episode TTL (a lost resolution must not keep a function followed
/// forever), an up alert before a down one: `FunctionOverProvisioned` keeps firing for its
/// `keep_firing_for` after the load rose again, and its repeat seen after `FunctionUnderProvisioned`
/// held the follow-up of a rising load. The signal is rebuilt from the stored episode; its
/// annotations are empty (the follow-up measures the desired count from Prometheus). A scale-down
/// alert is held while an up alert (not silent for the TTL either) still fires, as [`plan`] holds
/// its notification.
pub fn follow_up(
    entry: &Entry,
    now: DateTime<Utc>,
    timing: &Timing,
    default_policy: PolicyKind,
) -> FollowUp {
    let live = |f: &&Firing| now - f.last_seen < timing.episode_ttl;
    let Some((fingerprint, f)) = entry
        .firing
        .iter()
        .filter(|(_, f)| f.policy.unwrap_or(default_policy) == PolicyKind::Capacity)
        .filter(|(_, f)| live(f))
        .max_by_key(|(_, f)| (f.direction == Direction::Up, f.last_seen))
    else {
        return FollowUp::Stop;
    };
    if f.direction == Direction::Down && entry.fires_up(now, timing) {
        return FollowUp::Hold;
    }
    FollowUp::Decide(f.signal(fingerprint, Status::Firing))
}

/// A resolution that never came: when every up-direction alert firing for the function has gone
/// silent for the episode TTL (AlertManager repeats a firing alert every repeat_interval, so an
/// episode not seen for that long lost its resolution, e.g. while alertscaler was unreachable), the
/// resolution of the last one seen, to decide on as if it had arrived, and the entry without the
/// silent episodes, to store with that decision. `None` while any up alert is still seen, or when
/// none has gone silent. Down-direction episodes decide nothing when they lapse (their end moves
/// nothing) and are only forgotten.
pub fn lapsed(entry: &Entry, now: DateTime<Utc>, timing: &Timing) -> Option<(Signal, Entry)> {
    if entry.fires_up(now, timing) {
        return None;
    }
    let (fingerprint, f) = entry
        .firing
        .iter()
        .filter(|(_, f)| f.direction == Direction::Up)
        .max_by_key(|(_, f)| f.last_seen)?;
    let signal = f.signal(fingerprint, Status::Resolved);
    // Each silent up episode is recorded as resolved, so that its resolution, should it still
    // arrive, is a replay.
    let mut next: Cow<'_, Entry> = Cow::Owned(entry.clone());
    let silent: Vec<_> = entry
        .firing
        .iter()
        .filter(|(_, f)| f.direction == Direction::Up)
        .map(|(fp, f)| (fp.clone(), f.starts_at))
        .collect();
    for (fp, starts_at) in silent {
        next.to_mut().resolved.insert(
            fp,
            Resolved {
                starts_at,
                resolved_at: now,
                ended_at: None,
                lapsed: true,
            },
        );
    }
    prune(&mut next, now, timing);
    cap(&mut next, now, timing);
    stamp(&mut next.to_mut().last_down, now);
    Some((signal, next.into_owned()))
}

/// The entry with the up-direction episodes of `alertnames` seen at `now`: Prometheus still holds
/// them firing (AlertManager repeats them less often than the episode TTL), so no resolution was
/// lost, and [`lapsed`] asks again one TTL later.
pub fn seen_firing(entry: &Entry, alertnames: &[String], now: DateTime<Utc>) -> Entry {
    let mut next = entry.clone();
    for f in next.firing.values_mut() {
        if f.direction == Direction::Up && alertnames.contains(&f.alertname) {
            f.last_seen = now;
        }
    }
    next
}

/// When the last up-direction alert firing for the function was seen (`None`: none fires): once
/// this is the episode TTL old, [`lapsed`] decides on its lost resolution.
pub fn up_last_seen(entry: &Entry) -> Option<DateTime<Utc>> {
    entry
        .firing
        .values()
        .filter(|f| f.direction == Direction::Up)
        .map(|f| f.last_seen)
        .max()
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

/// Forget resolved episodes and silent firing episodes older than the TTL, and the summary of
/// evicted ones a cooldown after its last fold (the entry is copied only when there is something
/// to forget).
fn prune(entry: &mut Cow<'_, Entry>, now: DateTime<Utc>, settings: &Timing) {
    let keep_resolved = |r: &Resolved| now - r.resolved_at < settings.episode_ttl;
    let keep_firing = |f: &Firing| now - f.last_seen < settings.episode_ttl;
    let forget_folded = |f: &Option<Folded>| {
        f.as_ref()
            .is_some_and(|f| f.expired(now, settings.cooldown))
    };
    let forgets = entry.resolved.iter().any(|(_, r)| !keep_resolved(r))
        || entry.firing.iter().any(|(_, f)| !keep_firing(f))
        || forget_folded(&entry.folded);
    if forgets {
        let entry = entry.to_mut();
        entry.resolved.retain(|_, r| keep_resolved(r));
        entry.firing.retain(|_, f| keep_firing(f));
        if forget_folded(&entry.folded) {
            entry.folded = None;
        }
    }
}

/// Bound the entry's size: drop the oldest episodes beyond `max_episodes` of each kind. A resolved
/// episode evicted within the cooldown of its resolution (one notification resolved more than the
/// bound) is folded into the fixed-size summary, so that a late firing copy of it stays `stale`;
/// older ones, and lapsed ones (whose firing copy fires again), are only dropped.
fn cap(entry: &mut Cow<'_, Entry>, now: DateTime<Utc>, settings: &Timing) {
    let max = settings.max_episodes;
    if entry.resolved.len() <= max && entry.firing.len() <= max {
        return;
    }
    let entry = entry.to_mut();
    for (fp, r) in evict_oldest(&mut entry.resolved, max, |r| r.resolved_at) {
        if !r.lapsed && now - r.resolved_at < settings.cooldown {
            entry.folded = Some(Folded::fold(entry.folded.take(), &fp, &r, now));
        }
    }
    evict_oldest(&mut entry.firing, max, |f| f.last_seen);
}

/// Remove the oldest episodes beyond `max`, returning them.
fn evict_oldest<V>(
    map: &mut Episodes<V>,
    max: usize,
    age: impl Fn(&V) -> DateTime<Utc>,
) -> Vec<(String, V)> {
    let mut evicted = Vec::new();
    while map.len() > max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(v) = map.remove(&oldest) {
            evicted.push((oldest, v));
        }
    }
    evicted
}

#[cfg(test)]
mod tests;
