//! The settle loop: finishes scale-downs that the stabilization window held back.
//!
//! AlertManager sends a resolution once, so a scale-down held by the window would otherwise stay
//! held. Every `policy.settle_interval_secs` the loop re-decides, purely
//! ([`crate::policy::stabilize::settle`]), the functions whose ledger entry has a pending target,
//! and writes through the backend under the read version like any decision.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::backend::Update;
use crate::error::BackendError;
use crate::id::FunctionId;
use crate::labels;
use crate::policy::{Decision, stabilize};
use crate::service::{FunctionReport, Service};

impl Service {
    /// One pass over the listed functions at `now`; reports only functions with a pending target.
    pub async fn settle(&self, now: DateTime<Utc>) -> Result<Vec<FunctionReport>, BackendError> {
        let mut reports = Vec::new();
        // Only functions whose stored ledger has a pending target are read again: the others
        // would cost a read each for nothing (a GET per function per pass on Kubernetes).
        let pending = self.backend().list().await?.into_iter();
        for f in pending.filter(|f| f.settling_to.is_some()) {
            let id = FunctionId {
                name: f.name,
                namespace: f.namespace,
            };
            match self.settle_one(&id, now).await {
                Ok(Some(decision)) => {
                    let report = FunctionReport::from_decision(&id, decision);
                    info!(function = %id, outcome = ?report.outcome, from = report.from, to = report.to, reason = %report.reason, "settled");
                    reports.push(report);
                }
                Ok(None) => {}
                // A conflict or an outage: the next pass tries again.
                Err(e) => warn!(function = %id, error = %e, "settle failed"),
            }
        }
        Ok(reports)
    }

    async fn settle_one(
        &self,
        id: &FunctionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Decision>, BackendError> {
        let state = self.backend().read(id).await?;
        let Some(entry) = state.ledger.as_ref().filter(|e| e.settle_to.is_some()) else {
            return Ok(None);
        };
        let s = self.settings();
        let Ok(labels) = labels::parse(&state.labels, &s.label_defaults, s.ceiling) else {
            return Ok(None);
        };
        let Some((decision, next)) =
            stabilize::settle(&labels, state.replicas, entry, now, &s.policy)
        else {
            return Ok(None);
        };
        if decision.target().is_some() || &next != entry {
            let update = Update {
                replicas: decision.target(),
                ledger: &next,
                version: &state.version,
            };
            self.backend().apply(id, update).await?;
        }
        Ok(Some(decision))
    }
}

/// Run [`Service::settle`] every `policy.settle_interval_secs` (0: never) until aborted.
pub fn spawn(service: Service) -> JoinHandle<()> {
    let every = service.settings().policy.settle_interval_secs;
    tokio::spawn(async move {
        if every == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !service.backend().leads_passes().await {
                continue;
            }
            match service.settle(Utc::now()).await {
                Ok(_) => {}
                Err(e @ BackendError::Unsupported(_)) => {
                    warn!(error = %e, backend = service.backend().name(), "backend cannot list functions: held-back scale-downs finish only on the next alert");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, backend = service.backend().name(), "settle pass failed")
                }
            }
        }
    })
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
