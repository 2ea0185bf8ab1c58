//! alertscaler: autoscale OpenFaaS functions (and Deployments labelled like them) from
//! Prometheus AlertManager webhooks, with deduplication and enforced scaling labels.
//!
//! # Layout
//! Data flows one way: HTTP body → [`alert`] intents → [`service`] (read → [`ledger`] plan →
//! [`policy`] decide → backend write → observe), one path for every trigger.
//! - [`id`]: [`id::FunctionId`], a function's name and namespace (a leaf every module may use).
//! - [`config`]: figment layering and validation (the memory function table is read apart, in
//!   batches); a leaf (its sections, the policy names, the
//!   platform's replica limits, the Kubernetes selector and the bounded read of the files it names
//!   live there).
//! - [`alert`]: AlertManager webhook payload (v4) → per-function intents (policy names parsed; the
//!   hot path parses a borrowed [`alert::Notification`]).
//! - [`labels`]: `com.openfaas.scale.*` parsing and validation, fitted into the platform's replica
//!   limits ([`config::Platform`]).
//! - [`ledger`]: alert episodes, dedup and cooldown — pure, time passed in ([`ledger::episodes`]: its
//!   compact map).
//! - [`policy`]: pure decisions (step, proportional, latency, zero, capacity; stabilization) →
//!   [`policy::Verdict`]: the decision and the stabilization window to store.
//! - [`stored`]: what a backend stores beside a function (ledger episodes + stabilization window).
//! - [`measure`]: load and desired replica counts read from Prometheus at decision time.
//! - [`service`]: the one decision path from any trigger to a write, with conflict retries and
//!   observation; [`report`]: its answer, one line per function.
//! - [`background`]: the triggers that are not webhooks (settle pass, capacity follow-up, label
//!   refresh): they choose which functions and when, and call the service.
//! - [`backend`]: the small backend trait and its implementations (memory, Kubernetes Deployments,
//!   OpenFaaS provider API with its local state file).
//! - [`error`]: the typed errors of a webhook payload and of the backends ([`error::PayloadError`],
//!   [`error::BackendError`]), each variant saying what the user must fix (a leaf).
//! - [`http`]: router, handlers, error responses; [`auth`]: webhook credentials.
//! - [`server`]: wiring a configuration into a running server; [`listener`]: the accept loop
//!   under the [`connections`] limits (header-read and idle timeouts, maximum connections).
//! - [`skipped`]: bounds on what one notification writes (skipped alerts logged once per reason,
//!   a bounded list in the answer, long values shortened); [`logging`]: text logs that escape
//!   control characters so payload values cannot forge lines, written by a non-blocking writer
//!   thread; [`memory`]: one glibc heap for all threads, and the start-up peak returned to the OS
//!   (`malloc_trim`).
//! - [`metrics`]: own Prometheus metrics (a leaf recorder: it never calls a backend); [`audit`]: the
//!   ring of recent decisions; [`limits`]: the failed-authentication limiter (per IPv4 address or
//!   IPv6 /64).
//! - `testlog` (tests only): log capture shared by unit tests.
//! - [`sim`]: `alertscaler simulate`: load, queueing and monitoring models driving the real
//!   decision code.

// The crate's docs are for its maintainers (`cargo doc --document-private-items`): a public item's
// doc may point at the private helper or constant it is built on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod alert;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod background;
pub mod config;
pub mod connections;
pub mod error;
pub mod http;
pub mod id;
pub mod labels;
pub mod ledger;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod measure;
pub mod memory;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod server;
pub mod service;
pub mod sim;
pub mod skipped;
pub mod stored;
#[cfg(test)]
mod testlog;

#[cfg(test)]
mod tests {
    /// README's "Code layout" sends readers to this file's `# Layout` for one line per module: every
    /// module declared here is named there.
    #[test]
    fn the_layout_names_every_module() {
        let lib = include_str!("lib.rs");
        let doc: String = lib
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let modules: Vec<&str> = lib
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
            .collect();
        assert!(modules.len() > 20, "{modules:?}");
        let unnamed: Vec<&&str> = modules
            .iter()
            .filter(|m| !doc.contains(&format!("[`{m}`]")))
            .collect();
        assert!(
            unnamed.is_empty(),
            "modules the layout does not name: {unnamed:?}"
        );
    }
}
