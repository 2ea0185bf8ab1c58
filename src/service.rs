//! The one place that sequences a notification: intents → read → plan → decide → write.
//!
//! Reads and writes go through the backend; planning and deciding are pure. The ledger entry is
//! written together with the replicas under the version that was read, so a conflicting writer
//! (another receiver, a person) makes us re-read and decide again rather than double-step.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tracing::{debug, info, instrument, warn};

use crate::alert::{self, Identity, Intent, Skipped, Webhook};
use crate::audit::{Audit, DecisionRecord};
use crate::backend::{Backend, Update};
use crate::config::Config;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::labels::{self, LabelDefaults};
use crate::ledger;
use crate::load::LoadSource;
use crate::metrics::Metrics;
use crate::platform::Platform;
use crate::policy::{self, Decision, PolicyConfig, Why};

/// How many times a function is re-read and re-decided after a version conflict.
const CONFLICT_RETRIES: usize = 5;

/// The webhook's answer: one entry per function, plus the alerts that named none.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub functions: Vec<FunctionReport>,
    pub skipped: Vec<Skipped>,
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

impl FunctionReport {
    fn new(function: &FunctionId, outcome: Outcome, reason: String) -> Self {
        Self {
            function: function.to_string(),
            outcome,
            from: None,
            to: None,
            why: None,
            reason,
        }
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

/// Decision settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub identity: Identity,
    pub ledger: ledger::Settings,
    pub label_defaults: LabelDefaults,
    pub ceiling: u32,
    /// The platform's replica limits; labels are fitted into them before any policy plans.
    pub platform: Platform,
    pub policy: PolicyConfig,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            identity: Identity {
                function_label: config.function_label.clone(),
                default_namespace: config.default_namespace.clone(),
                allowed_namespaces: config.allowed_namespaces.clone(),
            },
            ledger: ledger::Settings {
                cooldown: secs(config.scale_up_cooldown_secs),
                episode_ttl: secs(config.episode_ttl_secs),
                ..ledger::Settings::default()
            },
            label_defaults: config.labels,
            ceiling: config.max_replicas_ceiling,
            platform: config.platform.clone(),
            policy: config.policy,
        }
    }
}

fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// Applies notifications to functions through a backend.
#[derive(Clone)]
pub struct Service {
    backend: Arc<dyn Backend>,
    settings: Arc<Settings>,
    load: Arc<LoadSource>,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
}

impl Service {
    pub fn new(backend: Arc<dyn Backend>, settings: Settings) -> Self {
        Self {
            backend,
            settings: Arc::new(settings),
            load: Arc::new(LoadSource::none()),
            metrics: Arc::new(Metrics::new()),
            audit: Arc::new(Audit::default()),
        }
    }

    /// Measure load from Prometheus for the proportional policy (default: the alert annotation).
    pub fn with_load_source(mut self, load: LoadSource) -> Self {
        self.load = Arc::new(load);
        self
    }

    /// Record into these metrics (the backend should be wrapped with the same ones).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Keep decisions in this audit ring.
    pub fn with_audit(mut self, audit: Arc<Audit>) -> Self {
        self.audit = audit;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handle one notification received at `now`.
    pub async fn handle(&self, webhook: &Webhook, now: DateTime<Utc>) -> Report {
        self.metrics.notification(webhook.status);
        let (intents, skipped) = alert::intents(webhook, &self.settings.identity);
        for s in &skipped {
            warn!(alert = %s.alertname, fingerprint = %s.fingerprint, reason = %s.reason, "alert skipped");
        }
        let mut functions = Vec::with_capacity(intents.len());
        for intent in &intents {
            let report = self.handle_function(intent, now).await;
            self.observe(intent, &report, now);
            functions.push(report);
        }
        Report { functions, skipped }
    }

    /// Count, log and remember one function's decision.
    fn observe(&self, intent: &Intent, report: &FunctionReport, now: DateTime<Utc>) {
        let outcome = report.outcome_label();
        self.metrics.decision(outcome);
        if let (Some(from), Some(to)) = (report.from, report.to) {
            self.metrics.scaled(&report.function, from, to);
        }
        let mut alerts: Vec<String> = intent.signals.iter().map(|s| s.alertname.clone()).collect();
        alerts.sort();
        alerts.dedup();
        // Holds (duplicates above all: AlertManager retries and HA peers) are the hot path and the
        // bulk of decisions: logged at debug so they do not cost a log line each; they are still
        // counted and kept in the audit ring. Everything that acted or failed is logged at info.
        macro_rules! decided {
            ($level:ident) => {
                $level!(
                    function = %report.function,
                    alerts = ?alerts,
                    outcome,
                    from = report.from,
                    to = report.to,
                    reason = %report.reason,
                    "decided"
                )
            };
        }
        if report.outcome == Outcome::Unchanged {
            decided!(debug);
        } else {
            decided!(info);
        }
        self.audit.record(DecisionRecord {
            time: now,
            alerts,
            report: report.clone(),
        });
    }

    // A debug-level span: at info it costs a formatted allocation per webhook on the duplicate hot
    // path. The logs below name the function themselves.
    #[instrument(level = "debug", skip_all, fields(function = %intent.function))]
    async fn handle_function(&self, intent: &Intent, now: DateTime<Utc>) -> FunctionReport {
        let function = &intent.function;
        for _ in 0..=CONFLICT_RETRIES {
            match self.attempt(intent, now).await {
                Ok(decision) => {
                    return FunctionReport::from_decision(function, decision);
                }
                Err(BackendError::Conflict(why)) => {
                    info!(%function, %why, "version conflict; reading again");
                }
                Err(e @ (BackendError::NotFound(_) | BackendError::Ineligible(_))) => {
                    return FunctionReport::new(function, Outcome::Refused, e.to_string());
                }
                Err(e) => {
                    warn!(%function, error = %e, backend = self.backend.name(), "backend failed");
                    return FunctionReport::new(function, Outcome::Error, e.to_string());
                }
            }
        }
        let reason = format!("gave up after {CONFLICT_RETRIES} version conflicts; retry later");
        FunctionReport::new(function, Outcome::Error, reason)
    }

    /// One read → plan → decide → write round; a conflict means "do it again".
    async fn attempt(&self, intent: &Intent, now: DateTime<Utc>) -> Result<Decision, BackendError> {
        let state = self.backend.read(&intent.function).await?;
        let s = &self.settings;
        let labels =
            match labels::parse_within(&state.labels, &s.label_defaults, s.ceiling, &s.platform) {
                Ok(labels) => labels,
                Err(e) => {
                    return Ok(Decision::Refused {
                        reason: e.to_string(),
                    });
                }
            };
        let entry = state.ledger.unwrap_or_default();
        let plan = ledger::plan(&entry, &intent.signals, now, &s.ledger);
        let load = (self.load)
            .for_trigger(&plan.trigger, &s.policy, &intent.function)
            .await;
        let input = policy::Input {
            labels: &labels,
            current: state.replicas,
            trigger: &plan.trigger,
            entry: &entry,
            load: load.as_ref(),
            now,
        };
        let mut next = plan.next.clone();
        let decision = policy::decide(&input, &s.policy, &mut next);
        let decision = policy::platform::explain(decision, &labels, &s.platform);
        if let Some(Ok(kind)) = policy::selected(&plan.trigger, &s.policy) {
            info!(function = %intent.function, policy = kind.as_str(), current = state.replicas, target = decision.target(), load = load.as_ref().map(|l| l.value), reason = %decision.reason(), "policy");
        }
        if matches!(decision, Decision::Refused { .. }) {
            return Ok(decision);
        }
        let replicas = decision.target();
        if replicas.is_some() || next != entry {
            let update = Update {
                replicas,
                ledger: &next,
                version: &state.version,
            };
            let applied = self.backend.apply(&intent.function, update).await?;
            self.metrics.ledger_size(&intent.function, next.len());
            return Ok(applied.carried_out(decision));
        }
        self.metrics.ledger_size(&intent.function, entry.len());
        Ok(decision)
    }
}
