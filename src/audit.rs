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
    /// What asked for the decision: `notification` (an AlertManager webhook), `settle` (the
    /// pass that finishes scale-downs held by the stabilization window) or `follow_up` (a firing
    /// capacity alert re-read from Prometheus).
    pub trigger: &'static str,
    /// Names of the alerts of the notification that concerned this function.
    pub alerts: Vec<String>,
    #[serde(flatten)]
    pub report: FunctionReport,
}

impl DecisionRecord {
    /// This record, made the given decision, in the strings it already holds.
    fn overwrite<'a>(
        &mut self,
        time: DateTime<Utc>,
        trigger: &'static str,
        alerts: impl IntoIterator<Item = &'a str>,
        report: &FunctionReport,
    ) {
        self.time = time;
        self.trigger = trigger;
        copy_names(&mut self.alerts, alerts);
        let FunctionReport {
            function,
            outcome,
            from,
            to,
            why,
            reason,
        } = report;
        let kept = &mut self.report;
        kept.function.clone_from(function);
        kept.reason.clone_from(reason);
        (kept.outcome, kept.from, kept.to, kept.why) = (*outcome, *from, *to, *why);
    }
}

/// The longest alert name kept, in characters (the log's lines shorten them the same).
pub(crate) const MAX_NAME: usize = crate::skipped::MAX_VALUE_CHARS;

/// `names`, shortened, sorted and without repeats, into `into`, reusing the strings it holds.
fn copy_names<'a>(into: &mut Vec<String>, names: impl IntoIterator<Item = &'a str>) {
    let mut count = 0;
    for name in names {
        let name = &*crate::skipped::shorten(name, MAX_NAME);
        match into.get_mut(count) {
            Some(kept) => name.clone_into(kept),
            None => into.push(name.to_owned()),
        }
        count += 1;
    }
    into.truncate(count);
    into.sort_unstable();
    into.dedup();
}

/// The bounded ring of recent decisions. When it is full, the oldest *hold* (a decision that moved
/// nothing: duplicates above all, AlertManager's repeats, retries and HA copies; a dry run's
/// would-be move is no hold, see [`FunctionReport::is_hold`]) is forgotten
/// before any decision that scaled, was refused or failed: a flood of duplicates cannot push the
/// answer to "why did my function scale?" out of the ring. Only when it holds no hold is the oldest
/// decision forgotten, so the newest hold always shows.
#[derive(Debug)]
pub struct Audit {
    capacity: usize,
    ring: Mutex<Ring>,
}

/// Holds and the other decisions in two queues, each oldest first; `seq` (the order recorded)
/// merges them back into one.
#[derive(Debug, Default)]
struct Ring {
    next: u64,
    acted: VecDeque<(u64, DecisionRecord)>,
    held: VecDeque<(u64, DecisionRecord)>,
}

impl Ring {
    fn len(&self) -> usize {
        self.acted.len() + self.held.len()
    }

    /// The record to forget to make room: the oldest hold, else the oldest decision.
    fn forget(&mut self) -> Option<DecisionRecord> {
        let queue = if self.held.is_empty() {
            &mut self.acted
        } else {
            &mut self.held
        };
        queue.pop_front().map(|(_, record)| record)
    }
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
            ring: Mutex::new(Ring::default()),
        }
    }

    /// How many decisions are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remember a decision about `report`'s function, for the named alerts (in any order, with
    /// repeats), forgetting one when full (see [`Audit`]). A full ring (its steady state) writes
    /// the new record over the forgotten one's strings: recording then allocates nothing.
    pub(crate) fn record<'a>(
        &self,
        time: DateTime<Utc>,
        trigger: &'static str,
        alerts: impl IntoIterator<Item = &'a str>,
        report: &FunctionReport,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let forgotten = (ring.len() >= self.capacity)
            .then(|| ring.forget())
            .flatten();
        let record = match forgotten {
            Some(mut forgotten) => {
                forgotten.overwrite(time, trigger, alerts, report);
                forgotten
            }
            None => {
                let mut record = DecisionRecord {
                    time,
                    trigger,
                    alerts: Vec::new(),
                    report: report.clone(),
                };
                copy_names(&mut record.alerts, alerts);
                record
            }
        };
        let seq = ring.next;
        ring.next += 1;
        let queue = if report.is_hold() {
            &mut ring.held
        } else {
            &mut ring.acted
        };
        queue.push_back((seq, record));
    }

    /// The last `limit` decisions kept (all when `None`), oldest first.
    pub fn recent(&self, limit: Option<usize>) -> Vec<DecisionRecord> {
        self.recent_about(limit, None)
    }

    /// The last `limit` decisions kept (all when `None`) about `function` (`name.namespace`; every
    /// function when `None`), oldest first.
    pub fn recent_about(
        &self,
        limit: Option<usize>,
        function: Option<&str>,
    ) -> Vec<DecisionRecord> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let n = limit.unwrap_or(ring.len()).min(ring.len());
        let about = |(_, record): &&(u64, DecisionRecord)| {
            function.is_none_or(|f| record.report.function == f)
        };
        // Newest first from the two queues' ends, then turned around.
        let mut acted = ring.acted.iter().rev().filter(about).peekable();
        let mut held = ring.held.iter().rev().filter(about).peekable();
        let mut newest = Vec::with_capacity(n);
        while newest.len() < n {
            let take_acted = match (acted.peek(), held.peek()) {
                (Some((a, _)), Some((h, _))) => a > h,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let next = if take_acted {
                acted.next()
            } else {
                held.next()
            };
            match next {
                Some((_, record)) => newest.push(record.clone()),
                None => break,
            }
        }
        newest.reverse();
        newest
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
