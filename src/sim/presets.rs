//! Policy presets: which alert rules are simulated, who decides, and which overrides apply.
//!
//! Presets are data: adding one is one entry in [`PRESETS`].

use super::monitor::Expr;
use crate::policy::ScaleDown;

/// Who turns notifications into replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// OpenFaaS CE's gateway handler, emulated: every alert of every notification applies
    /// [`crate::policy::step::ce_calculate_replicas`] to the current replicas, with no memory (no dedup).
    CeNoDedup,
    /// alertscaler itself: [`crate::service::Service::handle`] on a [`crate::backend::memory::MemoryBackend`].
    Service,
}

/// The alert rules of the shipped packs the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// CE's `APIHighInvocationRate` (rate over 10 s > 5, for 5 s).
    CeRate,
    /// `FunctionLatencyHigh` (p95 over 1 m > target while there were requests in the last 30 s, for 30 s;
    /// scale up, policy latency).
    LatencyHigh,
    /// `FunctionLatencyLow` (p95 over 1 m < target × 0.8 with traffic, for 2 m; scale down, policy latency).
    LatencyLow,
}

/// A simulated alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alertname: &'static str,
    pub expr: Expr,
    pub for_secs: u64,
    /// Labels the rule adds to every alert.
    pub labels: &'static [(&'static str, &'static str)],
}

impl RuleKind {
    /// The rule exactly as the packs in `alert-rules/` define it.
    pub fn rule(self) -> Rule {
        const GATEWAY: [(&str, &str); 2] = [("service", "gateway"), ("severity", "major")];
        match self {
            Self::CeRate => Rule {
                alertname: "APIHighInvocationRate",
                expr: Expr::RateAbove {
                    window: 10,
                    threshold: 5.0,
                },
                for_secs: 5,
                labels: &GATEWAY,
            },
            Self::LatencyHigh => Rule {
                alertname: "FunctionLatencyHigh",
                expr: Expr::P95Above {
                    window: 60,
                    traffic_window: 30,
                },
                for_secs: 30,
                labels: &[
                    ("scale_direction", "up"),
                    ("scale_policy", "latency"),
                    ("service", "gateway"),
                    ("severity", "major"),
                ],
            },
            Self::LatencyLow => Rule {
                alertname: "FunctionLatencyLow",
                expr: Expr::P95Below {
                    window: 60,
                    tolerance: 0.2,
                },
                for_secs: 120,
                labels: &[
                    ("scale_direction", "down"),
                    ("scale_policy", "latency"),
                    ("service", "gateway"),
                    ("severity", "major"),
                ],
            },
        }
    }
}

/// A named policy preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub decider: Decider,
    pub rules: &'static [RuleKind],
    /// Overrides `scale_up_cooldown_secs` of alertscaler's configuration.
    pub cooldown_secs: Option<u64>,
    /// Overrides `[policy] scale_down` (default `stabilized`, 300 s window).
    pub scale_down: Option<ScaleDown>,
    /// Labels added to every function.
    pub labels: &'static [(&'static str, &'static str)],
}

/// Every preset, in the order they are listed.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "ce",
        about: "OpenFaaS CE: APIHighInvocationRate, every alert steps (no dedup)",
        decider: Decider::CeNoDedup,
        rules: &[RuleKind::CeRate],
        cooldown_secs: None,
        scale_down: None,
        labels: &[],
    },
    Preset {
        name: "alertscaler-step",
        about: "alertscaler with the CE rule: dedup by episode, cooldown",
        decider: Decider::Service,
        rules: &[RuleKind::CeRate],
        cooldown_secs: None,
        scale_down: None,
        labels: &[],
    },
    Preset {
        name: "alertscaler-step-ce-down",
        about: "alertscaler-step with [policy] scale_down = \"ce\": to min at once on the resolution",
        decider: Decider::Service,
        rules: &[RuleKind::CeRate],
        cooldown_secs: None,
        scale_down: Some(ScaleDown::Ce),
        labels: &[],
    },
    Preset {
        name: "alertscaler-latency",
        about: "alertscaler with FunctionLatencyHigh/Low (scale_policy=latency)",
        decider: Decider::Service,
        rules: &[RuleKind::LatencyHigh, RuleKind::LatencyLow],
        cooldown_secs: None,
        scale_down: None,
        labels: &[],
    },
];

/// Look a preset up by name.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Names of all presets, for error messages and `--help`.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}
