//! What the background passes ask of an entry between notifications: whether to follow up a firing
//! capacity alert, and whether an up alert silent for the episode TTL lost its resolution (a
//! lapse), to decide on as if it had arrived.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::Timing;
use super::entry::{Entry, Firing, Resolved, cap, prune, stamp};
use crate::alert::{Direction, Signal, Status};
use crate::config::PolicyKind;

/// What the follow-up pass does for one function.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    /// No capacity alert is firing: stop following.
    Stop,
    /// Re-decide for this firing capacity alert.
    Decide(Signal),
    /// Keep following, but decide nothing now: the alert to follow asks for a scale-down while an
    /// up alert still fires, which a notification would hold too ([`Hold::StillFiring`](super::Hold::StillFiring)).
    Hold,
}

/// What a follow-up does at `now`. It re-decides for the most recently seen firing episode whose
/// alert selected the capacity policy (its `scale_policy` label, else `default_policy`) and that
/// has not gone silent for the episode TTL (a lost resolution must not keep a function followed
/// forever), an up alert before a down one: `FunctionOverProvisioned` keeps firing for its
/// `keep_firing_for` after the load rose again, and its repeat seen after `FunctionUnderProvisioned`
/// held the follow-up of a rising load. The signal is rebuilt from the stored episode; its
/// annotations are empty (the follow-up measures the desired count from Prometheus). A scale-down
/// alert is held while an up alert (not silent for the TTL either) still fires, as [`plan`](super::plan) holds
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
    cap(&mut next, now, timing, &[]);
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
    entry.up_seen().map(|(_, at)| at).max()
}
