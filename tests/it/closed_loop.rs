//! Issue 12's proof on the real pipeline: a closed loop where the simulator's own function model
//! serves the requests with the replica count alertscaler sets and the simulated gateway exports its
//! counters, run through the CE pack + step policy and through the capacity pack + capacity policy
//! side by side (real Prometheus, real AlertManager, the alertscaler binary), beside `alertscaler
//! simulate` on the same scenario (`fixtures/closed-loop/step.toml`).
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH. About 3 minutes; figures printed with
//! `cargo test --test it closed_loop -- --nocapture`.

use std::path::PathBuf;
use std::time::Duration;

use crate::e2e::{Monitoring, PASSWORD, Stack, monitoring};
use crate::support;
use crate::support::gateway::Gateway;
use crate::support::procs::{Proc, free_ports, wait_ready};

const STEP_FN: &str = "stepfn.openfaas-fn";
/// The closed loop's function, load, intervals and alertscaler settings, for the simulator; the
/// pipelines below are configured to match it.
const SCENARIO: &str = "fixtures/closed-loop/step.toml";

/// The closed loop's function, as alertscaler's memory backend holds it.
const STEP_FN_CONFIG: &str = r#"[[memory.functions]]
name = "stepfn"
labels = { "com.openfaas.scale.min" = "1", "com.openfaas.scale.max" = "10", "com.openfaas.scale.factor" = "20", "com.openfaas.scale.target" = "10", "com.openfaas.scale.target-proportion" = "0.9" }
"#;

/// One full pipeline: its own simulated gateway, Prometheus loading only `rules`, AlertManager, and
/// alertscaler (memory backend, Prometheus configured for decision-time reads).
pub(crate) struct Pipeline {
    pub(crate) stack: Stack,
    pub(crate) gateway: Gateway,
    _receiver: Proc,
    _monitoring: Monitoring,
    _dir: tempfile::TempDir,
}

/// A pipeline in `dir` (its configurations, logs and data stay there until it is dropped) with
/// Prometheus loading `rules` (absolute paths) and alertscaler configured with `policy` (keys of its
/// `[policy]` table) and `functions` (its `[[memory.functions]]` tables), warm (see [`warm`]).
pub(crate) async fn pipeline(
    dir: tempfile::TempDir,
    rules: &[PathBuf],
    policy: &str,
    functions: &str,
) -> Pipeline {
    let d = dir.path();
    let password_file = d.join("webhook-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let gateway = Gateway::default();
    let gateway_port = gateway.serve().await.port();
    // alertscaler needs Prometheus' address and Prometheus alertscaler's: its port is chosen first,
    // and it starts once Prometheus and AlertManager are up.
    let [receiver_port] = free_ports(&[]);
    let monitoring = monitoring(d, gateway_port, receiver_port, &password_file, rules).await;
    let config = d.join("alertscaler.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{receiver_port}"
scale_up_cooldown_secs = 10
[policy]
{policy}
settle_interval_secs = 1
[prometheus]
url = "{prometheus}"
[auth]
mode = "basic"
username = "admin"
password_file = "{pw}"
{functions}"#,
            prometheus = monitoring.prometheus,
            pw = password_file.display()
        ),
    )
    .unwrap();
    let args = [
        "serve".into(),
        "--config".into(),
        config.display().to_string(),
    ];
    let mut receiver = Proc::start("alertscaler", env!("CARGO_BIN_EXE_alertscaler"), &args, d);
    let stack = Stack {
        client: support::procs::client(),
        receiver: format!("http://127.0.0.1:{receiver_port}"),
        prometheus: monitoring.prometheus.clone(),
        alertmanager: monitoring.alertmanager.clone(),
    };
    let health = format!("{}/healthz", stack.receiver);
    wait_ready(&mut receiver, &health, Duration::from_secs(30), d).await;
    warm(&stack).await;
    Pipeline {
        stack,
        gateway,
        _receiver: receiver,
        _monitoring: monitoring,
        _dir: dir,
    }
}

/// Waits until Prometheus scrapes the gateway and knows its AlertManager. Prometheus answers ready
/// before either: its service discovery hands targets to the scrape and notification managers at most
/// every 5 s, so a loop started at once would delay the first alert by up to 5 s more than the
/// monitoring intervals do — a start-up cost the simulator (whose pipeline runs from t = 0) does not
/// model, and which is not what the comparison measures.
async fn warm(stack: &Stack) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = stack.query("up{job=\"gateway\"} == 1").await;
        let alertmanagers = stack.prometheus_get("/api/v1/alertmanagers", &[]).await;
        let notifying = alertmanagers["data"]["activeAlertmanagers"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if !scraped.is_empty() && notifying {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus not warm after 30 s: gateway scraped {scraped:?}, alertmanagers {alertmanagers}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 12's proof on the real pipeline: the same step load through the CE pack + step policy and
/// through the capacity pack + capacity policy, side by side (two pipelines at once), each closing
/// the loop through the replica count alertscaler sets. About 3.5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_step_load_capacity_pack_against_ce_pack() {
    use support::closed_loop::{Loop, Needs, Step, Tally};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scenario = support::repo(SCENARIO);
    let looped = Loop::from_scenario(&scenario);
    assert_eq!(looped.function(), STEP_FN);
    let step = Step {
        base: 10.0,
        peak: 400.0,
        start: Duration::from_secs(20),
        end: Duration::from_secs(80),
    };
    // The scenario's load is this step.
    for t in 0..looped.horizon_secs {
        let at = Duration::from_secs(t);
        assert_eq!(looped.trace.at(t as f64).rps, step.rate(at), "at {t} s");
    }
    // 400 req/s of 100 ms, 10 at once per replica: 40 busy slots, 5 replicas below the model's 95 %.
    let needs = Needs { peak: 5, base: 1 };
    // The simulator on the same scenario (same function, load, intervals and settings), tallied the
    // same way. It runs its own runtime: off this one.
    let (sim_ce, sim_cap) = tokio::task::spawn_blocking(move || {
        let sim = alertscaler::sim::run_file(&scenario, &Default::default()).unwrap();
        let simulated = |preset: &str| {
            let run = sim.runs.iter().find(|r| r.policy.name == preset).unwrap();
            Tally::from_rows(&step, needs, &run.rows)
        };
        (simulated("step-ce-down"), simulated("capacity"))
    })
    .await
    .unwrap();
    let pack = |name: &str| [support::repo(&format!("alert-rules/{name}"))];
    let dir = || tempfile::tempdir().unwrap();
    let ce_pack = pack("openfaas-ce.rules.yml");
    let ce = pipeline(dir(), &ce_pack, r#"scale_down = "ce""#, STEP_FN_CONFIG).await;
    let capacity = pipeline(
        dir(),
        &pack("capacity.rules.yml"),
        "scale_down = \"stabilized\"\nscale_down_stabilization_secs = 10",
        STEP_FN_CONFIG,
    )
    .await;
    let drive = |p: &Pipeline| {
        let receiver = p.stack.receiver.clone();
        let gateway = p.gateway.clone();
        let looped = looped.clone();
        async move { looped.run(&gateway, &receiver, PASSWORD, step, needs).await }
    };
    let (ce_tally, cap) = tokio::join!(drive(&ce), drive(&capacity));

    let show = |name: &str, t: &Tally| {
        let opt = |v: Option<f64>| v.map_or("never".into(), |s| format!("{s:.0} s"));
        println!(
            "  {name:<36} {:>8.1} {:>10.0} {:>5} {:>14} {:>14}",
            t.slo_violation_secs,
            t.replica_secs,
            t.peak_replicas,
            opt(t.reached_after),
            opt(t.returned_after)
        );
    };
    println!(
        "closed loop ({}): {} → {} → {} req/s (step at {}–{} s), horizon {} s; 1 s scrape/eval, AlertManager \
         1 s/2 s/5 s; the simulator's function model serves both; needs {} replicas at the peak, {} at the base",
        SCENARIO,
        step.base,
        step.peak,
        step.base,
        step.start.as_secs(),
        step.end.as_secs(),
        looped.horizon_secs,
        needs.peak,
        needs.base
    );
    println!(
        "  {:<36} {:>8} {:>10} {:>5} {:>14} {:>14}",
        "pipeline", "SLO-viol", "replica-s", "peak", "reached need", "back to base"
    );
    show("CE pack + step (scale_down ce)", &ce_tally);
    show("  simulator, same scenario", &sim_ce);
    show("capacity pack + capacity (10 s win)", &cap);
    show("  simulator, same scenario", &sim_cap);
    println!("  CE trace (s, replicas): {:?}", rounded(&ce_tally.trace));
    println!("  simulated CE trace: {:?}", rounded(&sim_ce.trace));
    println!("  capacity trace (s, replicas): {:?}", rounded(&cap.trace));
    println!("  simulated capacity trace: {:?}", rounded(&sim_cap.trace));

    // The simulator's timing model matches the real pipeline within 25 % on what timing decides:
    // the replica-seconds each pipeline spends, when CE first steps, and when the capacity pipeline
    // is back at the base.
    // Both serve requests through the same function model, so only the monitoring path differs.
    for (name, real, simulated) in [("CE", &ce_tally, &sim_ce), ("capacity", &cap, &sim_cap)] {
        let ratio = simulated.replica_secs / real.replica_secs;
        println!("  {name}: simulated / real replica-seconds = {ratio:.2}");
        assert!(
            (0.75..=1.25).contains(&ratio),
            "{name}: the simulator spends {:.0} replica-s, the real pipeline {:.0}",
            simulated.replica_secs,
            real.replica_secs
        );
    }
    // And on when CE's base load (10 req/s, over its 5 req/s threshold) first steps: the rate window,
    // `for:`, group_wait and the scrape and evaluation phases, with both pipelines warm.
    let first_move = |t: &Tally| t.trace.get(1).map(|&(at, _)| at);
    let first = first_move(&sim_ce).zip(first_move(&ce_tally));
    println!("  CE's first step, simulated / real: {first:?}");
    assert!(
        first.is_some_and(|(s, r)| (0.75..=1.25).contains(&(s / r))),
        "CE's first step: simulated {:?}, real {:?}",
        sim_ce.trace,
        ce_tally.trace
    );
    let back = sim_cap.returned_after.zip(cap.returned_after);
    println!("  capacity back at the base after the step, simulated / real: {back:?}");
    assert!(
        back.is_some_and(|(s, r)| (0.75..=1.25).contains(&(s / r))),
        "back at the base: simulated {:?}, real {:?}",
        sim_cap.returned_after,
        cap.returned_after
    );

    // The capacity pipeline reaches what the peak needs in the step, and comes back after it.
    assert!(
        cap.reached_after.is_some(),
        "never reached {} replicas: {cap:?}",
        needs.peak
    );
    assert!(
        cap.returned_after.is_some(),
        "never came back to {}: {cap:?}",
        needs.base
    );
    assert!(cap.peak_replicas <= 10, "{cap:?}");
    // Its decisions read the desired count from Prometheus at decision time.
    let decisions = capacity.stack.receiver_json("/decisions").await;
    assert!(
        decisions.to_string().contains("(prometheus)"),
        "no decision used the measured count: {decisions}"
    );
    // The function's own target (10 × 0.9, the same as the pack's default so the figures compare)
    // travelled alertscaler /metrics → Prometheus → the pack's effective target.
    let target = capacity
        .stack
        .query(&format!(
            "alertscaler:function_capacity_target{{function_name=\"{STEP_FN}\"}} \
             and on (function_name) alertscaler_function_capacity_target"
        ))
        .await;
    assert_eq!(
        target
            .first()
            .map(|s| (s["metric"]["type"].clone(), s["value"][1].clone())),
        Some(("capacity".into(), "9".into())),
        "{target:?}"
    );
}

fn rounded(trace: &[(f64, u64)]) -> Vec<(u64, u64)> {
    trace.iter().map(|(t, r)| (t.round() as u64, *r)).collect()
}
