//! alertscaler: autoscale OpenFaaS functions (and Deployments labelled like them) from
//! Prometheus AlertManager webhooks, with deduplication and enforced scaling labels.
//!
//! # Layout
//! - [`alert`]: AlertManager webhook payload (v4) → per-function intents.
//! - [`labels`]: `com.openfaas.scale.*` parsing and validation.
//! - [`ledger`]: alert episodes, dedup and cooldown — pure, time passed in.
//! - [`policy`]: pure decisions (CE-compatible step, …) → [`policy::Decision`].
//! - [`service`]: the one place that sequences read → plan → decide → write.
//! - [`backend`]: the small backend trait and its implementations (memory, …).
//! - [`http`]: router, handlers, error responses; [`auth`]: webhook credentials.
//! - [`config`]: figment layering and validation.
//! - [`server`]: wiring a configuration into a running server.
//! - [`sim`]: `alertscaler simulate`: load, queueing and monitoring models driving the real decision code.

pub mod alert;
pub mod auth;
pub mod backend;
pub mod config;
pub mod error;
pub mod http;
pub mod labels;
pub mod ledger;
pub mod policy;
pub mod server;
pub mod service;
pub mod sim;
