//! Settle-pass refusals already said: a scale-down held while a function's labels are invalid is
//! refused by every pass (every 15 s) until they are mended; the same refusal is recorded once.
//! Kept by the service itself (not read back from the audit ring, which may keep nothing or may
//! have moved on).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The last settle refusal per function (`name.namespace`), with its reason.
#[derive(Debug, Default)]
pub(super) struct SettleRefusals {
    reasons: Mutex<HashMap<String, String>>,
    /// How many functions `reasons` holds, readable without its lock (the hot path's decisions
    /// only look here).
    len: AtomicUsize,
}

impl SettleRefusals {
    /// A settle pass refused `function` for `reason`: whether it said exactly that last time.
    pub(super) fn repeated(&self, function: &str, reason: &str) -> bool {
        let mut reasons = self.lock();
        let same = reasons.get(function).is_some_and(|r| r == reason);
        if !same {
            reasons.insert(function.to_owned(), reason.to_owned());
            self.len.store(reasons.len(), Ordering::Release);
        }
        same
    }

    /// `function` was decided otherwise: a later refusal is news again.
    pub(super) fn forget(&self, function: &str) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut reasons = self.lock();
        if reasons.remove(function).is_some() {
            self.len.store(reasons.len(), Ordering::Release);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.reasons.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_refusal_is_news_once_until_the_function_is_decided_otherwise() {
        let r = SettleRefusals::default();
        assert!(!r.repeated("f.ns", "bad min"));
        assert!(r.repeated("f.ns", "bad min"));
        assert!(!r.repeated("f.ns", "bad max"), "another reason is news");
        assert!(!r.repeated("g.ns", "bad max"), "per function");
        r.forget("f.ns");
        assert!(!r.repeated("f.ns", "bad max"));
    }
}
