//! How a preset plus a scenario's overrides become the functions' labels, alertscaler's configuration
//! and the simulated rules of one run: checked before the run starts, so a bad override is refused
//! before any decider is built.

use figment::Figment;
use figment::providers::Serialized;

use super::SimError;
use super::capacity::CapacityTarget;
use super::kpa::KpaSpec;
use super::load::Trace;
use super::presets::{Preset, presets_match};
use super::rules::Rule;
use super::scenario::{FunctionSpec, PresetOverrides, Scenario};
use crate::config::{Config, MemoryFunction};

/// A preset made concrete for one scenario.
#[derive(Debug, Clone)]
pub struct Setup {
    pub rules: Vec<Rule>,
    pub specs: Vec<MemoryFunction>,
    pub config: Config,
    pub kpa: KpaSpec,
    /// Each function's capacity target (from its labels under this preset).
    pub capacity: Vec<CapacityTarget>,
}

fn overrides<'a>(scenario: &'a Scenario, preset: &Preset) -> Option<&'a PresetOverrides> {
    scenario
        .presets
        .iter()
        .find(|(name, _)| presets_match(name, preset))
        .map(|(_, o)| o)
}

/// Labels, configuration and rules of `preset` on `scenario`, overrides applied and validated.
pub fn setup(
    scenario: &Scenario,
    functions: &[(FunctionSpec, Trace)],
    preset: &Preset,
) -> Result<Setup, SimError> {
    let over = overrides(scenario, preset);
    let specs = specs(functions, preset, over);
    let config = config(preset, over, &specs)?;
    let rules = rules(preset, over);
    let capacity = specs
        .iter()
        .map(|s| CapacityTarget::from_labels(&s.labels))
        .collect();
    Ok(Setup {
        rules,
        specs,
        config,
        kpa: over.and_then(|o| o.kpa).unwrap_or_default(),
        capacity,
    })
}

/// The functions as the memory backend holds them: the scenario's labels, then the preset's where the
/// scenario sets none, then the scenario's `[presets.NAME]` labels over both.
fn specs(
    functions: &[(FunctionSpec, Trace)],
    preset: &Preset,
    over: Option<&PresetOverrides>,
) -> Vec<MemoryFunction> {
    functions
        .iter()
        .map(|(f, _)| {
            let mut labels = f.labels.clone();
            for (k, v) in preset.labels {
                labels.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
            if let Some(o) = over {
                labels.extend(o.labels.clone());
            }
            MemoryFunction {
                name: f.name.clone(),
                namespace: f.namespace.clone(),
                replicas: f.replicas,
                labels,
            }
        })
        .collect()
}

/// alertscaler's configuration under `preset`, with the scenario's `[presets.NAME.config]` merged over it
/// and validated.
fn config(
    preset: &Preset,
    over: Option<&PresetOverrides>,
    specs: &[MemoryFunction],
) -> Result<Config, SimError> {
    let mut config = Config::default();
    if let Some(c) = preset.cooldown_secs {
        config.scale_up_cooldown_secs = c;
    }
    if let Some(secs) = preset.stabilization_secs {
        config.policy.scale_down_stabilization_secs = secs;
    }
    if let Some(mode) = preset.scale_down {
        config.policy.scale_down = mode;
    }
    if let Some(table) = over.and_then(|o| o.config.as_ref()) {
        config = Figment::from(Serialized::defaults(config))
            .merge(Serialized::defaults(table))
            .extract()
            .map_err(|e| SimError::Config(format!("[presets.{}.config]: {e}", preset.name)))?;
    }
    config.memory.functions = specs.to_vec();
    config
        .validate()
        .map_err(|e| SimError::Config(e.to_string()))?;
    Ok(config)
}

/// The preset's rules, with its `scale_policy` label and the scenario's parameter overrides.
fn rules(preset: &Preset, over: Option<&PresetOverrides>) -> Vec<Rule> {
    preset
        .rules
        .iter()
        .map(|k| {
            let mut rule = k.rule();
            if let Some(policy) = preset.scale_policy {
                rule.labels.insert("scale_policy".into(), policy.into());
            }
            match over.and_then(|o| o.rules.get(rule.alertname)) {
                Some(p) => rule.with(p),
                None => rule,
            }
        })
        .collect()
}
