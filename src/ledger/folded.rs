//! Resolved episodes the per-function bound evicted while a late copy of them may still come.
//!
//! An entry keeps at most [`super::Timing::max_episodes`] resolved records, so that it stays small
//! (the Kubernetes backend writes it into a ConfigMap, refusing above 16 KiB). One notification can
//! resolve more than that for one function (a noisy rule, a group by function), and the records
//! the bound evicted lost what makes a late firing copy of their episode (an AlertManager retry, an
//! HA peer's copy) `stale`: it stepped as a new episode. The evicted records that are younger than
//! the cooldown — the window in which retries and HA copies arrive, as for duplicates — are folded
//! into one fixed-size summary instead: the range of their starts and ends, and a Bloom filter of
//! their fingerprints. A copy is covered when its fingerprint is in the filter and it starts within
//! the range, before the latest end. The summary is forgotten one cooldown after the last fold.
//! A record the notification being decided names is evicted last, and if it still goes, it is
//! folded whatever its age, its range reaching back to that notification's earliest copy of it:
//! a copy the record made `stale` stays so when the same notification comes again.
//!
//! A Bloom filter has no false negatives (every folded episode stays covered, however many were
//! folded) and a few false positives: a fingerprint never seen, starting within the range, may be
//! taken for a folded one while the summary lives. Its next repeat after that decides again, so
//! the cost is at most one cooldown's delay, and only after a notification that overflowed the
//! bound.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;

use super::{Resolved, START_SKEW};

/// Bits in the filter: 512 (64 bytes). With 3 bits per fingerprint, a fingerprint never folded is
/// taken for one with a chance of about 0.01 % after 8 folds, 0.5 % after 32, 3 % after 64 (and
/// only when it also starts within the folded range).
const WORDS: usize = 8;
const BITS: u64 = (WORDS * 64) as u64;

/// Resolved episodes evicted by the bound within the cooldown, as one fixed-size summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Folded {
    /// When the last episode was folded in: the summary is forgotten one cooldown after.
    pub at: DateTime<Utc>,
    /// The earliest start of the folded episodes.
    pub from: DateTime<Utc>,
    /// The latest end of the folded episodes (their `endsAt`; without one, just after their
    /// start): a copy that starts before it may be of a folded episode.
    pub until: DateTime<Utc>,
    /// The Bloom filter of the folded fingerprints.
    pub bits: [u64; WORDS],
}

impl Folded {
    /// `summary` with one more evicted resolved episode folded in at `now`; `copy_from`: the
    /// earliest start of a copy of its fingerprint in the notification that evicted it (a copy of an
    /// older episode, stale by this record, must stay covered).
    pub fn fold(
        summary: Option<Self>,
        fingerprint: &str,
        r: &Resolved,
        now: DateTime<Utc>,
        copy_from: Option<DateTime<Utc>>,
    ) -> Self {
        let from = copy_from.map_or(r.starts_at, |c| c.min(r.starts_at));
        // A record without an end covers copies that start no later than it (see
        // `Resolved::covers`).
        let until = r
            .ended_at
            .unwrap_or(r.starts_at)
            .max(r.starts_at + TimeDelta::nanoseconds(1));
        let mut next = summary.unwrap_or(Self {
            at: now,
            from,
            until,
            bits: [0; WORDS],
        });
        next.at = next.at.max(now);
        next.from = next.from.min(from);
        next.until = next.until.max(until);
        for bit in positions(fingerprint) {
            next.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        next
    }

    /// Whether a copy of `fingerprint` starting at `starts_at` may be of a folded episode.
    pub fn covers(&self, fingerprint: &str, starts_at: DateTime<Utc>) -> bool {
        self.from - START_SKEW <= starts_at
            && starts_at < self.until
            && positions(fingerprint)
                .into_iter()
                .all(|bit| self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Whether the summary is past its use at `now` (`horizon`: the cooldown).
    pub fn expired(&self, now: DateTime<Utc>, horizon: TimeDelta) -> bool {
        now - self.at >= horizon
    }
}

/// The filter's three bits for a fingerprint: FNV-1a 64 of it (stable across versions, as the
/// summary is stored), cut into three 9-bit pieces.
fn positions(fingerprint: &str) -> [u64; 3] {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(fingerprint.as_bytes());
    let h = hasher.finish();
    [h % BITS, (h >> 21) % BITS, (h >> 42) % BITS]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn resolved(starts: i64, ends: Option<i64>) -> Resolved {
        Resolved {
            starts_at: t(starts),
            resolved_at: t(100),
            ended_at: ends.map(t),
            lapsed: false,
        }
    }

    #[test]
    fn covers_every_folded_episode_within_its_range_and_few_others() {
        let mut summary = None;
        let folded: Vec<String> = (0..200).map(|i| format!("{i:016x}")).collect();
        for fp in &folded {
            summary = Some(Folded::fold(
                summary,
                fp,
                &resolved(10, Some(90)),
                t(100),
                None,
            ));
        }
        let summary = summary.unwrap();
        for fp in &folded {
            assert!(summary.covers(fp, t(10)), "{fp}");
            assert!(summary.covers(fp, t(89)), "an HA copy starting later: {fp}");
            assert!(
                !summary.covers(fp, t(90)),
                "the next episode starts at the end: {fp}"
            );
            assert!(!summary.covers(fp, t(10) - START_SKEW - TimeDelta::seconds(1)));
        }
        // With few folds, fingerprints never folded are rarely covered.
        let mut few = None;
        for fp in &folded[..8] {
            few = Some(Folded::fold(few, fp, &resolved(10, Some(90)), t(100), None));
        }
        let few = few.unwrap();
        let others = (1000..3000)
            .filter(|i| few.covers(&format!("{i:016x}"), t(10)))
            .count();
        assert!(others < 20, "{others} of 2000 covered");
    }

    #[test]
    fn without_an_end_covers_copies_starting_no_later_and_expires_after_the_horizon() {
        let summary = Folded::fold(None, "a", &resolved(10, None), t(100), None);
        assert!(summary.covers("a", t(10)));
        assert!(!summary.covers("a", t(11)));
        let horizon = TimeDelta::seconds(20);
        assert!(!summary.expired(t(119), horizon));
        assert!(summary.expired(t(120), horizon));
        let json = serde_json::to_string(&summary).unwrap();
        assert_eq!(serde_json::from_str::<Folded>(&json).unwrap(), summary);
    }

    #[test]
    fn a_record_folded_beside_an_older_copy_covers_that_copy_too() {
        // A copy starting before the record's start, by more than the skew of HA copies.
        let old = t(300) - START_SKEW - TimeDelta::seconds(100);
        let record = resolved(300, Some(400));
        let alone = Folded::fold(None, "a", &record, t(500), None);
        assert!(
            !alone.covers("a", old),
            "a copy of an older episode is not of it"
        );
        let beside = Folded::fold(None, "a", &record, t(500), Some(old));
        assert!(beside.covers("a", old));
        assert!(beside.covers("a", t(300)));
        assert!(
            !beside.covers("a", t(400)),
            "the next episode starts at the end"
        );
        // A copy named in the notification after the record's start leaves the range as it was.
        let later = Folded::fold(None, "a", &record, t(500), Some(t(350)));
        assert_eq!(later, alone);
    }
}
