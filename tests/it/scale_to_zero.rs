//! Scale to zero beside the capacity pack, on the real pipeline: a function labelled
//! `com.openfaas.scale.zero=true` (min 2) is scaled up by FunctionUnderProvisioned, back to its min
//! by FunctionOverProvisioned, put to sleep by FunctionIdle (zero policy), and stays at 0 while
//! FunctionOverProvisioned keeps firing for its `keep_firing_for`, is repeated by AlertManager and
//! followed up by alertscaler — until load wakes it. Real Prometheus (1 s scrape and evaluation)
//! with the shipped capacity pack and the shipped latency pack (its idle rule's windows scaled
//! down), real AlertManager (shipped configuration, short timings), the alertscaler binary (memory
//! backend, Prometheus for decision-time reads) over loopback HTTP; the simulated gateway reports the
//! replicas alertscaler sets, as a gateway does.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH. About 2 min 50 s; timings printed with
//! `cargo test --test it scale_to_zero -- --nocapture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::closed_loop::pipeline;
use crate::e2e::{PASSWORD, Stack, load_yaml, until, write_yaml};
use crate::support;

const SLEEPY: &str = "sleepy.openfaas-fn";
/// FunctionIdle's window and the function's zero-duration in this test (15m as shipped): no shorter
/// than the capacity pack's stable window (1m), which counts a function's last requests for a minute.
/// With a shorter one a function goes to sleep while the pack still finds it needs a replica, and
/// FunctionUnderProvisioned wakes it at once (seen with 20s: 2 → 0, then "FunctionUnderProvisioned
/// desired 1 (prometheus) … clamped to [2, 10] = 2: 0 → 2" 1.5 s later).
const IDLE_WINDOW: &str = "1m";
/// FunctionIdle's `for:` in this test (1m as shipped).
const IDLE_FOR: &str = "2s";
/// FunctionIdle's `window` annotation in this test: its window plus its `for:` (16m as shipped), since
/// Prometheus' `startsAt` is when the alert fires, after `for:`.
const IDLE_AT_START: &str = "1m2s";
const FUNCTIONS: &str = r#"[[memory.functions]]
name = "sleepy"
replicas = 2
labels = { "com.openfaas.scale.zero" = "true", "com.openfaas.scale.zero-duration" = "1m", "com.openfaas.scale.min" = "2", "com.openfaas.scale.max" = "10" }
"#;
/// The capacity policy for alerts without `scale_policy` (the packs' alerts all carry one), and a
/// 10 s stabilization window (300 s by default) so that the scale-down to min takes seconds.
const POLICY: &str = r#"default = "capacity"
scale_down = "stabilized"
scale_down_stabilization_secs = 10"#;
/// Requests of 100 ms: 400 req/s keep 40 in flight, 5 replicas at the pack's default target of 9
/// per replica; 5 req/s keep 0.5 in flight, 1 replica (min 2 then).
const LATENCY: f64 = 0.1;
const PEAK_RPS: f64 = 400.0;
const PEAK_REPLICAS: u64 = 5;
const TRICKLE_RPS: f64 = 5.0;
/// Awake, the function's replicas are within [min, max].
const AWAKE: std::ops::RangeInclusive<u64> = 2..=10;

/// The shipped latency pack, written to `dir` with its idle rule's windows scaled down: FunctionIdle
/// (group `alertscaler-idle`) is the shipped rule with its 15m windows (expression and text) made
/// [`IDLE_WINDOW`], its `for: 1m` made [`IDLE_FOR`] and its `window` annotation (16m) made
/// [`IDLE_AT_START`]; nothing else changes. A change to the shipped rule's text fails here, naming it.
fn latency_pack_with_short_idle(dir: &Path) -> PathBuf {
    let mut pack = load_yaml("alert-rules/latency.rules.yml");
    let group = pack["groups"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["name"] == "alertscaler-idle")
        .expect("the latency pack has the group alertscaler-idle");
    let rules = group["rules"].as_sequence_mut().unwrap();
    assert_eq!(rules.len(), 1, "alertscaler-idle holds only FunctionIdle");
    let rule = &mut rules[0];
    assert_eq!(rule["alert"], Yaml::from("FunctionIdle"));
    // Every "15m" of the rule, counted so that a new or a changed window is noticed.
    let scale = |field: &mut Yaml, times: usize| {
        let text = field.as_str().unwrap().to_owned();
        assert_eq!(text.matches("15m").count(), times, "FunctionIdle: {text}");
        *field = text.replace("15m", IDLE_WINDOW).into();
    };
    scale(&mut rule["expr"], 7);
    scale(&mut rule["annotations"]["summary"], 1);
    scale(&mut rule["annotations"]["description"], 1);
    assert_eq!(rule["annotations"]["window"], Yaml::from("16m"));
    rule["annotations"]["window"] = IDLE_AT_START.into();
    assert_eq!(rule["for"], Yaml::from("1m"));
    rule["for"] = IDLE_FOR.into();
    let path = dir.join("latency.rules.yml");
    write_yaml(&path, &pack);
    path
}

/// alertscaler's decisions about the sleepy function, oldest first.
async fn decisions(stack: &Stack) -> Vec<Value> {
    let all = stack.receiver_json("/decisions").await;
    let all = all["decisions"].as_array().unwrap();
    all.iter()
        .filter(|d| d["function"] == SLEEPY)
        .cloned()
        .collect()
}

/// Whether `decision` was about the alert `alert`.
fn for_alert(decision: &Value, alert: &str) -> bool {
    decision["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n == alert))
}

/// The first decision that moved the function from `from` to `to`; panics with every decision.
fn scaled(decisions: &[Value], from: u64, to: impl Fn(u64) -> bool) -> &Value {
    decisions
        .iter()
        .find(|d| {
            d["outcome"] == "scaled"
                && d["from"].as_u64() == Some(from)
                && d["to"].as_u64().is_some_and(&to)
        })
        .unwrap_or_else(|| panic!("no scale from {from} in {decisions:#?}"))
}

/// Poll until the PromQL `alert` has a result (with `firing` false: until it has none), then for
/// `tail` more, asserting `invariant` on the function's replicas at every observation; a broken
/// invariant panics with alertscaler's decisions about the function. Returns when the alert changed
/// and when the tail ended.
async fn watch(
    stack: &Stack,
    alert: &str,
    firing: bool,
    tail: Duration,
    timeout: Duration,
    invariant: impl Fn(u64) -> bool,
) -> (Instant, Instant) {
    let deadline = Instant::now() + timeout;
    let mut changed = None;
    loop {
        let replicas = stack.replicas().await[SLEEPY];
        if !invariant(replicas) {
            let all = decisions(stack).await;
            panic!(
                "{SLEEPY} at {replicas} while waiting for {alert} (firing: {firing}); decisions: {all:#?}"
            );
        }
        let now = Instant::now();
        if changed.is_none() && stack.query(alert).await.is_empty() != firing {
            changed = Some(now);
        }
        if let Some(at) = changed.filter(|at| now >= *at + tail) {
            return (at, now);
        }
        assert!(
            now < deadline,
            "{alert} (firing: {firing}) not seen in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks alertscaler's decisions about the function up to the end of its sleep: up by
/// FunctionUnderProvisioned, down only by FunctionOverProvisioned, to sleep from min by FunctionIdle,
/// and nothing moved after that; returns (alert, why) of each decision after the sleep.
fn check_decisions(all: &[Value]) -> Vec<(String, String)> {
    let up = scaled(all, 2, |to| to > 2);
    assert!(for_alert(up, "FunctionUnderProvisioned"), "{up:#}");
    let sleep_at = all
        .iter()
        .position(|d| d["outcome"] == "scaled" && d["to"] == 0)
        .unwrap_or_else(|| panic!("no sleep in {all:#?}"));
    let sleep = &all[sleep_at];
    assert_eq!(sleep["from"], 2, "asleep from min: {sleep:#}");
    assert!(for_alert(sleep, "FunctionIdle"), "{sleep:#}");
    // Every scale-down before the sleep was FunctionOverProvisioned's (its notification, or a
    // follow-up or the stabilization window's settle, which name no alert).
    for d in &all[..sleep_at] {
        let down = d["outcome"] == "scaled" && d["to"].as_u64() < d["from"].as_u64();
        let named = d["alerts"].as_array().is_some_and(|a| !a.is_empty());
        assert!(
            !down || !named || for_alert(d, "FunctionOverProvisioned"),
            "a scale-down before the sleep not by FunctionOverProvisioned: {d:#}"
        );
    }
    // After it nothing moved: FunctionOverProvisioned's notifications were held (duplicates within
    // the cooldown, its resolution) or answered `asleep`; FunctionIdle's repeats found it at 0.
    let after = &all[sleep_at + 1..];
    let allowed = |alert: &str, why: &str| match alert {
        "FunctionOverProvisioned" => {
            ["asleep", "duplicate", "cooldown", "down_ended"].contains(&why)
        }
        "FunctionIdle" => ["at_min", "duplicate", "cooldown"].contains(&why),
        _ => false,
    };
    let seen: Vec<(String, String)> = after
        .iter()
        .map(|d| {
            let alerts = d["alerts"].as_array().unwrap().iter();
            let alerts: Vec<&str> = alerts.filter_map(Value::as_str).collect();
            let why = d["why"].as_str().unwrap_or("");
            (alerts.join(","), why.to_owned())
        })
        .collect();
    for (d, (alert, why)) in after.iter().zip(&seen) {
        assert!(
            d["outcome"] == "unchanged" && allowed(alert, why),
            "after the sleep: {d:#}; all after the sleep: {after:#?}"
        );
    }
    let repeats = seen
        .iter()
        .filter(|(a, _)| a == "FunctionOverProvisioned")
        .count();
    assert!(
        repeats >= 3,
        "FunctionOverProvisioned's repeats and resolution after the sleep: {after:#?}"
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_to_zero_after_capacity_scale_down_and_stays_asleep() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let rules = [
        support::repo("alert-rules/capacity.rules.yml"),
        latency_pack_with_short_idle(dir.path()),
    ];
    let p = pipeline(dir, &rules, POLICY, FUNCTIONS).await;
    let stack = &p.stack;
    // The capacity pack sizes from the replicas the gateway reports.
    let receiver = stack.receiver.clone();
    let gateway = p.gateway.clone();
    tokio::spawn(async move {
        support::closed_loop::report_replicas(gateway, receiver, PASSWORD, SLEEPY).await;
    });
    let awake = |r: &BTreeMap<String, u64>| {
        assert!(
            AWAKE.contains(&r[SLEEPY]),
            "awake, out of [min, max]: {r:?}"
        );
    };

    // 1. Load arrives: FunctionUnderProvisioned scales it up.
    let load = Instant::now();
    p.gateway.set(SLEEPY, PEAK_RPS, LATENCY);
    let up = until(
        stack,
        "the scale-up for the load",
        Duration::from_secs(60),
        |r| r[SLEEPY] >= PEAK_REPLICAS,
        awake,
    )
    .await;

    // 2. The load falls to a trickle, then stops: FunctionOverProvisioned scales the function down to
    // min. It is pending once the pack's 30 s memory of the peak has passed and the function's
    // arrivals are a minute old, and fires 30 s later; the trickle keeps FunctionIdle (a minute
    // without requests) from acting before it, by about 30 s.
    p.gateway.set(SLEEPY, TRICKLE_RPS, LATENCY);
    let trickle = Instant::now();
    let over = |state: &str| {
        format!(
            "ALERTS{{alertname=\"FunctionOverProvisioned\",alertstate=\"{state}\",function_name=\"{SLEEPY}\"}}"
        )
    };
    let pending = over("pending");
    let ninety = Duration::from_secs(90);
    let in_range = |r: u64| AWAKE.contains(&r);
    let (idle, _) = watch(stack, &pending, true, Duration::ZERO, ninety, in_range).await;
    p.gateway.set(SLEEPY, 0.0, LATENCY);
    let at_min = until(
        stack,
        "the scale-down to min 2",
        Duration::from_secs(60),
        |r| r[SLEEPY] == 2,
        awake,
    )
    .await;

    // 3. FunctionIdle fires a minute after the last request, and the zero policy puts the function
    // to sleep.
    let slept = until(
        stack,
        "sleep (FunctionIdle, zero policy)",
        Duration::from_secs(60),
        |r| r[SLEEPY] == 0,
        |r| assert!(r[SLEEPY] <= 2, "no scale-up without load: {r:?}"),
    )
    .await;

    // 4. Asleep, it stays at 0 while FunctionOverProvisioned (which fired at min all along) keeps
    // firing for its keep_firing_for (30 s), is repeated every ~6 s by AlertManager and followed up
    // every 5 s by alertscaler; and for one more follow-up interval and AlertManager's resolved
    // notification after it resolved. A scale-down alert never wakes a function.
    let firing = over("firing");
    assert!(
        !stack.query(&firing).await.is_empty(),
        "FunctionOverProvisioned should still fire when the function sleeps"
    );
    let six = Duration::from_secs(6);
    let sixty = Duration::from_secs(60);
    let (resolved, watched) = watch(stack, &firing, false, six, sixty, |r| r == 0).await;
    let after_sleep = check_decisions(&decisions(stack).await);

    // 5. Load returns: FunctionUnderProvisioned wakes it.
    p.gateway.set(SLEEPY, PEAK_RPS, LATENCY);
    let wake = Instant::now();
    let woken = until(
        stack,
        "the wake-up for the load",
        Duration::from_secs(30),
        |r| r[SLEEPY] >= 2,
        |r| assert!(r[SLEEPY] <= *AWAKE.end(), "{r:?}"),
    )
    .await;
    let all = decisions(stack).await;
    let wake_decision = scaled(&all, 0, |to| to >= 2);
    assert!(
        for_alert(wake_decision, "FunctionUnderProvisioned"),
        "{wake_decision:#}"
    );

    let secs = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64();
    println!("scale to zero with the capacity pack (idle window {IDLE_WINDOW}, for {IDLE_FOR}):");
    println!(
        "  load → ≥ {PEAK_REPLICAS} replicas:        {:.1} s",
        secs(load, up)
    );
    println!(
        "  trickle → pending down:      {:.1} s",
        secs(trickle, idle)
    );
    println!("  no load → min 2:             {:.1} s", secs(idle, at_min));
    println!("  no load → asleep at 0:       {:.1} s", secs(idle, slept));
    println!(
        "  asleep, watched:             {:.1} s (FunctionOverProvisioned resolved after {:.1} s)",
        secs(slept, watched),
        secs(slept, resolved)
    );
    println!("  decisions after the sleep (alert, why): {after_sleep:?}");
    println!("  load → awake:                {:.1} s", secs(wake, woken));
    println!("  total from load:             {:.1} s", secs(load, woken));
}
