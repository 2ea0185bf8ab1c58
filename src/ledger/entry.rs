//! What the ledger stores about one function: its firing and resolved episodes, the summary of
//! those the bound evicted, and when it last decided and moved each way; and how an entry is kept
//! small (pruned after the TTL, capped at `max_episodes` of each kind).

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Timing;
use super::episodes::Episodes;
use super::folded::Folded;
use crate::alert::{Direction, EpisodeKey, Signal, Status};
use crate::config::PolicyKind;

/// An episode that is firing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub starts_at: DateTime<Utc>,
    pub alertname: String,
    pub direction: Direction,
    pub last_seen: DateTime<Utc>,
    /// The policy the alert selected (`scale_policy`), when it named one: a capacity alert is
    /// followed up between notifications ([`follow_up`](super::follow_up)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
}

impl Firing {
    /// The signal of this stored episode, rebuilt for a background decision: without annotations
    /// (a follow-up measures the desired count from Prometheus; a lapse has none to give).
    pub(super) fn signal(&self, fingerprint: &str, status: Status) -> Signal {
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
    /// Recorded by [`lapsed`](super::lapsed), not by a resolution: the episode only went silent for the TTL. Its
    /// resolution arriving after all is a replay, but a firing copy of it is AlertManager's next
    /// repeat (a retry never comes a TTL of silence late): it fires again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lapsed: bool,
}

impl Resolved {
    /// Whether a copy starting at `starts_at` is of this resolved episode (or an older one).
    pub(super) fn covers(&self, starts_at: DateTime<Utc>) -> bool {
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
    /// one is still `stale` ([`folded`](super::folded)).
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
    /// waits for it (its resolution decides again), as a resolution does ([`Hold::StillFiring`](super::Hold::StillFiring)).
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

/// Record a decision at `now`, unless one was recorded later: a trigger that read its clock before
/// waiting for the function's lock (another replica's clock, a pass that read it early) never
/// moves the last decision back, which would end the cooldown and the duplicate window early.
pub(crate) fn stamp(at: &mut Option<DateTime<Utc>>, now: DateTime<Utc>) {
    *at = Some(at.map_or(now, |t| t.max(now)));
}

/// Forget resolved episodes and silent firing episodes older than the TTL, and the summary of
/// evicted ones a cooldown after its last fold (the entry is copied only when there is something
/// to forget).
pub(super) fn prune(entry: &mut Cow<'_, Entry>, now: DateTime<Utc>, settings: &Timing) {
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

/// Bound the entry's size: drop the oldest episodes beyond `max_episodes` of each kind, those the
/// notification being decided names (`current`: its signals) last, since a copy of it judged by
/// them would otherwise find them gone and act again. A resolved episode evicted within the
/// cooldown of its resolution (one notification resolved more than the bound), or named by the
/// notification, is folded into the fixed-size summary, so that a late firing copy of it, or a
/// stale copy beside it, stays `stale`; older ones, and lapsed ones (whose firing copy fires
/// again), are only dropped.
pub(super) fn cap(
    entry: &mut Cow<'_, Entry>,
    now: DateTime<Utc>,
    settings: &Timing,
    current: &[Signal],
) {
    let max = settings.max_episodes;
    if entry.resolved.len() <= max && entry.firing.len() <= max {
        return;
    }
    // The earliest start of the notification's copies of each fingerprint it names.
    let mut named: HashMap<&str, DateTime<Utc>> = HashMap::with_capacity(current.len());
    for s in current {
        let start = named
            .entry(s.episode.fingerprint.as_str())
            .or_insert(s.episode.starts_at);
        *start = (*start).min(s.episode.starts_at);
    }
    let entry = entry.to_mut();
    let evicted = evict_oldest(&mut entry.resolved, max, |fp, r| {
        (named.contains_key(fp), r.resolved_at)
    });
    for (fp, r) in evicted {
        let copy_from = named.get(fp.as_str()).copied();
        if !r.lapsed && (copy_from.is_some() || now - r.resolved_at < settings.cooldown) {
            entry.folded = Some(Folded::fold(entry.folded.take(), &fp, &r, now, copy_from));
        }
    }
    evict_oldest(&mut entry.firing, max, |fp, f| {
        (named.contains_key(fp), f.last_seen)
    });
}

/// Remove the episodes beyond `max` that `age` puts first (the oldest), returning them.
fn evict_oldest<V, K: Ord>(
    map: &mut Episodes<V>,
    max: usize,
    age: impl Fn(&str, &V) -> K,
) -> Vec<(String, V)> {
    let mut evicted = Vec::new();
    while map.len() > max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(fp, v)| age(fp, v))
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
