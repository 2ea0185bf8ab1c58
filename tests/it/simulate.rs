//! `alertscaler simulate`: the queueing model, determinism, the monitoring path's timing, and the comparison
//! of CE's handler with alertscaler's Service on duplicates. Scenarios are TOML written to a temp dir and run
//! through the same entry point as the command. [`rules`]: the simulated rules against the shipped packs;
//! [`presets`]: outputs, arrivals, the KPA baseline, overrides, feasibility, capacity and zero presets.

use std::path::{Path, PathBuf};

use alertscaler::alert::Status;
use alertscaler::sim::queue::{Distribution, Response, erlang_c};
use alertscaler::sim::{self, Options, Simulation, report};

mod presets;
mod rules;

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(super) fn run(text: &str, policies: &[&str], seed: Option<u64>) -> Simulation {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", text);
    let options = Options {
        seed,
        policies: policies.iter().map(|p| p.to_string()).collect(),
    };
    sim::run_file(&path, &options).unwrap()
}

/// One function with a 100 req/s step from 0 to 60 s; 1 s scrape and evaluation; AlertManager
/// group_wait 1 s, group_interval 2 s, repeat_interval 5 s (the timings NOTES measured on real binaries).
pub(super) const TIMING: &str = r#"
name = "timing"
duration_secs = 100
seed = 9
[prometheus]
scrape_interval_secs = 1
evaluation_interval_secs = 1
[alertmanager]
group_wait_secs = 1
group_interval_secs = 2
repeat_interval_secs = 5
[[functions]]
name = "echo"
service_time_ms = 10
concurrency = 10
latency_target_ms = 100
labels = { "com.openfaas.scale.max" = "20", "com.openfaas.scale.factor" = "20" }
[[functions.load]]
kind = "step"
rps = 100
start_secs = 0
end_secs = 60
"#;

#[test]
fn erlang_c_matches_known_values() {
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    for rho in [0.2, 0.7, 0.95] {
        assert!((erlang_c(1, rho) - rho).abs() < 1e-12);
    }
    assert!((erlang_c(5, 4.0) - 0.554_112_554).abs() < 1e-8);
    // M/M/1 p95 = ln 20 / (mu - lambda).
    let r = Response::new(40.0, 1, 0.02, Distribution::Exponential).unwrap();
    assert!((r.quantile(0.95) - 20f64.ln() / 10.0).abs() < 1e-3);
}

#[test]
fn same_seed_same_csv_other_seed_other_csv() {
    let a = run(TIMING, &["ce", "step"], Some(5));
    let b = run(TIMING, &["ce", "step"], Some(5));
    let c = run(TIMING, &["ce", "step"], Some(6));
    for i in 0..2 {
        assert_eq!(report::csv(&a, &a.runs[i]), report::csv(&b, &b.runs[i]));
    }
    assert_ne!(report::csv(&a, &a.runs[0]), report::csv(&c, &c.runs[0]));
}

#[test]
fn alert_timing_follows_rule_and_alertmanager_timers() {
    let sim = run(TIMING, &["step"], None);
    let notes = &sim.runs[0].notifications;
    let at = |status| -> Vec<u64> {
        notes
            .iter()
            .filter(|n| n.status == status)
            .map(|n| n.at)
            .collect()
    };
    // Load from t=0: scrapes at 1 and 2 give the first rate (100 req/s extrapolated to the zero point → 20
    // > 5) at the t=2 evaluation: pending at 2, firing at 2 + for 5s = 7, group_wait 1 s → first post at 8.
    // Repeats: flushes every 2 s (10, 12, 14, …), sent when the last post is more than 5 s old → every 6 s.
    // Load ends at 60: the window [69-10, 69] still holds the last increase (rate 10); at 70 the rate is 0,
    // the alert resolves and the flush due at 70 posts it.
    let firing = at(Status::Firing);
    let expected: Vec<u64> = (8..70).step_by(6).collect();
    assert_eq!(firing, expected);
    assert_eq!(at(Status::Resolved), vec![70]);
    for n in notes {
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].0, "APIHighInvocationRate");
        assert_eq!(n.alerts[0].1, "echo.openfaas-fn");
    }
    // The real Service acted on them: step ceil(20 × 20%) = 4 per post after the 20 s cooldown, then min.
    let replicas = |t: u64| sim.runs[0].rows.iter().find(|r| r.t == t).unwrap().replicas;
    assert_eq!(replicas(7), 1);
    assert_eq!(replicas(8), 5);
    assert_eq!(
        replicas(69),
        1 + 4 * 3,
        "posts at 8, 32 (first after cooldown) and 56 step"
    );
    // What the resolution at 70 does depends on the configured scale-down mode (CE: to min at once;
    // stabilized: after its window), so only "never up on a resolution" is checked here.
    assert!(replicas(70) <= replicas(69));
}

#[test]
fn cold_start_delays_serving_replicas() {
    let text = TIMING.replace("concurrency = 10", "concurrency = 10\ncold_start_secs = 10");
    let sim = run(&text, &["step"], None);
    let rows = &sim.runs[0].rows;
    let row = |t: u64| rows.iter().find(|r| r.t == t).unwrap();
    // Scaled to 5 at t=8; the 4 new replicas serve from t=18, i.e. in the step ending at 19.
    assert_eq!((row(8).replicas, row(8).ready), (5, 1));
    assert_eq!(row(18).ready, 1);
    assert_eq!(row(19).ready, 5);
    assert_eq!(sim.runs[0].totals.cold_starts, 4 * 3);
}

/// Three functions in CE's single AlertManager group (group_by alertname + service) behind an HA pair that
/// delivers every post twice.
const DUPLICATES: &str = r#"
name = "duplicates"
duration_secs = 240
seed = 3
[alertmanager]
group_by = ["alertname", "service"]
group_wait_secs = 5
group_interval_secs = 10
repeat_interval_secs = 30
deliveries = 2
[[functions]]
name = "a"
service_time_ms = 5
concurrency = 50
latency_target_ms = 100
[[functions.load]]
kind = "step"
rps = 50
start_secs = 0
end_secs = 200
[[functions]]
name = "b"
service_time_ms = 5
concurrency = 50
latency_target_ms = 100
[[functions.load]]
kind = "step"
rps = 50
start_secs = 40
end_secs = 200
[[functions]]
name = "c"
service_time_ms = 5
concurrency = 50
latency_target_ms = 100
[[functions.load]]
kind = "step"
rps = 50
start_secs = 80
end_secs = 200
"#;

#[test]
fn ce_without_dedup_steps_more_than_alertscaler_on_duplicates() {
    let sim = run(DUPLICATES, &["ce", "step"], None);
    let (ce, ours) = (&sim.runs[0].totals, &sim.runs[1].totals);
    assert_eq!(sim.runs[0].policy.name, "ce");
    assert!(
        ce.scale_events > ours.scale_events,
        "ce {} vs step {}",
        ce.scale_events,
        ours.scale_events
    );
    // While loaded (scale-down after the load depends on the configured scale-down mode).
    let loaded = |i: usize| -> u32 {
        sim.runs[i]
            .rows
            .iter()
            .filter(|r| r.t < 200)
            .map(|r| r.replicas)
            .sum()
    };
    assert!(loaded(0) > loaded(1), "{} vs {}", loaded(0), loaded(1));
    // Same alerts reached both: the difference is the decision code only.
    assert_eq!(ce.notifications, ours.notifications);
}

#[test]
fn one_function_one_delivery_ce_and_alertscaler_agree() {
    let sim = run(TIMING, &["ce", "step"], None);
    let rows = |i: usize| -> Vec<u32> {
        sim.runs[i]
            .rows
            .iter()
            .filter(|r| r.t < 70)
            .map(|r| r.replicas)
            .collect()
    };
    // Without duplicates and with a cooldown shorter than repeat_interval + group_interval, every post
    // steps in both.
    let sim2 = run(
        &TIMING.replace("repeat_interval_secs = 5", "repeat_interval_secs = 30"),
        &["ce", "step"],
        None,
    );
    // Up to the resolution at 70 (scale-down depends on the configured scale-down mode).
    let rows2 = |i: usize| -> Vec<u32> {
        sim2.runs[i]
            .rows
            .iter()
            .filter(|r| r.t < 70)
            .map(|r| r.replicas)
            .collect()
    };
    assert_eq!(rows2(0), rows2(1));
    assert!(rows2(0).contains(&9), "both stepped twice: {:?}", rows2(0));
    // With `[policy] scale_down = "ce"` alertscaler also follows CE after the resolution (to min at once);
    // the default stabilized mode keeps the replicas through its 300 s window.
    let sim3 = run(
        &TIMING.replace("repeat_interval_secs = 5", "repeat_interval_secs = 30"),
        &["ce", "step-ce-down", "step"],
        None,
    );
    let all = |i: usize| -> Vec<u32> { sim3.runs[i].rows.iter().map(|r| r.replicas).collect() };
    assert_eq!(all(0), all(1));
    assert_eq!(
        (all(0)[69], all(2)[69]),
        (1, 9),
        "t = 70: ce at min, stabilized held"
    );
    // With repeats every 6 s, the 20 s cooldown holds some of them back in alertscaler only.
    assert!(sim.runs[0].totals.scale_events > sim.runs[1].totals.scale_events);
    assert_ne!(rows(0), rows(1));
}

#[test]
fn latency_rules_reach_the_receiver_with_their_labels() {
    // 1 replica of a 50 ms function at 18 req/s: p95 far above 100 ms. Max 1 replica, so the latency policy
    // cannot move anything; what is checked is the monitoring path.
    let text = r#"
name = "latency"
duration_secs = 200
[prometheus]
scrape_interval_secs = 5
evaluation_interval_secs = 5
scrape_offset_secs = 0
evaluation_offset_secs = 0
[[functions]]
name = "slow"
service_time_ms = 50
latency_target_ms = 100
labels = { "com.openfaas.scale.max" = "1" }
[[functions.load]]
kind = "step"
rps = 18
"#;
    let sim = run(text, &["latency"], None);
    let first = &sim.runs[0].notifications[0];
    assert_eq!(first.alerts[0].0, "FunctionLatencyHigh");
    assert_eq!(first.status, Status::Firing);
    // The 1m histogram window has two samples at t=10; pending then, firing at 10 + 30 = 40, group_wait 5 s.
    assert_eq!(first.at, 45);
    assert!(sim.runs[0].totals.slo_violation_secs > 150);
}

#[test]
fn latency_high_stops_firing_within_30s_of_the_last_request() {
    // The function of the test above, load from 0 to 100 s. The 1m p95 still holds the last requests until
    // t = 160, but FunctionLatencyHigh is guarded by `rate(gateway_functions_seconds_count[30s]) > 0`: the
    // last increasing scrape is at 100, so from 130 on the 30 s window is flat and the alert is resolved.
    let text = r#"
name = "latency-stop"
duration_secs = 200
[prometheus]
scrape_interval_secs = 5
evaluation_interval_secs = 5
scrape_offset_secs = 0
evaluation_offset_secs = 0
[[functions]]
name = "slow"
service_time_ms = 50
latency_target_ms = 100
labels = { "com.openfaas.scale.max" = "1" }
[[functions.load]]
kind = "step"
rps = 18
end_secs = 100
"#;
    let sim = run(text, &["latency"], None);
    let run0 = &sim.runs[0];
    let firing = |t: u64| run0.rows.iter().find(|r| r.t == t).unwrap().firing;
    assert_eq!(firing(125), 1, "still requests in the 30 s window at 125");
    for t in 130..200 {
        assert_eq!(
            firing(t),
            0,
            "FunctionLatencyHigh firing at {t}, after the load"
        );
    }
    let resolved = run0
        .notifications
        .iter()
        .find(|n| {
            n.alerts
                .iter()
                .any(|a| a.0 == "FunctionLatencyHigh" && a.2 == Status::Resolved)
        })
        .expect("FunctionLatencyHigh resolves");
    assert!(resolved.at < 160, "resolved only at {}", resolved.at);
}

/// One replica of a 20 ms function at 45 req/s (utilisation 0.9): p95 ≈ 1.2 s against a 100 ms target, while
/// 2–3 replicas bring it to ≈ 60–80 ms. Latency-bound, not rate-bound.
const LATENCY_BOUND: &str = r#"
name = "latency-bound"
duration_secs = 200
[prometheus]
scrape_offset_secs = 0
evaluation_offset_secs = 0
[[functions]]
name = "slow"
service_time_ms = 20
latency_target_ms = 100
labels = { "com.openfaas.scale.max" = "10" }
[[functions.load]]
kind = "step"
rps = 45
"#;

#[test]
fn latency_preset_scales_up_on_a_latency_bound_function() {
    let sim = run(LATENCY_BOUND, &["latency"], None);
    let run0 = &sim.runs[0];
    assert_eq!(
        run0.totals.refused, 0,
        "the Service must accept scale_policy=latency"
    );
    let row = |t: u64| run0.rows.iter().find(|r| r.t == t).unwrap();
    // First FunctionLatencyHigh post at 45 (as in the test above): +50% of 1, at least 1 → 2.
    assert_eq!(run0.notifications[0].alerts[0].0, "FunctionLatencyHigh");
    assert_eq!(run0.notifications[0].at, 45);
    assert_eq!((row(44).replicas, row(45).replicas), (1, 2));
    // It keeps adding while p95 stays above target, then the alert resolves: latency back in the band.
    let last = row(200);
    assert!(
        (2..=10).contains(&last.replicas) && last.second.p95 < 100.0,
        "{last:?}"
    );
    assert!(
        run0.notifications
            .iter()
            .any(|n| n.status == Status::Resolved
                && n.alerts.iter().any(|a| a.0 == "FunctionLatencyHigh")),
        "FunctionLatencyHigh should resolve once scaled"
    );
    // The same function without room to scale violates its SLO far longer.
    let fixed = run(
        &LATENCY_BOUND.replace("scale.max\" = \"10\"", "scale.max\" = \"1\""),
        &["latency"],
        None,
    );
    assert_eq!(fixed.runs[0].totals.peak_replicas, 1);
    assert!(
        run0.totals.slo_violation_secs * 2 < fixed.runs[0].totals.slo_violation_secs,
        "{} vs {} without scaling",
        run0.totals.slo_violation_secs,
        fixed.runs[0].totals.slo_violation_secs
    );
}

#[test]
fn bad_scenarios_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let typo = TIMING.replace("service_time_ms", "service_time");
    let err = sim::run_file(&write(dir.path(), "a.toml", &typo), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("service_time"), "{err}");
    let options = Options {
        seed: None,
        policies: vec!["hpa".into()],
    };
    let err = sim::run_file(&write(dir.path(), "b.toml", TIMING), &options).unwrap_err();
    assert!(
        err.to_string().contains("hpa") && err.to_string().contains("step-ce-down"),
        "{err}"
    );
    let zero = TIMING.replace("concurrency = 10", "concurrency = 0");
    let err = sim::run_file(&write(dir.path(), "c.toml", &zero), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("concurrency"), "{err}");
    let wide = TIMING.replace("concurrency = 10", "concurrency = 10001");
    let err = sim::run_file(&write(dir.path(), "w.toml", &wide), &Options::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("concurrency must be at most 10000"),
        "{err}"
    );
    for (rule, says) in [
        ("threshold = nan", "threshold = NaN must be a finite number"),
        ("threshold = -5", "threshold = -5 must be a finite number"),
        ("window_secs = 0", "window_secs must be ≥ 1"),
    ] {
        let text = format!("{TIMING}\n[presets.ce.rules.APIHighInvocationRate]\n{rule}\n");
        let err =
            sim::run_file(&write(dir.path(), "r.toml", &text), &Options::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("[presets.ce.rules.APIHighInvocationRate]: {says}")),
            "{rule}: {err}"
        );
    }
    let table = "[presets.latency.rules.FunctionLatencyLow]";
    let text = format!("{TIMING}\n{table}\nthreshold = 1.5\n");
    let err = sim::run_file(&write(dir.path(), "l.toml", &text), &Options::default()).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "{table}: threshold = 1.5 (the latency tolerance) must be"
        )),
        "{err}"
    );
    let text = format!("{TIMING}\n{table}\nthreshold = 0.3\n");
    sim::run_file(&write(dir.path(), "l.toml", &text), &Options::default()).unwrap();
    let nan = TIMING.replace("rps = 100", "rps = nan");
    let err = sim::run_file(&write(dir.path(), "n.toml", &nan), &Options::default()).unwrap_err();
    assert!(
        err.to_string().contains("rps = NaN is not a finite number"),
        "{err}"
    );
    let typo = TIMING.replace("rps = 100", "rsp = 100");
    let err = sim::run_file(&write(dir.path(), "d.toml", &typo), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("rsp"), "{err}");
    // One line naming the place, as the server's configuration errors do (not toml's drawn snippet);
    // toml places an unknown key at the table that holds it, `[[functions.load]]` on line 18.
    assert!(
        err.to_string()
            .contains("d.toml: line 18, column 1: unknown field `rsp`"),
        "{err}"
    );
    assert!(!err.to_string().contains('|'), "{err}");
    let err = sim::run_file(&dir.path().join("missing.toml"), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}"); // Earlier preset names still work and run the renamed preset.
    let options = Options {
        seed: None,
        policies: vec!["alertscaler-step".into(), "alertscaler-latency".into()],
    };
    let sim = sim::run_file(&write(dir.path(), "e.toml", TIMING), &options).unwrap();
    let names: Vec<&str> = sim.runs.iter().map(|r| r.policy.name).collect();
    assert_eq!(names, ["step", "latency"]);
}

#[test]
fn the_baselines_read_labels_as_openfaas_does() {
    // max 150 is above alertscaler's default ceiling (100), which is alertscaler's own setting: the
    // KPA and CE baselines still scale past 1 (the KPA was pinned to 1 replica, CE refused).
    let wide = TIMING
        .replace("service_time_ms = 10", "service_time_ms = 100")
        .replace("concurrency = 10", "concurrency = 1")
        .replace(
            "\"com.openfaas.scale.max\" = \"20\"",
            "\"com.openfaas.scale.max\" = \"150\"",
        );
    let sim = run(&wide, &["kpa", "ce"], None);
    for r in &sim.runs {
        assert!(
            r.totals.peak_replicas >= 10,
            "{}: {:?}",
            r.policy.name,
            r.totals
        );
        assert_eq!(r.totals.refused, 0, "{}", r.policy.name);
    }
    // Labels nobody can read are a scenario error, not a silent 1 replica.
    let bad = TIMING.replace(
        "\"com.openfaas.scale.max\" = \"20\"",
        "\"com.openfaas.scale.max\" = \"lots\"",
    );
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        seed: None,
        policies: vec!["kpa".into()],
    };
    let err = sim::run_file(&write(dir.path(), "bad.toml", &bad), &options).unwrap_err();
    assert!(err.to_string().contains("com.openfaas.scale.max"), "{err}");
}

#[test]
fn built_in_scenarios_run_and_write_outputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let sim = sim::run_file(&path, &Options::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let files = report::write(&sim, out.path()).unwrap();
        assert!(files.contains(&"summary.md".to_string()));
        for run in &sim.runs {
            let csv = std::fs::read_to_string(out.path().join(format!("{}.csv", run.policy.name)))
                .unwrap();
            assert_eq!(
                csv.lines().count() as u64,
                1 + sim.scenario.duration_secs * sim.functions.len() as u64
            );
            // Functions may sleep at zero (idle-wake-zero) but never exceed their peak.
            let t = &run.totals;
            assert!(t.replica_seconds > 0);
            assert!(t.replica_seconds <= u64::from(t.peak_replicas) * sim.scenario.duration_secs);
        }
        let svg =
            std::fs::read_to_string(out.path().join(format!("{}.svg", sim.functions[0]))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{}",
            &svg[..200.min(svg.len())]
        );
        count += 1;
    }
    assert!(count >= 4);
}

#[test]
fn an_out_path_that_cannot_be_a_directory_is_refused_before_simulating() {
    // Fails on main: `--out` naming a file was found only when the results were written, after the
    // whole simulation (minutes for a fleet), as "cannot write …: File exists (os error 17)".
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "taken", "not a directory\n");
    let err = sim::report::prepare(&file).unwrap_err().to_string();
    assert!(
        err.contains(&file.display().to_string()) && err.contains("not a directory"),
        "{err}"
    );
    let nested = dir.path().join("a").join("b");
    sim::report::prepare(&nested).unwrap();
    assert!(nested.is_dir());

    // The binary checks it before it reads the scenario, let alone simulates.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["simulate", "--scenario"])
        .arg(dir.path().join("never-read.toml"))
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("--out") && stderr.contains("not a directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("never-read.toml"), "{stderr}");
}

/// A sparse file of `len` bytes (costs no disk).
fn sparse(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(len as u64).unwrap();
    path
}

#[test]
fn a_scenario_or_load_trace_over_its_bound_is_refused_naming_it() {
    // Fails on main: both were read whole (an endless device until memory ran out), then refused
    // by the parser ("… expected …" or "no column …"), never for their size.
    let dir = tempfile::tempdir().unwrap();
    let huge = sparse(dir.path(), "huge.toml", sim::SCENARIO_MAX_BYTES + 1);
    let err = sim::run_file(&huge, &Options::default())
        .unwrap_err()
        .to_string();
    let says = format!("scenario file {} is larger than 16 MiB", huge.display());
    assert!(
        err.contains(&says) && err.contains("is it the right file?"),
        "{err}"
    );

    sparse(dir.path(), "huge.csv", sim::TRACE_MAX_BYTES + 1);
    let load = "kind = \"step\"\nrps = 100\nstart_secs = 0\nend_secs = 60\n";
    assert!(TIMING.contains(load));
    let text = TIMING.replace(load, "kind = \"csv\"\npath = \"huge.csv\"\n");
    let err = sim::run_file(&write(dir.path(), "s.toml", &text), &Options::default())
        .unwrap_err()
        .to_string();
    let trace = dir.path().join("huge.csv");
    let says = format!("load trace {} is larger than 256 MiB", trace.display());
    assert!(err.contains(&says), "{err}");

    let zero = Path::new("/dev/zero");
    let err = sim::run_file(zero, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scenario file /dev/zero is larger than 16 MiB"),
        "{err}"
    );

    // At the bound a scenario is read (and parsed: spaces are valid TOML, without a name).
    let at = write(dir.path(), "at.toml", &" ".repeat(sim::SCENARIO_MAX_BYTES));
    let err = sim::run_file(&at, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(!err.contains("larger than"), "{err}");
}

#[test]
fn simulate_refuses_an_oversize_scenario_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let huge = sparse(dir.path(), "huge.toml", sim::SCENARIO_MAX_BYTES + 1);
    for scenario in [huge.as_path(), Path::new("/dev/zero")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
            .args(["simulate", "--scenario"])
            .arg(scenario)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let says = format!("{} is larger than 16 MiB", scenario.display());
        assert!(stderr.contains(&says), "{stderr}");
    }
}
