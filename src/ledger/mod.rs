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
//!
//! The parts: `entry` (what is stored, and its bounds), `planning` (one notification's signals →
//! trigger and next entry), `passes` (what the background passes ask of an entry: follow-ups and
//! lapses), [`episodes`] (the compact episode map) and [`folded`] (the summary of evicted ones).

use chrono::TimeDelta;

mod entry;
pub mod episodes;
pub mod folded;
mod passes;
mod planning;

pub(crate) use entry::stamp;
pub use entry::{Entry, Firing, Resolved, live_up};
pub use passes::{FollowUp, follow_up, lapsed, seen_firing, up_last_seen};
pub use planning::{Hold, Plan, START_SKEW, Trigger, plan, plan_borrowed};

/// Timing settings of the ledger.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Minimum time between two scale-ups (and between two firing-driven scale-downs) of a function.
    pub cooldown: TimeDelta,
    /// Resolved episodes are forgotten after this; firing episodes not seen again for this long expire.
    pub episode_ttl: TimeDelta,
    /// At most this many firing and this many resolved episodes are kept per function; resolved
    /// ones evicted within the cooldown are folded into a fixed-size summary ([`Folded`](folded::Folded)).
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

#[cfg(test)]
mod tests;
