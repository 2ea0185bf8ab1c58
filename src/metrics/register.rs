//! Registration: every metric family's name and help text, in one place, because the names are
//! what dashboards and `alert-rules/alertscaler.rules.yml` read (rename both together).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::tally::{ExportCache, LedgerTally};
use super::{BackendLabels, CodeLabels, FunctionGauges, Handles, Histograms, Metrics};

/// 0.1 ms … ~3.3 s: the memory backend answers in microseconds, a remote API in milliseconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
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
}
