//! Audit trail: the last N decisions in a bounded ring, served at `GET /decisions`.
//!
//! "Why did my function scale (or not)?" must be answerable without grepping logs. The ring is
//! bounded so memory stays flat however many notifications arrive; every decision is also logged
//! through tracing with the same fields.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::report::FunctionReport;

/// Default number of decisions kept.
pub(crate) const DEFAULT_CAPACITY: usize = crate::config::DEFAULT_AUDIT_CAPACITY;

/// One decision about one function: the webhook's report line, with when and for which alerts.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    pub time: DateTime<Utc>,
    /// What asked for the decision: `notification` (an AlertManager webhook) or `settle` (the
    /// pass that finishes scale-downs held by the stabilization window).
    pub trigger: &'static str,
    /// Names of the alerts of the notification that concerned this function.
    pub alerts: Vec<String>,
    #[serde(flatten)]
    pub report: FunctionReport,
}

/// The bounded ring of recent decisions.
#[derive(Debug)]
pub struct Audit {
    capacity: usize,
    ring: Mutex<VecDeque<DecisionRecord>>,
}

impl Default for Audit {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Audit {
    /// Keep at most `capacity` decisions (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
        }
    }

    /// How many decisions are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remember a decision, forgetting the oldest when full.
    pub(crate) fn record(&self, record: DecisionRecord) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let forgotten = if ring.len() == self.capacity {
            ring.pop_front()
        } else {
            None
        };
        ring.push_back(record);
        // The oldest record is freed after the lock is released.
        drop(ring);
        drop(forgotten);
    }

    /// The last `limit` decisions (all kept when `None`), oldest first.
    pub fn recent(&self, limit: Option<usize>) -> Vec<DecisionRecord> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let n = limit.unwrap_or(ring.len()).min(ring.len());
        ring.iter().skip(ring.len() - n).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u32) -> DecisionRecord {
        let report = FunctionReport {
            function: format!("f{i}.openfaas-fn"),
            outcome: crate::report::Outcome::Scaled,
            from: Some(i),
            to: Some(i + 1),
            why: None,
            reason: "step".into(),
        };
        DecisionRecord {
            time: DateTime::from_timestamp(i64::from(i), 0).unwrap(),
            trigger: "notification",
            alerts: vec!["High".into()],
            report,
        }
    }

    #[test]
    fn ring_keeps_the_newest_capacity_records_in_order() {
        let audit = Audit::new(3);
        for i in 0..5 {
            audit.record(record(i));
        }
        let all: Vec<u32> = audit
            .recent(None)
            .iter()
            .filter_map(|r| r.report.from)
            .collect();
        assert_eq!(all, vec![2, 3, 4]);
        let last: Vec<u32> = audit
            .recent(Some(2))
            .iter()
            .filter_map(|r| r.report.from)
            .collect();
        assert_eq!(last, vec![3, 4]);
        assert_eq!(audit.recent(Some(100)).len(), 3);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let audit = Audit::new(0);
        audit.record(record(1));
        assert!(audit.recent(None).is_empty());
    }
}
