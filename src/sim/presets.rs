//! Policy presets: which alert rules are simulated, who decides, and which overrides apply.
//!
//! Presets are data: adding one is one entry in [`PRESETS`]. A scenario may change a preset's labels,
//! configuration and rule parameters under `[presets.<name>]` (see [`super::scenario::PresetOverrides`]).

use super::rules::RuleKind;
use crate::policy::ScaleDown;

/// Who turns the monitoring signal into replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// OpenFaaS CE's gateway handler, emulated: every alert of every notification applies
    /// [`crate::policy::step::ce_calculate_replicas`] to the current replicas, with no memory (no dedup).
    CeNoDedup,
    /// alertscaler itself: [`crate::service::Service::handle`] on a [`crate::backend::memory::MemoryBackend`].
    Service,
    /// The Knative-KPA-like baseline ([`super::kpa`]): direct metrics every 2 s, no Prometheus, no alerts.
    Kpa,
}

/// A named policy preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// Earlier names still accepted on the command line and in scenario files.
    pub aliases: &'static [&'static str],
    pub about: &'static str,
    pub decider: Decider,
    pub rules: &'static [RuleKind],
    /// Replaces the `scale_policy` label of every rule (a pack's alerts routed to another policy).
    pub scale_policy: Option<&'static str>,
    /// Overrides `scale_up_cooldown_secs` of alertscaler's configuration.
    pub cooldown_secs: Option<u64>,
    /// Overrides `[policy] scale_down` (default `stabilized`, 300 s window).
    pub scale_down: Option<ScaleDown>,
    /// Overrides `[policy] scale_down_stabilization_secs` (the recommended capacity install uses 60).
    pub stabilization_secs: Option<u64>,
    /// Labels every function gets unless it has them.
    pub labels: &'static [(&'static str, &'static str)],
    /// The service reads `alertscaler:function_desired_replicas` from the simulated Prometheus at decision
    /// time (`[prometheus] url` set), as a capacity installation does.
    pub reads_desired: bool,
}

const BASE: Preset = Preset {
    name: "",
    aliases: &[],
    about: "",
    decider: Decider::Service,
    rules: &[],
    scale_policy: None,
    cooldown_secs: None,
    scale_down: None,
    stabilization_secs: None,
    labels: &[],
    reads_desired: false,
};

/// Every preset, in the order they are listed and run.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "ce",
        about: "OpenFaaS CE: APIHighInvocationRate, every alert steps (no dedup)",
        decider: Decider::CeNoDedup,
        rules: &[RuleKind::CeRate],
        ..BASE
    },
    Preset {
        name: "step",
        aliases: &["alertscaler-step"],
        about: "alertscaler with the CE rule: dedup by episode, cooldown, stabilized scale-down",
        rules: &[RuleKind::CeRate],
        ..BASE
    },
    Preset {
        name: "step-ce-down",
        aliases: &["alertscaler-step-ce-down"],
        about: "step with [policy] scale_down = \"ce\": to min at once on the resolution",
        rules: &[RuleKind::CeRate],
        scale_down: Some(ScaleDown::Ce),
        ..BASE
    },
    Preset {
        name: "latency",
        aliases: &["alertscaler-latency"],
        about: "alertscaler with FunctionLatencyHigh/Low (scale_policy=latency)",
        rules: &[RuleKind::LatencyHigh, RuleKind::LatencyLow],
        ..BASE
    },
    Preset {
        name: "proportional",
        about: "the capacity pack's alerts routed to the proportional policy (scale_policy=proportional)",
        rules: &[RuleKind::CapacityUnder, RuleKind::CapacityOver],
        scale_policy: Some("proportional"),
        labels: &[(crate::labels::TARGET, "10")],
        ..BASE
    },
    Preset {
        name: "capacity",
        about: "the capacity pack (FunctionUnderProvisioned/OverProvisioned), the capacity policy reading the \
                desired count from Prometheus at decision time",
        rules: &[RuleKind::CapacityUnder, RuleKind::CapacityOver],
        reads_desired: true,
        stabilization_secs: Some(RECOMMENDED_STABILIZATION_SECS),
        ..BASE
    },
    Preset {
        name: "capacity-zero",
        about: "capacity plus FunctionIdle and the zero policy (functions labelled com.openfaas.scale.zero=true \
                sleep after 15m idle; the gateway wakes them on the next request)",
        rules: &[
            RuleKind::CapacityUnder,
            RuleKind::CapacityOver,
            RuleKind::Idle,
        ],
        reads_desired: true,
        stabilization_secs: Some(RECOMMENDED_STABILIZATION_SECS),
        ..BASE
    },
    Preset {
        name: "kpa",
        about: "Knative-KPA-like baseline: direct in-flight metrics every 2 s, 60 s/6 s windows, panic",
        decider: Decider::Kpa,
        ..BASE
    },
];

/// Look a preset up by name or alias.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name == name || p.aliases.contains(&name))
}

/// Names of all presets, for error messages and `--help`.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// The scale-down stabilization window of the recommended capacity install: the pack's desired
/// count is already a 1-minute average and FunctionOverProvisioned waits 30 s (`for: 30s`), so
/// the HPA's 300 s on top only keeps replicas nobody needs (README, docs/policies.md).
pub const RECOMMENDED_STABILIZATION_SECS: u64 = 60;

/// The preset the README recommends for new installs (`recommended` in `summary.json`).
pub const RECOMMENDED: &str = "capacity";

/// Whether `name` (a name or alias, as a scenario writes it) is `preset`.
pub fn presets_match(name: &str, preset: &Preset) -> bool {
    name == preset.name || preset.aliases.contains(&name)
}
