//! The failed-authentication limiter: pure bookkeeping, time passed in.
//!
//! Constant-time comparison stops timing attacks; this limiter stops guessing. After
//! `max_failures` failed attempts from one source within `window`, that source is answered 429
//! until the window that started with its first failure has passed. A source is an IPv4 address
//! or an IPv6 /64 (one host usually owns a whole /64, so limiting single IPv6 addresses limits
//! nothing).
//!
//! Memory is bounded by `max_sources`, and a block survives any pressure: when the table is full,
//! sources whose window ended go first, then unblocked sources (oldest window first); if every
//! tracked source is blocked, a new source is not tracked (its failure is still answered 401).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked at most.
pub(crate) const MAX_SOURCES: usize = 10_000;

/// Where failures are counted: an IPv4 address, or the /64 prefix of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Source(IpAddr);

impl Source {
    /// The source `ip` counts against (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(
                    u128::from(v6) & !u128::from(u64::MAX),
                ))),
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// What became of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Counted against its source.
    Counted,
    /// The table is full of blocked sources: this source is not tracked.
    TableFull,
}

/// Counts failed authentications per source in fixed windows.
#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    max_sources: usize,
    sources: Mutex<HashMap<Source, Window>>,
}

impl AuthLimiter {
    /// Block a source after `max_failures` failures within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self::with_max_sources(max_failures, window, MAX_SOURCES)
    }

    /// As [`AuthLimiter::new`], tracking at most `max_sources` sources.
    pub(crate) fn with_max_sources(
        max_failures: u32,
        window: Duration,
        max_sources: usize,
    ) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_sources: max_sources.max(1),
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Source, Window>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_blocked(&self, w: &Window, now: Instant) -> bool {
        w.failures >= self.max_failures && now < w.start + self.window
    }

    /// `Some(retry_after)` when `ip`'s source is blocked at `now`.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let sources = self.lock();
        let w = sources.get(&Source::of(ip))?;
        self.is_blocked(w, now).then(|| w.start + self.window - now)
    }

    /// Count a failed authentication from `ip` at `now`.
    pub(crate) fn record_failure(&self, ip: IpAddr, now: Instant) -> Recorded {
        let source = Source::of(ip);
        let mut sources = self.lock();
        if !sources.contains_key(&source)
            && sources.len() >= self.max_sources
            && !self.make_room(&mut sources, now)
        {
            return Recorded::TableFull;
        }
        let w = sources.entry(source).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.saturating_duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
        Recorded::Counted
    }

    /// Free one slot without ever dropping a block: ended windows first, then the unblocked
    /// source with the oldest window. `false` when every tracked source is blocked.
    fn make_room(&self, sources: &mut HashMap<Source, Window>, now: Instant) -> bool {
        let window = self.window;
        sources.retain(|_, w| now.saturating_duration_since(w.start) < window);
        if sources.len() < self.max_sources {
            return true;
        }
        let oldest_unblocked = sources
            .iter()
            .filter(|(_, w)| !self.is_blocked(w, now))
            .min_by_key(|(_, w)| w.start)
            .map(|(k, _)| *k);
        match oldest_unblocked {
            Some(k) => {
                sources.remove(&k);
                true
            }
            None => false,
        }
    }

    /// Number of sources tracked (for tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn many(i: u32) -> IpAddr {
        IpAddr::from((0x0b00_0000 + i).to_be_bytes())
    }

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let l = AuthLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..2 {
            l.record_failure(ip(1), t0 + Duration::from_secs(i));
            assert_eq!(l.blocked(ip(1), t0 + Duration::from_secs(i)), None);
        }
        l.record_failure(ip(1), t0 + Duration::from_secs(2));
        assert_eq!(
            l.blocked(ip(1), t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(l.blocked(ip(2), t0 + Duration::from_secs(10)), None);
        assert_eq!(l.blocked(ip(1), t0 + Duration::from_secs(60)), None);
        // A new window starts from scratch.
        l.record_failure(ip(1), t0 + Duration::from_secs(61));
        assert_eq!(l.blocked(ip(1), t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn memory_is_bounded() {
        let l = AuthLimiter::with_max_sources(2, Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for i in 0..50u8 {
            l.record_failure(ip(i), t0 + Duration::from_millis(u64::from(i)));
            assert!(l.tracked() <= 4);
        }
    }

    #[test]
    fn a_block_survives_failures_from_ten_thousand_other_sources() {
        let l = AuthLimiter::with_max_sources(3, Duration::from_secs(600), 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.record_failure(ip(1), t0), Recorded::Counted);
        }
        for i in 0..10_000 {
            let at = t0 + Duration::from_millis(u64::from(i));
            l.record_failure(many(i), at);
            assert!(l.tracked() <= 100);
        }
        let later = t0 + Duration::from_secs(11);
        assert!(l.blocked(ip(1), later).is_some(), "still blocked");
        // Once the window has ended the slot is reusable and the source free again.
        assert_eq!(l.blocked(ip(1), t0 + Duration::from_secs(600)), None);
    }

    #[test]
    fn a_table_full_of_blocked_sources_refuses_new_ones_and_keeps_every_block() {
        let l = AuthLimiter::with_max_sources(1, Duration::from_secs(600), 3);
        let t0 = Instant::now();
        for i in 1..=3 {
            assert_eq!(l.record_failure(ip(i), t0), Recorded::Counted);
        }
        assert_eq!(l.record_failure(ip(9), t0), Recorded::TableFull);
        assert_eq!(l.blocked(ip(9), t0), None);
        for i in 1..=3 {
            assert!(l.blocked(ip(i), t0).is_some());
        }
        // Failures from a tracked source still count when the table is full.
        assert_eq!(l.record_failure(ip(2), t0), Recorded::Counted);
    }

    #[test]
    fn ipv6_is_limited_per_64_prefix() {
        let l = AuthLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        l.record_failure(a, t0);
        l.record_failure(b, t0);
        assert!(
            l.blocked("2001:db8:1:2::77".parse().unwrap(), t0).is_some(),
            "the whole /64 is blocked"
        );
        assert_eq!(l.blocked(other, t0), None, "the next /64 is not");
        assert_eq!(Source::of(a).to_string(), "2001:db8:1:2::/64");
        // IPv4-mapped addresses count as their IPv4 address.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of(ip(1)));
    }
}
