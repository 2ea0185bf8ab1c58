//! What the service decides with (its settings from the configuration) and what asks it to
//! decide (the triggers).

use chrono::TimeDelta;

use crate::alert::{Identity, Signal};
use crate::config::{Config, PolicyConfig};
use crate::labels::LabelRules;
use crate::ledger;

/// Decision settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub identity: Identity,
    pub timing: ledger::Timing,
    /// Label defaults, ceiling and the platform's replica limits; labels are fitted into them
    /// before any policy plans.
    pub labels: LabelRules,
    pub policy: PolicyConfig,
    /// Shadow mode: a decision that would move replicas writes only the ledger, as if it had
    /// moved them, and is reported as a hold ([`crate::policy::Why::DryRun`]).
    pub dry_run: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            identity: Identity {
                function_label: config.function_label.clone(),
                default_namespace: config.default_namespace.clone(),
                allowed_namespaces: config.allowed_namespaces.clone(),
            },
            timing: ledger::Timing {
                cooldown: secs(config.scale_up_cooldown_secs),
                episode_ttl: secs(config.episode_ttl_secs),
                ..ledger::Timing::default()
            },
            labels: LabelRules::from_config(config),
            policy: config.policy,
            dry_run: config.dry_run,
        }
    }
}

fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// What asks for a decision about one function.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// An AlertManager notification's alerts for this function.
    Notification(&'a [Signal]),
    /// The settle pass: finish a scale-down the stabilization window held back, if any.
    Settle,
    /// The follow-up of a firing capacity alert: re-read the desired count from Prometheus.
    FollowUp,
}

impl Cause<'_> {
    /// The name recorded in the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Notification(_) => "notification",
            Self::Settle => "settle",
            Self::FollowUp => "follow_up",
        }
    }
}
