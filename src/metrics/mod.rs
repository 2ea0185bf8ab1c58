//! alertscaler's own Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! An autoscaler nobody can watch is not trusted: these say what arrived, what was decided, what was
//! scaled, how slow the backend and the webhook are, and how much the ledger remembers. Metric names
//! are used verbatim by `alert-rules/alertscaler.rules.yml`; rename both together.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::alert::Status;
use crate::id::FunctionId;

mod tally;
use tally::{ExportCache, Exported, LedgerTally};

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

/// 0.1 ms … ~3.3 s: the memory backend answers in microseconds, a remote API in milliseconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

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
    /// A fresh registry with every metric registered (values start at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("alertscaler");
        let notifications = Family::default();
        registry.register(
            "notifications",
            "Webhook notifications received, by notification status",
            notifications.clone(),
        );
        let decisions = Family::default();
        registry.register(
            "decisions",
            "Per-function decisions, by outcome (scaled, refused, error, or why nothing moved: duplicate, cooldown, disabled, at_max, …)",
            decisions.clone(),
        );
        let scale_actions = Family::default();
        registry.register(
            "scale_actions",
            "Replica changes written, by function and direction (up, down)",
            scale_actions.clone(),
        );
        let backend_latency: Histograms<BackendLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "backend_request_duration_seconds",
            "Backend call latency, by backend, operation and result",
            backend_latency.clone(),
        );
        let webhook_latency: Histograms<CodeLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "webhook_duration_seconds",
            "POST /system/alert handling latency, by HTTP status code",
            webhook_latency.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Requests rejected for bad or missing credentials",
            auth_failures.clone(),
        );
        let ledger_episodes = Gauge::default();
        registry.register(
            "ledger_episodes",
            "Alert episodes remembered in the ledger entries this process last read or wrote",
            ledger_episodes.clone(),
        );
        let ledger_functions = Gauge::default();
        registry.register(
            "ledger_functions",
            "Functions whose ledger entry holds at least one episode, as this process last saw it",
            ledger_functions.clone(),
        );
        let latency_targets = FunctionGauges::default();
        registry.register(
            "function_latency_target_seconds",
            "Latency target per function from com.openfaas.scale.latency-target-ms, for the latency rule pack",
            latency_targets.clone(),
        );
        let latency_tolerances = FunctionGauges::default();
        registry.register(
            "function_latency_tolerance_ratio",
            "Latency tolerance per function from com.openfaas.scale.latency-tolerance, for the latency rule pack",
            latency_tolerances.clone(),
        );
        let capacity_targets = Family::default();
        registry.register(
            "function_capacity_target",
            "Effective load per replica (target × target-proportion) per function and type, for the capacity rule pack",
            capacity_targets.clone(),
        );
        Self {
            registry,
            capacity_targets,
            latency_targets,
            latency_tolerances,
            notifications,
            decisions,
            scale_actions,
            backend_latency,
            webhook_latency,
            auth_failures,
            ledger_episodes,
            ledger_functions,
            episodes: LedgerTally::default(),
            exports: ExportCache::default(),
            handles: Handles::default(),
        }
    }

    /// Render every metric in the OpenMetrics text format, in one text (`GET /metrics` sends
    /// [`Metrics::render_chunked`]'s chunks as they fill instead).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Render every metric as [`Metrics::render`] does, handing the text to `send` in chunks of
    /// about `chunk` bytes as they fill (a scrape of 10 000 functions' series is about 0.8 MB,
    /// which held whole set the process's peak memory). `send` returning false (the scraper went
    /// away) stops the rendering.
    pub fn render_chunked(&self, chunk: usize, send: impl FnMut(String) -> bool) {
        struct Chunks<F> {
            buf: String,
            chunk: usize,
            send: F,
        }
        impl<F: FnMut(String) -> bool> std::fmt::Write for Chunks<F> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                if self.buf.len() + s.len() > self.chunk && !self.buf.is_empty() {
                    let full = std::mem::replace(&mut self.buf, String::with_capacity(self.chunk));
                    if !(self.send)(full) {
                        return Err(std::fmt::Error);
                    }
                }
                self.buf.push_str(s);
                Ok(())
            }
        }
        let mut out = Chunks {
            buf: String::with_capacity(chunk),
            chunk,
            send,
        };
        if encode(&mut out, &self.registry).is_ok() && !out.buf.is_empty() {
            (out.send)(out.buf);
        }
    }

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

    /// Export (or withdraw) the per-function series the rule packs join on `function_name`
    /// (latency target and tolerance, capacity target), from the function's labels as just read.
    /// Functions without a valid label are left out: the pack's default applies to them. This
    /// runs on every read: when nothing changed (the usual case) it takes no write lock and
    /// allocates nothing.
    pub fn export_labels(&self, function: &FunctionId, labels: &BTreeMap<String, String>) {
        let want = Exported::from_labels(labels);
        // The hot path: unchanged labels, a read lock only.
        if self.exports.last(function) == want {
            return;
        }
        self.exports
            .change(function, want, || self.set_label_series(function, want));
    }

    /// The per-function label series as `want` says.
    fn set_label_series(&self, function: &FunctionId, want: Exported) {
        let name = FunctionLabels {
            function_name: function.to_string(),
        };
        match want.latency_target {
            Some(secs) => {
                self.latency_targets.get_or_create(&name).set(secs);
            }
            None => {
                self.latency_targets.remove(&name);
            }
        }
        match want.latency_tolerance {
            Some(ratio) => {
                self.latency_tolerances.get_or_create(&name).set(ratio);
            }
            None => {
                self.latency_tolerances.remove(&name);
            }
        }
        for kind in crate::labels::ScaleType::ALL {
            let key = CapacityLabels {
                function_name: name.function_name.clone(),
                r#type: kind.as_str(),
            };
            match want.capacity.filter(|(k, _)| *k == kind) {
                Some((_, target)) => {
                    self.capacity_targets.get_or_create(&key).set(target);
                }
                None => {
                    self.capacity_targets.remove(&key);
                }
            }
        }
    }

    /// Make the per-function label series those of `functions` (a fresh listing), so deleted
    /// functions disappear. Updated in place: a scrape during the refresh sees every function that
    /// is still there (clearing first left a window with none).
    pub fn replace_label_exports<'a>(
        &self,
        functions: impl IntoIterator<Item = (FunctionId, &'a BTreeMap<String, String>)>,
    ) {
        // Only functions exporting something are kept (most carry no scaling label).
        let mut exporting = std::collections::HashSet::new();
        for (function, labels) in functions {
            self.export_labels(&function, labels);
            if self.exports.last(&function) != Exported::default() {
                exporting.insert(function);
            }
        }
        let none = BTreeMap::new();
        for function in self.exports.functions() {
            if !exporting.contains(&function) {
                self.export_labels(&function, &none);
            }
        }
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
