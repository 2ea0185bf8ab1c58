//! alertscaler: autoscale OpenFaaS functions (and Deployments labelled like them) from
//! Prometheus AlertManager webhooks, with deduplication and enforced scaling labels.
//!
//! # Layout
//! - [`id`]: [`id::FunctionId`], a function's name and namespace (a leaf every module may use).
//! - [`alert`]: AlertManager webhook payload (v4) → per-function intents.
//! - [`labels`]: `com.openfaas.scale.*` parsing and validation.
//! - [`ledger`]: alert episodes, dedup and cooldown — pure, time passed in ([`episodes`]: its compact map).
//! - [`policy`]: pure decisions (step, proportional, latency, zero; stabilization) → [`policy::Decision`].
//! - [`load`]: load measured at decision time (optional Prometheus query) for the proportional policy.
//! - [`service`]: the one place that sequences read → plan → decide → write.
//! - [`settle`]: the loop that finishes scale-downs held by the stabilization window.
//! - [`backend`]: the small backend trait and its implementations (memory, Kubernetes Deployments,
//!   OpenFaaS provider API with its local state-file ledger).
//! - [`http`]: router, handlers, error responses; [`auth`]: webhook credentials.
//! - [`config`]: figment layering and validation.
//! - [`server`]: wiring a configuration into a running server; [`listener`]: the accept loop
//!   under the [`connections`] limits (header-read and idle timeouts, maximum connections).
//! - [`metrics`]: own Prometheus metrics; [`audit`]: the ring of recent decisions;
//!   [`limits`]: failed-authentication limiter and request timeout.
//! - [`sim`]: `alertscaler simulate`: load, queueing and monitoring models driving the real decision code.

pub mod alert;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod background;
pub mod config;
pub mod connections;
pub mod episodes;
pub mod error;
pub mod http;
pub mod id;
pub mod labels;
pub mod ledger;
pub mod limits;
pub mod listener;
pub mod load;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod server;
pub mod service;
pub mod sim;
pub mod stored;
