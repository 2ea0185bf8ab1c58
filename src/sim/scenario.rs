//! Scenario files (TOML): the functions, their load, and the monitoring timings to simulate.
//!
//! Unknown keys are errors, as in the server's configuration: a typo must not silently change a result.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::SimError;
use super::alertmanager::AlertmanagerSpec;
use super::kpa::KpaSpec;
use super::load::{LoadSpec, Trace};
use super::queue::Distribution;
use super::rules::RuleParams;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Simulated seconds.
    pub duration_secs: u64,
    /// Seed of the random arrivals (overridden by `--seed`).
    #[serde(default)]
    pub seed: u64,
    /// Policies run when the command line names none.
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub prometheus: PrometheusSpec,
    #[serde(default)]
    pub alertmanager: AlertmanagerSpec,
    /// Fleet mode: every function below is replicated this many times (names get `-<i>`), and only
    /// fleet-wide series are recorded.
    pub fleet: Option<FleetSpec>,
    /// Per-preset changes: `[presets.<name>]` with `labels`, `config`, `rules.<alertname>` and `kpa`.
    #[serde(default)]
    pub presets: BTreeMap<String, PresetOverrides>,
    pub functions: Vec<FunctionSpec>,
}

/// Prometheus timings.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusSpec {
    pub scrape_interval_secs: u64,
    pub evaluation_interval_secs: u64,
    /// Scrapes happen at `t % interval == offset`; absent: drawn from the seed (a random phase).
    pub scrape_offset_secs: Option<u64>,
    /// Evaluations happen at `t % interval == offset`; absent: drawn from the seed.
    pub evaluation_offset_secs: Option<u64>,
}

impl Default for PrometheusSpec {
    /// The OpenFaaS gateway job's 5 s scrape; evaluation every 5 s.
    fn default() -> Self {
        Self {
            scrape_interval_secs: 5,
            evaluation_interval_secs: 5,
            scrape_offset_secs: None,
            evaluation_offset_secs: None,
        }
    }
}

/// What a scenario changes for one preset.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetOverrides {
    /// Labels every function gets under this preset (they replace the function's own).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// alertscaler configuration keys, as in its TOML file (e.g. `policy = { scale_down_stabilization_secs =
    /// 120 }`); validated as the server validates its file.
    pub config: Option<toml::Table>,
    /// Rule parameters by alert name.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleParams>,
    /// KPA parameters (the `kpa` preset).
    pub kpa: Option<KpaSpec>,
}

/// Fleet mode.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    pub copies: u32,
}

/// One function: its service, its replicas and its load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Mean service time of one request, in milliseconds.
    pub service_time_ms: f64,
    #[serde(default)]
    pub service_distribution: Distribution,
    /// Requests one replica serves at once.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// Seconds before a new replica serves.
    #[serde(default)]
    pub cold_start_secs: u64,
    /// Replicas at the start.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Function labels (`com.openfaas.scale.*`), read by the decision code.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The p95 latency objective, in milliseconds (SLO and latency rules).
    pub latency_target_ms: f64,
    /// Requests queued longer than this are dropped (gateway / client timeout).
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    pub load: Vec<LoadSpec>,
}

/// Most requests one simulated replica serves at once: far above any watchdog's `max_inflight` in practice,
/// and low enough that Erlang C over every replica's servers stays cheap for a second of simulated time.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// Most replicas a simulated function may start with (its labels' max is bounded by the ceiling).
pub const MAX_START_REPLICAS: u32 = 10_000;

fn default_namespace() -> String {
    "openfaas-fn".into()
}

fn one() -> u32 {
    1
}

fn default_timeout() -> f64 {
    30.0
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = super::read_text(path, "scenario file", super::SCENARIO_MAX_BYTES)?;
        let scenario: Scenario = toml::from_str(&text).map_err(|e| {
            SimError::Scenario(format!(
                "{}: {}",
                path.display(),
                crate::config::positioned(&text, &e)
            ))
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Rules that types cannot express; each error names the key.
    pub fn validate(&self) -> Result<(), SimError> {
        self.check()
            .map_err(|what| SimError::Scenario(format!("scenario {}: {what}", self.name)))
    }

    /// [`Self::validate`]'s checks in order; the first problem found.
    fn check(&self) -> Result<(), String> {
        if self.duration_secs == 0 || self.duration_secs > 7 * 86_400 {
            return Err("duration_secs must be between 1 and 604800".into());
        }
        self.check_loops()?;
        if self.functions.is_empty() {
            return Err("needs at least one [[functions]]".into());
        }
        for (name, o) in &self.presets {
            check_preset(name, o)?;
        }
        if self
            .fleet
            .is_some_and(|f| f.copies == 0 || f.copies > 1_000_000)
        {
            return Err("fleet.copies must be between 1 and 1000000".into());
        }
        self.functions.iter().try_for_each(check_function)
    }

    /// Prometheus' and AlertManager's intervals and offsets.
    fn check_loops(&self) -> Result<(), String> {
        let p = &self.prometheus;
        if p.scrape_interval_secs == 0 || p.evaluation_interval_secs == 0 {
            return Err("prometheus intervals must be ≥ 1 s".into());
        }
        if p.scrape_offset_secs
            .is_some_and(|o| o >= p.scrape_interval_secs)
            || p.evaluation_offset_secs
                .is_some_and(|o| o >= p.evaluation_interval_secs)
        {
            return Err("prometheus offsets must be below their intervals".into());
        }
        let a = &self.alertmanager;
        if a.group_interval_secs == 0 || a.deliveries == 0 {
            return Err("alertmanager.group_interval_secs and deliveries must be ≥ 1".into());
        }
        Ok(())
    }

    /// The functions to simulate (fleet copies expanded) with their compiled load traces.
    pub fn expand(&self, base: &Path) -> Result<Vec<(FunctionSpec, Trace)>, SimError> {
        let copies = self.fleet.map_or(1, |f| f.copies);
        let mut out = Vec::with_capacity(self.functions.len() * copies as usize);
        let traces: Vec<Trace> = self
            .functions
            .iter()
            .map(|f| Trace::compile(&f.load, base, &f.name))
            .collect::<Result<_, _>>()?;
        for i in 0..copies {
            for (f, trace) in self.functions.iter().zip(&traces) {
                let mut f = f.clone();
                if self.fleet.is_some() {
                    f.name = format!("{}-{i}", f.name);
                }
                out.push((f, trace.clone()));
            }
        }
        Ok(out)
    }
}

/// `[presets.NAME]`: a known preset, overriding only rules it simulates, with valid parameters.
fn check_preset(name: &str, o: &PresetOverrides) -> Result<(), String> {
    let Some(preset) = super::presets::preset(name) else {
        return Err(format!(
            "[presets.{name}]: no such preset (known: {})",
            super::presets::names().join(", ")
        ));
    };
    for (alert, params) in &o.rules {
        let Some(rule) = preset
            .rules
            .iter()
            .map(|r| r.rule())
            .find(|r| r.alertname == alert)
        else {
            return Err(format!(
                "[presets.{name}.rules.{alert}]: preset {name} does not simulate {alert}"
            ));
        };
        if let Some(problem) = params.problem(&rule) {
            return Err(format!("[presets.{name}.rules.{alert}]: {problem}"));
        }
    }
    if o.kpa.is_some() && preset.decider != super::presets::Decider::Kpa {
        return Err(format!(
            "[presets.{name}.kpa]: only the kpa preset has KPA parameters"
        ));
    }
    if o.kpa.is_some_and(|k| {
        k.tick_secs == 0
            || k.stable_window_secs == 0
            || k.panic_window_secs == 0
            || !(k.max_scale_up_rate >= 1.0 && k.max_scale_down_rate >= 1.0)
    }) {
        return Err(format!(
            "[presets.{name}.kpa]: windows and tick must be ≥ 1 s, rates ≥ 1"
        ));
    }
    Ok(())
}

/// One `[[functions]]` entry: a valid id, positive times, and bounded concurrency and replicas.
fn check_function(f: &FunctionSpec) -> Result<(), String> {
    let id = format!("{}.{}", f.name, f.namespace);
    if crate::id::FunctionId::parse(&id, "openfaas-fn").is_err() {
        return Err(format!("function {id:?} is not a valid name.namespace"));
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(f.service_time_ms) || !positive(f.latency_target_ms) || !positive(f.timeout_secs) {
        return Err(format!(
            "function {id}: service_time_ms, latency_target_ms and timeout_secs must be > 0"
        ));
    }
    if f.concurrency == 0 || f.replicas == 0 {
        return Err(format!(
            "function {id}: concurrency and replicas must be ≥ 1"
        ));
    }
    if f.concurrency > MAX_CONCURRENCY || f.replicas > MAX_START_REPLICAS {
        return Err(format!(
            "function {id}: concurrency must be at most {MAX_CONCURRENCY} and replicas at most \
             {MAX_START_REPLICAS} (the queue model's cost grows with the requests served at once)"
        ));
    }
    Ok(())
}
