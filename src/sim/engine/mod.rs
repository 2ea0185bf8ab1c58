//! The per-second loop of one policy run: functions → scrapes → rule evaluations → AlertManager → the
//! decision code → replicas.
//!
//! Order within second `t`: every function serves `(t-1, t]`; Prometheus scrapes at multiples of the scrape
//! interval and evaluates at multiples of the evaluation interval, sending alerts to AlertManager at once;
//! AlertManager runs its due timers and posts; the decider handles each post with `now = t`; replicas the
//! backend reports start (cold start) or stop.

mod run;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::SimError;
use super::function::Second;
use super::load::{Rng, Trace};
use super::presets::Preset;
use super::scenario::{FunctionSpec, Scenario};
use super::setup::setup;
use super::stats::Latencies;
use crate::alert::Status;
use run::Run;

/// One function's second, as written to the CSV (in fleet mode, `function` is `None`: the fleet's sums).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub t: u64,
    pub function: Option<usize>,
    pub second: Second,
    pub replicas: u32,
    pub ready: u32,
    pub firing: u32,
}

/// A notification as the receiver got it (kept in detailed runs, for timing checks).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub at: u64,
    pub status: Status,
    /// (alertname, function_name, status) of each alert.
    pub alerts: Vec<(String, String, Status)>,
}

/// What a policy cost and achieved over the whole run (sums over functions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub slo_violation_secs: u64,
    pub replica_seconds: u64,
    pub scale_events: u64,
    pub cold_starts: u64,
    pub peak_replicas: u32,
    pub served: f64,
    pub dropped: f64,
    pub notifications: u64,
    pub refused: u64,
    /// Latencies of the served requests (empty in fleet runs).
    pub latencies: Latencies,
    /// The most direction changes of one function's replicas within one stabilization window.
    pub max_direction_changes: u32,
    /// The window those changes are counted in (alertscaler's `scale_down_stabilization_secs`).
    pub direction_window_secs: u64,
    /// The same within [`COMMON_DIRECTION_WINDOW_SECS`], one window for every preset (comparable
    /// across presets, whose own windows differ).
    pub max_direction_changes_common: u32,
}

/// The window direction changes are also counted in for every preset alike: 300 s, the HPA's and
/// alertscaler's default stabilization window and the longest any preset uses.
pub const COMMON_DIRECTION_WINDOW_SECS: u64 = 300;

/// The result of one policy on one scenario.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub policy: &'static Preset,
    pub totals: Totals,
    pub rows: Vec<Row>,
    pub notifications: Vec<NotificationRecord>,
    pub wall: Duration,
}

/// All policies on one scenario.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub scenario: Scenario,
    /// `name.namespace` of each simulated function.
    pub functions: Vec<String>,
    /// Capacity against peak load of each function of the scenario file (before fleet copies).
    pub capacity: Vec<super::feasibility::Capacity>,
    pub runs: Vec<PolicyRun>,
    /// Issue 12's bar as a lower bound: the fewest replica-seconds any policy could spend with at most half
    /// of CE's violation seconds ([`super::feasibility::least_replica_seconds`]); `None` without a `ce` run.
    pub bound: Option<Bound>,
    /// What a policy that serves what it has seen cannot avoid ([`super::feasibility::serving_bound`]).
    pub serving: super::feasibility::Serving,
}

/// What the best possible policy would spend for half of CE's violations (`summary.json`'s
/// `half_ce_violations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bound {
    /// Half of CE's violation seconds (rounded down).
    pub allowed_violation_seconds: u64,
    /// `None` (`null`) when more seconds than that cannot be met even at max replicas.
    pub least_replica_seconds: Option<u64>,
}

impl Simulation {
    /// Fleet runs record fleet-wide sums instead of per-function series.
    pub fn is_fleet(&self) -> bool {
        self.scenario.fleet.is_some()
    }
}

/// The simulated clock's origin (any fixed instant: only differences matter).
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Offsets of the periodic loops from the simulated clock, drawn from the seed (so every preset of a run
/// sees the same): Prometheus' scrape and its rule evaluation are not aligned with each other or with the
/// load, as on a real installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    pub scrape: u64,
    pub evaluation: u64,
    pub kpa: u64,
}

impl Phases {
    /// Phases for `scenario` from `seed`.
    pub fn draw(scenario: &Scenario, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x005e_ed0f_9a5e);
        let p = scenario.prometheus;
        let (scrape, evaluation, kpa) = (rng.next_u64(), rng.next_u64(), rng.next_u64());
        Self {
            scrape: p
                .scrape_offset_secs
                .unwrap_or(scrape % p.scrape_interval_secs),
            evaluation: p
                .evaluation_offset_secs
                .unwrap_or(evaluation % p.evaluation_interval_secs),
            kpa: kpa % 64,
        }
    }
}

/// The random source of the run's `index`-th function: each function its own stream, the same for
/// every preset (and for the closed-loop test, which serves a scenario's function through the model).
pub fn stream(seed: u64, index: usize) -> Rng {
    Rng::new(Rng::new(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64())
}

/// Run one policy preset on the expanded functions of a scenario.
pub fn run_policy(
    scenario: &Scenario,
    functions: &[(FunctionSpec, Trace)],
    preset: &'static Preset,
    seed: u64,
) -> Result<PolicyRun, SimError> {
    let started = Instant::now();
    let setup = setup(scenario, functions, preset)?;
    let mut run = Run::new(scenario, &setup, functions, preset, seed)?;
    for t in 1..=scenario.duration_secs {
        run.second(t);
    }
    let (totals, rows, notifications) = run.finish();
    Ok(PolicyRun {
        policy: preset,
        totals,
        rows,
        notifications,
        wall: started.elapsed(),
    })
}

#[cfg(test)]
mod tests;
