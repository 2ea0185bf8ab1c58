//! What a decision looks like from outside: the webhook's answer, one line per function, which the
//! audit ring, the metrics and the logs all reuse.

use serde::Serialize;

use crate::alert::Skipped;
use crate::id::FunctionId;
use crate::policy::{Decision, Why};

/// The webhook's answer: one entry per function, plus the alerts that named none.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub functions: Vec<FunctionReport>,
    /// The first skipped alerts (at most [`crate::skipped::MAX_LISTED`]).
    pub skipped: Vec<Skipped>,
    /// How many alerts were skipped in all.
    pub skipped_total: usize,
}

impl Report {
    /// A backend failed for some function: AlertManager should retry (the retry is idempotent).
    pub fn has_errors(&self) -> bool {
        self.functions.iter().any(|f| f.outcome == Outcome::Error)
    }
}

/// What happened to one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Scaled,
    Unchanged,
    Refused,
    Error,
}

/// One function's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionReport {
    pub function: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    pub reason: String,
}

/// The longest reason kept, in characters (a 400's message is shortened to the same).
pub const MAX_REASON: usize = 800;

impl FunctionReport {
    /// A report whose reason (which quotes alert names, annotations and label values as sent) is
    /// shortened to [`MAX_REASON`] characters: it is echoed in the answer and the log and kept in
    /// the audit ring.
    pub(crate) fn new(function: &FunctionId, outcome: Outcome, reason: String) -> Self {
        let reason = match crate::skipped::shorten(&reason, MAX_REASON) {
            std::borrow::Cow::Borrowed(_) => reason,
            std::borrow::Cow::Owned(short) => short,
        };
        Self {
            // `name.namespace`, allocated once at its final size.
            function: [&*function.name, ".", &function.namespace].concat(),
            outcome,
            from: None,
            to: None,
            why: None,
            reason,
        }
    }

    /// A decision that moved nothing and would have moved nothing (duplicates above all): the
    /// bulk of decisions, logged at debug and the first the audit ring forgets. A dry run's
    /// would-be move is no hold: it is the record the operator reads.
    pub fn is_hold(&self) -> bool {
        self.outcome == Outcome::Unchanged && self.why != Some(Why::DryRun)
    }

    /// The label of `alertscaler_decisions_total`: the outcome, or why nothing moved.
    pub fn outcome_label(&self) -> &'static str {
        match (self.outcome, self.why) {
            (Outcome::Scaled, _) => "scaled",
            (Outcome::Refused, _) => "refused",
            (Outcome::Error, _) => "error",
            (Outcome::Unchanged, Some(why)) => why.as_str(),
            (Outcome::Unchanged, None) => "unchanged",
        }
    }

    pub(crate) fn from_decision(function: &FunctionId, decision: Decision) -> Self {
        match decision {
            Decision::Scale { from, to, reason } => Self {
                from: Some(from),
                to: Some(to),
                ..Self::new(function, Outcome::Scaled, reason)
            },
            Decision::Unchanged { why, reason } => Self {
                why: Some(why),
                ..Self::new(function, Outcome::Unchanged, reason)
            },
            Decision::Refused { reason } => Self::new(function, Outcome::Refused, reason),
        }
    }
}
