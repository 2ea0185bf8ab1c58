use std::path::Path;

use super::*;
use crate::sim::load::Demand;
use crate::sim::monitor::BUCKETS;

/// One replica of 180 ms (exponential), serving one at a time, under `load` (TOML load tables).
fn model(load: &str, labels_min: u32) -> FunctionModel {
    let spec: FunctionSpec = toml::from_str(&format!(
        "name = \"f\"\nservice_time_ms = 180\nlatency_target_ms = 1000\ntimeout_secs = 1000\n\
         replicas = {labels_min}\ncold_start_secs = 5\n{load}"
    ))
    .expect("spec");
    let trace = Trace::compile(&spec.load, Path::new("."), "f").expect("trace");
    FunctionModel::new(&spec, trace, Rng::new(1))
}

#[test]
fn an_overload_backlog_waits_as_a_fifo_queue_does_not_twice() {
    // 10 req/s on 5.56 req/s for 30 s: the k-th arrival (at k / 10 s) starts at k × 0.18 s, so it
    // waits 0.08 k s; over the 300 arrivals, 12 s on average, plus 0.18 s of service. (Adding the
    // stationary queue's wait at 95 % to every backlog wait gave 16 s.)
    let mut m = model(
        "[[load]]\nkind = \"step\"\nrps = 10\nstart_secs = 0\nend_secs = 30",
        1,
    );
    for t in 1..=150 {
        m.step(t, true, true);
    }
    let mean = m.latencies.mean();
    assert!((mean - 12.2).abs() < 1.0, "mean {mean} s");
}

/// What the KPA reads: while stationary, the offered rate × the mean response time, waiting included
/// (Little's law), not × the service time. 4 req/s on one 180 ms replica (M/M/1 at 72 %): the wait is
/// `ρ / (μ − λ)`, so 4 × (0.72 / 1.556 + 0.18) ≈ 2.57 in flight, against 0.72 busy.
#[test]
fn stationary_in_flight_is_the_rate_times_the_mean_response() {
    let mut m = model("[[load]]\nkind = \"step\"\nrps = 4\nstart_secs = 0", 1);
    let s = m.step(1, false, false);
    assert_eq!(s.offered_rps, 4.0);
    let mu = 1.0 / 0.18;
    let mean = 0.72 / (mu - 4.0) + 0.18;
    assert!((s.in_flight - 4.0 * mean).abs() < 1e-9, "{}", s.in_flight);
    assert!(s.in_flight > 3.0 * 4.0 * 0.18);
}

/// The doc: a violation second is one whose answered requests have p95 above the target
/// (`P(T > target) > 5 %`), or with requests dropped or stuck with no ready replica.
#[test]
fn violation_seconds_are_slow_answers_drops_or_stuck_requests() {
    // No replica: 2 req/s wait with nothing ready (stuck), then time out after 3 s (dropped).
    let mut m = model("[[load]]\nkind = \"step\"\nrps = 2\nstart_secs = 0", 0);
    m.timeout = 3.0;
    let seconds: Vec<Second> = (1..=8).map(|t| m.step(t, false, true)).collect();
    assert!(seconds.iter().all(|s| s.served == 0.0 && s.violation));
    assert!(seconds.iter().any(|s| s.dropped > 0.0));
    // One 180 ms replica at 1 req/s: P(T > 1 s) = e^{-(μ-λ)} ≈ 1.2 % → no violation; at 4 req/s
    // (72 %) P(T > 1 s) = e^{-1.56} ≈ 21 % → a violation.
    for (rps, violated) in [(1, false), (4, true)] {
        let mut m = model(
            &format!("[[load]]\nkind = \"step\"\nrps = {rps}\nstart_secs = 0"),
            1,
        );
        let s = m.step(1, false, true);
        assert!(s.served > 0.0 || rps == 1);
        assert_eq!(s.violation, violated, "{rps} req/s, p95 {}", s.p95);
    }
}

#[test]
fn closed_loop_clients_wait_for_a_function_at_zero() {
    // Five clients from 10 s, no replica: their requests queue (the engine then wakes the
    // function), and are served once a replica is ready.
    let mut m = model(
        "[[load]]\nkind = \"clients\"\nclients = 5\nstart_secs = 10",
        0,
    );
    let arrivals: f64 = (1..=11).map(|t| m.step(t, true, false).arrivals).sum();
    assert_eq!(arrivals, 5.0, "one request per client, waiting");
    assert_eq!(
        m.step(12, true, false).backlog,
        5.0,
        "and no more while they wait"
    );
    m.set_desired(1, 12);
    let served: f64 = (13..=30).map(|t| m.step(t, true, false).served).sum();
    assert!(served > 50.0, "served {served} once a replica is ready");
}

#[test]
fn only_a_bounded_population_that_does_not_time_out_is_solved_exactly() {
    // One replica of 180 ms, timeout 1000 s (`model`).
    let m = model("[[load]]\nkind = \"clients\"\nclients = 5", 1);
    let exact = |clients: f64, think: f64| {
        let demand = Demand {
            rps: 0.0,
            clients,
            think,
        };
        m.finite_population(demand, 1).is_some()
    };
    assert!(exact(5.0, 0.0) && exact(f64::from(FINITE_MAX_CLIENTS), 1e4));
    // Beyond the bound (and for a fractional population) the open model answers: a population of
    // 1e9 built a billion-entry distribution every simulated second.
    assert!(!exact(f64::from(FINITE_MAX_CLIENTS) + 1.0, 1e4) && !exact(1e9, 1e4));
    assert!(!exact(4.5, 0.0));
    // 6000 clients without think time wait about 6000 × 0.18 s = 1080 s, past the timeout: the
    // backlog model, which drops what waited too long, answers.
    assert!(exact(5000.0, 0.0) && !exact(6000.0, 0.0));
}

/// The doc: the exact finite-population queue only for clients *alone* on *exponential* service with
/// a ready replica and an empty backlog; open traffic beside them, deterministic service, no ready
/// replica or a backlog keep the open model.
#[test]
fn the_finite_population_needs_clients_alone_exponential_a_replica_and_no_backlog() {
    let mut m = model("[[load]]\nkind = \"clients\"\nclients = 5", 1);
    let clients = |rps: f64| Demand {
        rps,
        clients: 5.0,
        think: 0.0,
    };
    assert!(m.finite_population(clients(0.0), 1).is_some());
    assert!(
        m.finite_population(clients(1.0), 1).is_none(),
        "open traffic beside"
    );
    assert!(
        m.finite_population(clients(0.0), 0).is_none(),
        "no ready replica"
    );
    m.backlog.push_back((1, 2.0));
    assert!(m.finite_population(clients(0.0), 1).is_none(), "a backlog");
    m.backlog.clear();
    m.distribution = Distribution::Deterministic;
    assert!(
        m.finite_population(clients(0.0), 1).is_none(),
        "deterministic"
    );
}

#[test]
fn a_few_clients_queue_as_the_finite_population_does() {
    // `model-server-cold-start`'s clients phase on 2 ready replicas: 5 clients without think time on
    // 2 servers of 180 ms. Exact (M/M/2//5): 11.1 req/s, mean 0.45 s, p95 0.90 s, 5 in flight, within
    // the 1 s target. The open M/M/2 at the clients' rate gave 9.1 req/s and p95 1.57 s: a violation
    // every second.
    let mut m = model(
        "[[load]]\nkind = \"clients\"\nclients = 5\nstart_secs = 0",
        2,
    );
    for t in 1..=20 {
        let s = m.step(t, true, true);
        assert!(
            (s.offered_rps - 11.11).abs() < 0.01,
            "t={t}: {} req/s",
            s.offered_rps
        );
        assert!((s.p95 - 0.90).abs() < 0.01, "t={t}: p95 {} s", s.p95);
        assert!(
            (s.in_flight - 5.0).abs() < 1e-9,
            "t={t}: in flight {}",
            s.in_flight
        );
        assert!(!s.violation, "t={t}");
        assert_eq!(s.backlog, 0.0);
    }
    assert!(
        (m.latencies.mean() - 0.45).abs() < 0.01,
        "mean {}",
        m.latencies.mean()
    );
    // The histogram's `_sum` and `_count` give the same mean (what the pack's service time reads).
    let sample = m.sample(20).unwrap();
    assert!((sample.sum / sample.ok - 0.45).abs() < 1e-6);
    // Its buckets follow the same distribution: P(T ≤ 1 s) ≈ 0.971, P(T ≤ 0.5 s) ≈ 0.654.
    let below = |le: f64| {
        let i = BUCKETS.iter().position(|b| *b == le).unwrap();
        sample.buckets[i] / sample.buckets[NB - 1]
    };
    assert!((0.95..0.99).contains(&below(1.0)), "{}", below(1.0));
    assert!((0.5..0.7).contains(&below(0.5)), "{}", below(0.5));
}

#[test]
fn requests_still_queued_at_the_horizon_are_reported() {
    // 15 req/s on 5.56 req/s: a backlog grows until the horizon.
    let mut m = model("[[load]]\nkind = \"step\"\nrps = 15\nstart_secs = 0", 1);
    let mut arrivals = 0.0;
    let mut served = 0.0;
    for t in 1..=60 {
        let s = m.step(t, true, false);
        arrivals += s.arrivals;
        served += s.served;
    }
    let queued = m.queued();
    assert!(queued > 400.0, "queued {queued}");
    assert!((arrivals - served - queued).abs() < 1e-6);
}
