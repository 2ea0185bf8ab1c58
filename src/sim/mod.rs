//! `alertscaler simulate`: replay a load through a model of the function, of Prometheus and of AlertManager,
//! and through the real decision code, to compare scaling policies before deploying them.
//!
//! Time is simulated in 1 s steps and passed to the decision code as `now`; nothing reads the clock except the
//! wall-time measurement of a run. A run is deterministic given its seed.
//!
//! # Layout
//! - [`scenario`]: TOML scenario files; [`load`]: load traces and the seeded random source.
//! - [`queue`]: M/M/c response times (Erlang C); [`finite`]: a closed population's exact queue (M/M/c//N);
//!   [`function`]: one function's replicas, backlog and metrics.
//! - [`monitor`]: Prometheus (`rate`, `histogram_quantile`, alert states with `for:`); [`rules`]: the shipped
//!   packs' alerting rules; [`capacity`]: the capacity pack's recording rules; [`alertmanager`]: grouping,
//!   timers, notification log, webhook payloads.
//! - [`presets`]: named policies; [`decider`]: CE's handler, alertscaler's `Service`, or [`kpa`] (the
//!   Knative-like baseline); [`engine`]: the per-second loop.
//! - [`feasibility`]: each function's capacity at max replicas against its peak load.
//! - [`replay`]: promtool test files replayed through the rule model (the rules are the shipped ones).
//! - [`stats`]: latency quantiles and direction changes; [`report`]: table, `summary.json`, CSV and SVG.

pub mod alertmanager;
pub mod capacity;
pub mod decider;
pub mod engine;
pub mod feasibility;
pub mod finite;
pub mod function;
pub mod kpa;
pub mod load;
pub mod monitor;
pub mod plot;
pub mod presets;
pub mod prom_api;
pub mod queue;
pub mod replay;
pub mod report;
pub mod rules;
pub mod scenario;
pub mod setup;
pub mod stats;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::bounded;

/// The largest scenario file read: the configuration file's bound (16 MiB). A scenario is written
/// by hand (a fleet repeats its functions with `copies`), so this is far above any real one.
pub const SCENARIO_MAX_BYTES: usize = bounded::CONFIG_MAX_BYTES;

/// The largest load trace (CSV) read (256 MiB). A trace may be recorded: the longest scenario
/// (`duration_secs` ≤ 604 800, a week) sampled every second is 604 800 rows, and 256 MiB leaves
/// about 440 bytes a row (a time and some forty columns of 10 characters). The shipped fixtures
/// hold no trace (the 10 000-function fleet is 1.3 KB of generated shapes).
pub const TRACE_MAX_BYTES: usize = 256 * 1024 * 1024;

pub use engine::{Bound, NotificationRecord, PolicyRun, Row, Simulation, Totals};
use presets::Preset;
use scenario::Scenario;

/// Why a simulation could not run; each message says what to fix.
#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Scenario(String),
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{what} {path} is larger than {}: no {what} is that large (is it the right file?)",
        bounded::size(*limit)
    )]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: usize,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("unknown policy {name:?}; known policies: {known}")]
    UnknownPolicy { name: String, known: String },
    #[error("the simulated alertscaler configuration is invalid: {0}")]
    Config(String),
    #[error("cannot start the simulation runtime: {0}")]
    Runtime(String),
}

/// The text of an operator-given file (`what`: "scenario file", "load trace"), at most `limit`
/// bytes: a wrong path (`/dev/zero`, a huge file) is refused in one line naming it.
pub(crate) fn read_text(path: &Path, what: &'static str, limit: usize) -> Result<String, SimError> {
    let unreadable = |message: String| SimError::Io {
        path: path.to_owned(),
        message,
    };
    let bytes = bounded::read_bounded(path, limit).map_err(|e| match e {
        bounded::BoundedError::Io(cause) => unreadable(cause.to_string()),
        bounded::BoundedError::TooLarge { limit } => SimError::TooLarge {
            what,
            path: path.to_owned(),
            limit,
        },
    })?;
    String::from_utf8(bytes).map_err(|_| unreadable("stream did not contain valid UTF-8".into()))
}

/// Command-line choices for a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Policies to run; empty means the scenario's list, or every preset.
    pub policies: Vec<String>,
}

/// Resolve policy names: the options', else the scenario's, else every preset.
pub fn policies(scenario: &Scenario, options: &Options) -> Result<Vec<&'static Preset>, SimError> {
    let names: Vec<String> = if !options.policies.is_empty() {
        options.policies.clone()
    } else if !scenario.policies.is_empty() {
        scenario.policies.clone()
    } else {
        presets::names().into_iter().map(String::from).collect()
    };
    names
        .iter()
        .map(|name| {
            presets::preset(name).ok_or_else(|| SimError::UnknownPolicy {
                name: name.clone(),
                known: presets::names().join(", "),
            })
        })
        .collect()
}

/// Load a scenario file and run the chosen policies on it.
pub fn run_file(path: &Path, options: &Options) -> Result<Simulation, SimError> {
    let scenario = Scenario::load(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    run(&scenario, base, options)
}

/// Run the chosen policies on a scenario; `base` resolves relative CSV paths.
pub fn run(scenario: &Scenario, base: &Path, options: &Options) -> Result<Simulation, SimError> {
    scenario.validate()?;
    let presets = policies(scenario, options)?;
    let functions = scenario.expand(base)?;
    let capacity = functions
        .iter()
        .take(scenario.functions.len())
        .map(|(f, trace)| feasibility::capacity(f, trace, scenario.duration_secs))
        .collect();
    let seed = options.seed.unwrap_or(scenario.seed);
    let runs = presets
        .into_iter()
        .map(|p| engine::run_policy(scenario, &functions, p, seed))
        .collect::<Result<Vec<_>, _>>()?;
    let bound = runs.iter().find(|r| r.policy.name == "ce").map(|ce| {
        let allowed = ce.totals.slo_violation_secs / 2;
        Bound {
            allowed_violation_seconds: allowed,
            least_replica_seconds: feasibility::least_replica_seconds(
                &functions,
                scenario.duration_secs,
                allowed,
            ),
        }
    });
    Ok(Simulation {
        scenario: scenario.clone(),
        functions: functions
            .iter()
            .map(|(f, _)| format!("{}.{}", f.name, f.namespace))
            .collect(),
        capacity,
        runs,
        bound,
        serving: feasibility::serving_bound(&functions, scenario.duration_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(scenario: &str, asked: &[&str]) -> Vec<&'static str> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
        let options = Options {
            policies: asked.iter().map(|p| p.to_string()).collect(),
            ..Options::default()
        };
        let chosen = policies(&Scenario::load(&path).unwrap(), &options).unwrap();
        chosen.iter().map(|p| p.name).collect()
    }

    /// README's Simulator: `--policy` picks the presets; without it the scenario's `policies`
    /// list, and without that every preset.
    #[test]
    fn policies_are_the_command_lines_else_the_scenarios_else_every_preset() {
        let all = presets::names();
        assert_eq!(
            all,
            [
                "ce",
                "step",
                "step-ce-down",
                "latency",
                "proportional",
                "capacity",
                "capacity-zero",
                "kpa"
            ]
        );
        let built_in = "fixtures/scenarios/cpu-bound-75ms.toml";
        assert_eq!(names(built_in, &[]), all);
        assert_eq!(names(built_in, &["kpa", "ce"]), ["kpa", "ce"]);
        let listed = "fixtures/closed-loop/step.toml";
        assert_eq!(names(listed, &[]), ["step-ce-down", "capacity"]);
        assert_eq!(names(listed, &["latency"]), ["latency"]);
    }
}
