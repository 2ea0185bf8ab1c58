//! alertscaler's own Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! An autoscaler nobody can watch is not trusted: these say what arrived, what was decided, what was
//! scaled, how slow the backend and the webhook are, and how much the ledger remembers. Metric names
//! are used verbatim by `alert-rules/alertscaler.rules.yml`; rename both together.
//!
//! # Layout
//! This file holds [`Metrics`], its label sets and the methods that record what happened. Beside it:
//! - `register`: every family's name and help text, registered once ([`Metrics::new`]);
//! - `render`: the OpenMetrics text, whole or in chunks;
//! - `exports`: the per-function series exported from labels for the rule packs;
//! - `tally`: the bookkeeping those series and the ledger gauges are kept from.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::alert::Status;
use crate::id::FunctionId;

mod exports;
mod register;
mod render;
mod tally;
use tally::{ExportCache, LedgerTally};

/// Content type of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScaleActionLabels {
    function: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
    operation: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function_name: String,
}

/// A gauge of a float value per function.
type FunctionGauges = Family<FunctionLabels, Gauge<f64, AtomicU64>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapacityLabels {
    function_name: String,
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric alertscaler exports, with the registry that renders them.
pub struct Metrics {
    registry: Registry,
    notifications: Family<StatusLabels, Counter>,
    decisions: Family<OutcomeLabels, Counter>,
    scale_actions: Family<ScaleActionLabels, Counter>,
    backend_latency: Histograms<BackendLabels>,
    webhook_latency: Histograms<CodeLabels>,
    auth_failures: Counter,
    ledger_episodes: Gauge,
    ledger_functions: Gauge,
    latency_targets: FunctionGauges,
    latency_tolerances: FunctionGauges,
    capacity_targets: Family<CapacityLabels, Gauge<f64, AtomicU64>>,
    /// Episodes per function as last seen, so the gauges are sums that never drift.
    episodes: LedgerTally,
    /// The label series last exported per function.
    exports: ExportCache,
    /// Handles of the series every request touches, looked up once (a family lookup takes the
    /// family's lock and hashes the labels).
    handles: Handles,
}

/// Every `outcome` label a decision can carry (see `FunctionReport::outcome_label`).
const OUTCOMES: [&str; 22] = [
    "scaled",
    "refused",
    "error",
    "unchanged",
    "duplicate",
    "cooldown",
    "disabled",
    "at_max",
    "at_min",
    "still_firing",
    "stale",
    "replay",
    "no_step",
    "down_ended",
    "tolerance",
    "stabilizing",
    "opposite_hold",
    "no_zero",
    "idle_too_short",
    "in_band",
    "asleep",
    "dry_run",
];

/// Series handles filled on first use (so that nothing renders before it happened).
#[derive(Default)]
struct Handles {
    notifications: [OnceLock<Counter>; 2],
    decisions: [OnceLock<Counter>; OUTCOMES.len()],
    webhook_ok: OnceLock<Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A notification arrived with this status.
    pub fn notification(&self, status: Status) {
        let status = match status {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        };
        let i = usize::from(status == "resolved");
        self.handles.notifications[i]
            .get_or_init(|| {
                self.notifications
                    .get_or_create(&StatusLabels { status })
                    .clone()
            })
            .inc();
    }

    /// A function's decision, labelled as in [`crate::report::FunctionReport::outcome_label`].
    pub fn decision(&self, outcome: &'static str) {
        let family = || {
            self.decisions
                .get_or_create(&OutcomeLabels { outcome })
                .clone()
        };
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.handles.decisions[i].get_or_init(family).inc(),
            None => family().inc(),
        };
    }

    /// Replicas of `function` were written from `from` to `to`.
    pub fn scaled(&self, function: &str, from: u32, to: u32) {
        let direction = if to >= from { "up" } else { "down" };
        self.scale_actions
            .get_or_create(&ScaleActionLabels {
                function: function.to_owned(),
                direction,
            })
            .inc();
    }

    /// One backend call took `elapsed`; `result` is `ok` or the error's metric label.
    pub fn backend_call(
        &self,
        backend: &'static str,
        operation: &'static str,
        result: &'static str,
        elapsed: Duration,
    ) {
        self.backend_latency
            .get_or_create(&BackendLabels {
                backend,
                operation,
                result,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A webhook was answered with `code` after `elapsed`.
    pub fn webhook(&self, code: u16, elapsed: Duration) {
        let family = || {
            self.webhook_latency
                .get_or_create(&CodeLabels { code })
                .clone()
        };
        let secs = elapsed.as_secs_f64();
        if code == 200 {
            self.handles.webhook_ok.get_or_init(family).observe(secs);
        } else {
            family().observe(secs);
        }
    }

    /// The latency histogram of one backend operation and result, to keep and observe directly
    /// (the backend decorator holds the `ok` ones: they are on every request's path).
    pub fn backend_histogram(
        &self,
        backend: &'static str,
        operation: &'static str,
        result: &'static str,
    ) -> Histogram {
        self.backend_latency
            .get_or_create(&BackendLabels {
                backend,
                operation,
                result,
            })
            .clone()
    }

    /// A request presented bad or missing credentials.
    pub fn auth_failure(&self) {
        self.auth_failures.inc();
    }

    /// The ledger entry of `function` now holds `episodes` episodes.
    pub fn ledger_size(&self, function: &FunctionId, episodes: usize) {
        let (episodes_delta, functions_delta) = self.episodes.set(function, episodes);
        if episodes_delta != 0 {
            self.ledger_episodes.inc_by(episodes_delta);
        }
        if functions_delta != 0 {
            self.ledger_functions.inc_by(functions_delta);
        }
    }
}

#[cfg(test)]
mod tests;
