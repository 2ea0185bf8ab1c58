//! Results: the side-by-side table, the CSV time series and the SVG plots of a simulation.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimError;
use super::engine::{COMMON_DIRECTION_WINDOW_SECS, PolicyRun, Simulation};

fn ms(seconds: f64) -> f64 {
    (seconds * 10_000.0).round() / 10.0
}

fn cell(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "–".into()
    }
}

/// The side-by-side comparison of every policy, as a Markdown table.
pub fn table(sim: &Simulation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| policy | SLO-violation s | replica-s over {} s | mean ms | p50 ms | p95 ms | p99 ms | dropped/timed-out | scale events | cold starts | direction changes / own window | direction changes / {COMMON_DIRECTION_WINDOW_SECS} s | peak replicas | notifications | refused |",
        sim.scenario.duration_secs
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for run in &sim.runs {
        let t = &run.totals;
        let l = &t.latencies;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} / {} s | {} | {} | {} | {} |",
            run.policy.name,
            t.slo_violation_secs,
            t.replica_seconds,
            cell(ms(l.mean())),
            cell(ms(l.quantile(0.5))),
            cell(ms(l.quantile(0.95))),
            cell(ms(l.quantile(0.99))),
            t.dropped,
            t.scale_events,
            t.cold_starts,
            t.max_direction_changes,
            t.direction_window_secs,
            t.max_direction_changes_common,
            t.peak_replicas,
            t.notifications,
            t.refused
        );
    }
    out
}

/// One policy's line of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySummary {
    pub name: String,
    pub slo_violation_seconds: u64,
    pub replica_seconds: u64,
    /// Latency of served requests in ms; `null` when nothing was served (or in fleet runs).
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Requests dropped or timed out (the model has one cause: waiting longer than `timeout_secs`).
    pub dropped: u64,
    pub scale_events: u64,
    pub cold_starts: u64,
    /// Within one stabilization window of this preset (`policy.scale_down_stabilization_secs`, 300 s
    /// by default; `direction_window_seconds`).
    pub max_direction_changes_per_window: u32,
    pub direction_window_seconds: u64,
    /// Within [`COMMON_DIRECTION_WINDOW_SECS`] (300 s), the same window for every preset.
    pub max_direction_changes_per_300s: u32,
}

/// `summary.json`: the machine-readable table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    /// Replica-seconds are summed over this fixed horizon (the scenario's `duration_secs`).
    pub horizon_seconds: u64,
    /// The preset the README recommends for new installs.
    pub recommended: String,
    pub policies: Vec<PolicySummary>,
    /// Half of CE's violation seconds, and a lower bound on the replica-seconds any policy needs to stay
    /// within it (perfect foresight, no cold start, no backlog); absent without a `ce` run. Where the bound
    /// exceeds CE's replica-seconds, no policy can have half of CE's violations at CE's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_ce_violations: Option<super::Bound>,
    /// What serving every second a cold start's notice allows costs at the least
    /// ([`super::feasibility::Serving`]): above CE's replica-seconds, CE's bar needs seconds left
    /// unserved on purpose.
    pub serving_policy: super::feasibility::Serving,
}

/// The summary of a simulation.
pub fn summary_json(sim: &Simulation) -> Summary {
    let finite = |x: f64| x.is_finite().then_some(ms(x));
    Summary {
        scenario: sim.scenario.name.clone(),
        horizon_seconds: sim.scenario.duration_secs,
        recommended: super::presets::RECOMMENDED.into(),
        policies: sim
            .runs
            .iter()
            .map(|run| {
                let t = &run.totals;
                let l = &t.latencies;
                PolicySummary {
                    name: run.policy.name.into(),
                    slo_violation_seconds: t.slo_violation_secs,
                    replica_seconds: t.replica_seconds,
                    mean_ms: finite(l.mean()),
                    p50_ms: finite(l.quantile(0.5)),
                    p95_ms: finite(l.quantile(0.95)),
                    p99_ms: finite(l.quantile(0.99)),
                    dropped: t.dropped.round() as u64,
                    scale_events: t.scale_events,
                    cold_starts: t.cold_starts,
                    max_direction_changes_per_window: t.max_direction_changes,
                    direction_window_seconds: t.direction_window_secs,
                    max_direction_changes_per_300s: t.max_direction_changes_common,
                }
            })
            .collect(),
        half_ce_violations: sim.bound,
        serving_policy: sim.serving,
    }
}

/// A short Markdown summary of a scenario's run (heading, description, table).
pub fn summary(sim: &Simulation) -> String {
    let s = &sim.scenario;
    let mut out = format!(
        "## {}\n\n{}\n\n{} function(s), {} s simulated (replica-seconds over that horizon; direction changes counted within each preset's own stabilization window, and within 300 s for every preset alike).\n\n",
        s.name,
        s.description.trim(),
        sim.functions.len(),
        s.duration_secs
    );
    for (f, c) in s.functions.iter().zip(&sim.capacity) {
        let _ = writeln!(out, "- {}", c.describe(&f.name));
    }
    if let Some(b) = sim.bound {
        let least = b
            .least_replica_seconds
            .map_or("no number of replicas".into(), |r| {
                format!("at least {r} replica-seconds")
            });
        let _ = writeln!(
            out,
            "- Lower bound: at most {} violation seconds (half of CE's) needs {least} under any policy \
             (perfect foresight, no cold start, no backlog).",
            b.allowed_violation_seconds
        );
    }
    let _ = writeln!(
        out,
        "- Serving every second a cold start's notice allows (each second's need known as it starts, new \
         replicas after the cold start) leaves {} seconds unserved and costs at least {} replica-seconds.",
        sim.serving.violation_seconds, sim.serving.replica_seconds
    );
    out.push('\n');
    out.push_str(&table(sim));
    out.push('\n');
    out
}

/// One policy's time series as CSV: one row per second and function (per second in fleet mode).
pub fn csv(sim: &Simulation, run: &PolicyRun) -> String {
    let mut out = String::from(
        "t,function,offered_rps,arrivals,served,dropped,backlog,replicas,ready,p95_ms,slo_violation,firing_alerts\n",
    );
    for r in &run.rows {
        let name = r.function.map_or("fleet", |i| sim.functions[i].as_str());
        let s = &r.second;
        let p95 = if s.p95.is_finite() {
            format!("{:.1}", s.p95 * 1000.0)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{},{},{:.3},{},{:.1},{},{:.1},{},{},{},{},{}",
            r.t,
            name,
            s.offered_rps,
            s.arrivals,
            s.served,
            s.dropped,
            s.backlog,
            r.replicas,
            r.ready,
            p95,
            u8::from(s.violation),
            r.firing
        );
    }
    out
}

/// Create the output directory (and its parents) if needed. Called before a simulation, so that an
/// `--out` that names a file or a place that cannot be written to fails at once, not after the run.
pub fn prepare(dir: &Path) -> Result<(), SimError> {
    let err = |message: String| SimError::Write {
        path: dir.to_owned(),
        message,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(err(
            "not a directory (--out names the directory to write into)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))
}

/// Write `summary.md`, `<policy>.csv` and one SVG per function (per fleet) into `dir`.
pub fn write(sim: &Simulation, dir: &Path) -> Result<Vec<String>, SimError> {
    let err = |path: &Path, e: String| SimError::Write {
        path: path.to_owned(),
        message: e,
    };
    prepare(dir)?;
    let mut written = Vec::new();
    let mut put = |name: String, text: String| {
        let path = dir.join(&name);
        std::fs::write(&path, text).map_err(|e| err(&path, e.to_string()))?;
        written.push(name);
        Ok::<(), SimError>(())
    };
    put("summary.md".into(), summary(sim))?;
    let json = serde_json::to_string_pretty(&summary_json(sim)).unwrap_or_default();
    put("summary.json".into(), json + "\n")?;
    for run in &sim.runs {
        put(format!("{}.csv", run.policy.name), csv(sim, run))?;
    }
    let plots: Vec<(Option<usize>, String)> = if sim.is_fleet() {
        vec![(None, "fleet".into())]
    } else {
        sim.functions
            .iter()
            .enumerate()
            .map(|(i, f)| (Some(i), f.clone()))
            .collect()
    };
    for (function, name) in plots {
        let file = format!("{name}.svg");
        let path = dir.join(&file);
        super::plot::plot(sim, function, &name, &path).map_err(|e| err(&path, e))?;
        written.push(file);
    }
    Ok(written)
}
