use super::*;
use crate::sim::monitor::{BUCKETS, NB, Sample, Series};
use crate::sim::rules::{Expr, Targets, p95};

/// Scrapes every 5 s: `per_scrape(t)` = (requests, latency seconds) added in the 5 s before `t`.
fn scraped(until: u64, replicas: u32, per_scrape: impl Fn(u64) -> (f64, f64)) -> Series {
    let mut series = Series::default();
    let (mut n, mut sum) = (0.0, 0.0);
    for t in (5..=until).step_by(5) {
        let (dn, ds) = per_scrape(t);
        n += dn;
        sum += ds;
        let mut buckets = [0.0; NB];
        buckets.fill(n);
        series.push(
            Sample {
                t,
                ok: n,
                sum,
                started: n,
                buckets,
                replicas,
            },
            65,
        );
    }
    series
}

#[test]
fn target_from_labels_with_pack_defaults() {
    let l = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        CapacityTarget::from_labels(&l(&[])),
        CapacityTarget::default()
    );
    let t = CapacityTarget::from_labels(&l(&[
        (TYPE, "rps"),
        ("com.openfaas.scale.target", "50"),
        ("com.openfaas.scale.target-proportion", "0.8"),
    ]));
    assert_eq!((t.per_replica, t.rps), (40.0, true));
    let t = CapacityTarget::from_labels(&l(&[("com.openfaas.scale.target", "-3")]));
    assert_eq!(t.per_replica, 9.0);
}

#[test]
fn little_law_load_gives_desired_and_panic() {
    let cap = CapacityTarget::default(); // 9 in flight per replica
    // 100 req/s at 0.2 s each = 20 in flight, steady for a minute on 1 replica: stable ceil(20/9) = 3,
    // panic 3 ≥ 2 × 1 → panicking, desired 3.
    let s = scraped(120, 1, |_| (500.0, 100.0));
    let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
    assert!((d.load - 20.0).abs() < 1e-9, "{}", d.load);
    assert_eq!((d.stable, d.panic, d.panicking, d.desired), (3, 3, true, 3));
    // The same load on 3 replicas: no panic, desired 3, neither alert.
    let s = scraped(120, 3, |_| (500.0, 100.0));
    let targets = Targets {
        latency_secs: 1.0,
        latency_tolerance: None,
        capacity: cap,
        evaluation_secs: 5,
    };
    let under = Expr::DesiredAbove {
        stable_window: 60,
        panic_window: 15,
        panic_hold: 60,
    };
    let over = Expr::DesiredBelow {
        stable_window: 60,
        panic_window: 15,
        panic_hold: 60,
    };
    assert_eq!(under.eval(&s, 120, &targets), None);
    assert_eq!(over.eval(&s, 120, &targets), None);
    // A burst in the last 15 s: 4× the load. Stable (1m) rises a little, panic reads the burst:
    // panic window [105, 120]: 3 scrapes × 400 s of work / 15 s = 80 → ceil(80/9) = 9 ≥ 6 → panic.
    let s = scraped(120, 3, |t| {
        if t > 105 {
            (2000.0, 400.0)
        } else {
            (500.0, 100.0)
        }
    });
    let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
    assert_eq!((d.panic, d.panicking), (9, true));
    assert!(d.desired >= 9);
    let o = under.eval(&s, 120, &targets).unwrap();
    assert_eq!(
        (o.desired, o.replicas, o.target),
        (Some(d.desired), Some(3), 9.0)
    );
    // The value is the panic window's load (it asks for more than the stable one).
    assert!((o.value - 80.0).abs() < 1e-9, "{}", o.value);
    // Traffic stopped: desired 0, raised to 1 by the alert (`clamp_min`), < 3 → over-provisioned …
    let stopped = |t: u64| if t <= 100 { (500.0, 100.0) } else { (0.0, 0.0) };
    let o = over.eval(&scraped(200, 3, stopped), 200, &targets).unwrap();
    assert_eq!(o.desired, Some(1));
    // … but an idle function at one replica is not.
    assert_eq!(over.eval(&scraped(200, 1, stopped), 200, &targets), None);
    // No series at all → no alert.
    assert_eq!(under.eval(&Series::default(), 200, &targets), None);
}

/// Requests in flight, queue included, at `load` busy slots on `n` slots (M/M/n: Erlang C).
fn in_flight(n: u32, load: f64) -> f64 {
    if load >= f64::from(n) {
        return f64::INFINITY;
    }
    let n_f = f64::from(n);
    // Σ_{k<n} a^k / k!, term by term; `term` ends at a^(n-1) / (n-1)!.
    let (mut below, mut term) = (0.0, 1.0);
    for k in 0..n {
        if k > 0 {
            term *= load / f64::from(k);
        }
        below += term;
    }
    // a^n / n! × n / (n − a); the probability of waiting is its share, and the queue that × a / (n − a).
    let queued = term * load / n_f * n_f / (n_f - load);
    let wait = queued / (below + queued);
    load + wait * load / (n_f - load)
}

#[test]
fn a_scale_down_leaves_few_slots_room_for_their_queue() {
    // Replicas of 1 to 10 slots at the pack's proportion (target = slots × 0.9), loads up to 20 replicas' worth:
    // the worst ratio of in flight (queue included) to target × replicas after a scale-down to `count`.
    let worst = |count: &dyn Fn(f64, CapacityTarget) -> u32| {
        let mut worst: f64 = 0.0;
        for slots in [1u32, 2, 4, 10] {
            let target = CapacityTarget {
                per_replica: 0.9 * f64::from(slots),
                rps: false,
            };
            for i in 1..400 {
                let load = f64::from(i) * 0.05 * f64::from(slots);
                let replicas = count(load, target);
                let ratio =
                    in_flight(replicas * slots, load) / (target.per_replica * f64::from(replicas));
                worst = worst.max(ratio);
            }
        }
        worst
    };
    // The fill alone leaves a one-slot function up to 3× over its target once it queues (the panic window
    // then scales it straight back up); with the staffing term the worst case stays near the fill.
    let fill_only = worst(&|load, t| ceil_div(load, t.per_replica * DOWN_FILL));
    assert!(fill_only > 3.0, "{fill_only}");
    let with_safety = worst(&headroom);
    assert!(with_safety <= 0.88, "{with_safety}");
    // A rate target has no slots: the fill only.
    let rps = CapacityTarget {
        per_replica: 1.0,
        rps: true,
    };
    assert_eq!(headroom(2.0, rps), 3);
    assert_eq!(
        headroom(
            2.0,
            CapacityTarget {
                per_replica: 1.0,
                rps: false
            }
        ),
        4
    );
}

#[test]
fn rps_type_counts_requests() {
    let cap = CapacityTarget {
        per_replica: 45.0,
        rps: true,
    };
    let s = scraped(120, 1, |_| (500.0, 100.0)); // 100 req/s
    let d = desired(&s, 120, cap, Windows::pack(5)).unwrap();
    assert!((d.load - 100.0).abs() < 1e-9);
    assert_eq!(d.stable, 3);
}

#[test]
fn p95_above_needs_traffic_in_the_short_window() {
    // One scrape every 5 s up to `until`; 10 slow requests (all in (0.5, 1]) per scrape until t = 100,
    // flat after.
    let slow = BUCKETS.iter().position(|b| *b == 1.0).unwrap();
    let scraped = |until: u64| {
        let mut series = Series::default();
        for t in (0..=until).step_by(5) {
            let n = 10.0 * (t.min(100) / 5) as f64;
            let mut buckets = [0.0; NB];
            buckets[slow..].fill(n);
            let sample = Sample {
                t,
                ok: n,
                sum: 0.0,
                started: n,
                buckets,
                replicas: 1,
            };
            series.push(sample, 65);
        }
        series
    };
    let targets = Targets {
        latency_secs: 0.5,
        latency_tolerance: None,
        capacity: CapacityTarget::default(),
        evaluation_secs: 5,
    };
    let high = Expr::P95Above {
        window: 60,
        traffic_window: 30,
    };
    assert_eq!(high.window(), 60);
    // Requests in the last 30 s: fires (p95 in (0.5, 1] against a 0.5 s target).
    assert!(high.eval(&scraped(125), 125, &targets).is_some());
    // 30 s after the last request the 1m p95 is still above target, but there is no current traffic.
    let series = scraped(130);
    assert!(p95(&series, 130, 60).is_some_and(|q| q > 0.5));
    assert_eq!(high.eval(&series, 130, &targets), None);
    // Without the guard (a 60 s traffic window, as the rule was before) it would still fire.
    let unguarded = Expr::P95Above {
        window: 60,
        traffic_window: 60,
    };
    assert!(unguarded.eval(&series, 130, &targets).is_some());
}
