//! Request limits: a per-source-IP limit on failed authentications and a request timeout.
//!
//! Constant-time comparison stops timing attacks; this limiter stops guessing. After
//! `max_failures` failed attempts from one IP within `window`, that IP is answered 429 until the
//! window that started with its first failure has passed. Memory is bounded by `max_sources`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;

use crate::http::AppError;

/// Sources tracked at most; beyond this the oldest window is forgotten.
pub const MAX_SOURCES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Counts failed authentications per source IP in fixed windows.
#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    max_sources: usize,
    sources: Mutex<HashMap<IpAddr, Window>>,
}

impl AuthLimiter {
    /// Block a source after `max_failures` failures within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self::with_max_sources(max_failures, window, MAX_SOURCES)
    }

    /// As [`AuthLimiter::new`], tracking at most `max_sources` IPs.
    pub fn with_max_sources(max_failures: u32, window: Duration, max_sources: usize) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_sources: max_sources.max(1),
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(retry_after)` when `ip` is blocked at `now`.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let sources = self.lock();
        let w = sources.get(&ip)?;
        let end = w.start + self.window;
        (w.failures >= self.max_failures && now < end).then(|| end - now)
    }

    /// Count a failed authentication from `ip` at `now`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut sources = self.lock();
        if !sources.contains_key(&ip) && sources.len() >= self.max_sources {
            let window = self.window;
            sources.retain(|_, w| now.saturating_duration_since(w.start) < window);
            if sources.len() >= self.max_sources {
                let oldest = sources.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    sources.remove(&oldest);
                }
            }
        }
        let w = sources.entry(ip).or_insert(Window {
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
    }

    /// Number of sources tracked (for tests of the memory bound).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Answer 503 with a JSON error when a request takes longer than `timeout` (AlertManager retries
/// 5xx, and a retry is idempotent thanks to the ledger).
pub fn with_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(middleware::from_fn(
        move |request: Request, next: Next| async move {
            match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => AppError::Timeout(timeout).into_response(),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
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
        let l = AuthLimiter::with_max_sources(1, Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for i in 0..50u8 {
            l.record_failure(ip(i), t0 + Duration::from_millis(u64::from(i)));
            assert!(l.tracked() <= 4);
        }
        // The newest source is still tracked and blocked.
        assert!(l.blocked(ip(49), t0 + Duration::from_secs(1)).is_some());
    }
}
