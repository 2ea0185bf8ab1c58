use super::*;

#[test]
fn rate_extrapolates_like_prometheus() {
    // A steady 10/s counter sampled every second over a 10s window: exact rate 10.
    let pts: Vec<(f64, f64)> = (0..=10)
        .map(|t| (t as f64 + 100.0, 1000.0 + 10.0 * t as f64))
        .collect();
    assert!((extrapolated_rate(&pts, 100.0, 110.0).unwrap() - 10.0).abs() < 1e-9);
    // A new series (20 at t=1, 40 at t=2, window [-8, 2]): the start is limited to the zero point
    // (1 s before the first sample), which is within 1.1 intervals: increase 20 × 2 / 10 = 4.
    let r = extrapolated_rate(&[(1.0, 20.0), (2.0, 40.0)], -8.0, 2.0).unwrap();
    assert!((r - 4.0).abs() < 1e-9, "{r}");
    // Far from the zero point: half an interval at the start: 20 × 1.5 / 10 = 3.
    let r = extrapolated_rate(&[(1.0, 500.0), (2.0, 520.0)], -8.0, 2.0).unwrap();
    assert!((r - 3.0).abs() < 1e-9, "{r}");
    // The zero point limits extrapolation: first value 5, increase 20 → to_zero 0.25 < 0.5.
    let r = extrapolated_rate(&[(1.0, 5.0), (2.0, 25.0)], -8.0, 2.0).unwrap();
    assert!((r - 20.0 * 1.25 / 10.0).abs() < 1e-9, "{r}");
    assert_eq!(extrapolated_rate(&[(1.0, 5.0)], 0.0, 2.0), None);
}

#[test]
fn rate_counts_across_a_counter_reset_like_prometheus() {
    // 10/s sampled every 5 s; the gateway restarts between 20 s and 25 s and its counter starts again
    // from what arrived since (50): 150, 200, 250, 50, 100 over [10, 30] is an increase of 200, not -50.
    let pts = [
        (10.0, 150.0),
        (15.0, 200.0),
        (20.0, 250.0),
        (25.0, 50.0),
        (30.0, 100.0),
    ];
    let r = extrapolated_rate(&pts, 10.0, 30.0).unwrap();
    assert!((r - 10.0).abs() < 1e-9, "{r}");
    // Two resets in one window each add the value before them.
    let pts = [(0.0, 30.0), (5.0, 10.0), (10.0, 5.0), (15.0, 20.0)];
    let r = extrapolated_rate(&pts, 0.0, 15.0).unwrap();
    assert!((r - (20.0 - 30.0 + 30.0 + 10.0) / 15.0).abs() < 1e-9, "{r}");
}

#[test]
fn a_window_longer_than_the_run_so_far_still_starts_window_seconds_back() {
    // Scrapes at 1, 2, 3 s of a 10/s counter; rate(…[10s]) at 3 s covers [-7, 3] as Prometheus'
    // does: increase 20 extrapolated 1 s back to the zero point, over 10 s = 3 per s (dividing by
    // the 3 s since the run began instead read 10, the closed-loop test's early CE alert).
    let mut series = Series::default();
    for t in 1..=3 {
        let sample = Sample {
            t,
            ok: 10.0 * t as f64,
            sum: 0.0,
            started: 0.0,
            buckets: [0.0; NB],
            replicas: 1,
        };
        series.push(sample, 60);
    }
    let r = series.rate(3, 10, |s| s.ok).unwrap();
    assert!((r - 3.0).abs() < 1e-9, "{r}");
}

#[test]
fn a_series_is_newborn_at_its_first_sample_from_a_target_scraped_before() {
    let sample = |t: u64, started: f64| Sample {
        t,
        ok: 0.0,
        sum: 0.0,
        started,
        buckets: [0.0; NB],
        replicas: 1,
    };
    // The gateway target is scraped every 5 s from 0; the function's first request comes after 5 s.
    let mut series = Series::default();
    series.scrape(0, 1, None, 60);
    series.scrape(5, 1, None, 60);
    series.scrape(10, 1, Some(sample(10, 300.0)), 60);
    assert_eq!(series.newborn(10, Metric::Started), Some(300.0));
    assert_eq!(series.newborn(14, Metric::Started), Some(300.0));
    // At the second sample rate() has its two points: no longer newborn.
    series.scrape(15, 1, Some(sample(15, 600.0)), 60);
    assert_eq!(series.newborn(15, Metric::Started), None);
    assert!(series.rate(15, 15, |s| s.started).is_some());
    // A series sampled at the target's first scrape may be older than Prometheus' view of it.
    let mut first = Series::default();
    first.scrape(0, 1, Some(sample(0, 1e6)), 60);
    assert_eq!(first.newborn(0, Metric::Started), None);
    // One sample in the last minute after a long silence of the series (not of the target) is newborn
    // by the rule's definition: a counter that disappeared and reappears restarted from zero.
    let mut idle = Series::default();
    for t in (0..=70).step_by(5) {
        idle.scrape(t, 1, (t == 0 || t == 70).then(|| sample(t, 50.0)), 60);
    }
    assert_eq!(idle.newborn(70, Metric::Started), Some(50.0));
}

#[test]
fn a_function_without_counters_is_unseen_with_the_replicas_the_gateway_reports() {
    let sample = |t: u64| Sample {
        t,
        ok: 0.0,
        sum: 0.0,
        started: 10.0,
        buckets: [0.0; NB],
        replicas: 3,
    };
    let mut series = Series::default();
    series.scrape(0, 5, None, 60);
    // One scrape of the target is not "up at every scrape of the minute" yet.
    assert!(!series.unseen(0, 60, Metric::Started));
    series.scrape(5, 5, None, 60);
    assert!(series.unseen(5, 60, Metric::Started));
    assert_eq!(series.replicas(5), Some(5));
    // Counters appear: seen while a sample is within the minute, with the replicas it carries.
    series.scrape(10, 3, Some(sample(10)), 60);
    assert!(!series.unseen(10, 60, Metric::Started) && !series.unseen(70, 60, Metric::Started));
    assert_eq!(series.replicas(10), Some(3));
    for t in (15..=75).step_by(5) {
        series.scrape(t, 3, None, 60);
    }
    assert!(
        series.unseen(75, 60, Metric::Started),
        "a minute after its last sample"
    );
    assert!(
        !series.unseen(75, 900, Metric::Invocations),
        "within 15 minutes of it"
    );
}

#[test]
fn histogram_quantile_interpolates_within_buckets() {
    let inf = f64::INFINITY;
    // 100 observations: 50 ≤ 0.1, 90 ≤ 0.5, all ≤ 1. p95: rank 95 in (0.5, 1], 5 of 10 → 0.75.
    let b = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (inf, 100.0)];
    assert!((histogram_quantile(0.95, &b) - 0.75).abs() < 1e-12);
    // p50: rank 50 fills the first bucket exactly → its upper bound (linear from 0).
    assert!((histogram_quantile(0.5, &b) - 0.1).abs() < 1e-12);
    assert!((histogram_quantile(0.25, &b) - 0.05).abs() < 1e-12);
    // Rank in +Inf → the highest finite bound.
    let b = [(0.1, 10.0), (1.0, 10.0), (inf, 100.0)];
    assert_eq!(histogram_quantile(0.95, &b), 1.0);
    assert!(histogram_quantile(0.95, &[(0.1, 0.0), (inf, 0.0)]).is_nan());
}

#[test]
fn alert_goes_pending_then_firing_after_for_then_resolves() {
    let mut st = None;
    let yes = Some(Observed::new(7.0, 5.0));
    assert_eq!(step_alert(&mut st, yes, 4, 5, 0), None);
    for t in 5..9 {
        assert_eq!(step_alert(&mut st, yes, t, 5, 0), None, "t={t}");
    }
    assert_eq!(
        step_alert(&mut st, yes, 9, 5, 0),
        Some(Send::Firing {
            starts_at: 9,
            observed: Observed::new(7.0, 5.0)
        })
    );
    assert_eq!(step_alert(&mut st, yes, 10, 5, 0), None);
    assert_eq!(step_alert(&mut st, yes, 9 + RESEND_DELAY, 5, 0), None);
    assert_eq!(
        step_alert(&mut st, yes, 10 + RESEND_DELAY, 5, 0),
        Some(Send::Firing {
            starts_at: 9,
            observed: Observed::new(7.0, 5.0)
        })
    );
    assert_eq!(
        step_alert(&mut st, None, 80, 5, 0),
        Some(Send::Resolved {
            starts_at: 9,
            ends_at: 80
        })
    );
    // Pending that stops is dropped silently.
    step_alert(&mut st, yes, 90, 5, 0);
    assert_eq!(step_alert(&mut st, None, 91, 5, 0), None);
    assert_eq!(st, None);
    // for: 0 fires on the first true evaluation.
    assert!(matches!(
        step_alert(&mut st, yes, 100, 0, 0),
        Some(Send::Firing { starts_at: 100, .. })
    ));
}

/// Prometheus 2.42 re-sends a firing alert when `LastSentAt + resend-delay` is *before* the evaluation
/// time (`needsSending`): at the first evaluation more than 60 s after the last send. With a 5 s
/// evaluation interval that is every 65 s, not every 60 s.
#[test]
fn a_firing_alert_is_resent_at_the_first_evaluation_more_than_the_delay_later() {
    let mut st = None;
    let yes = Some(Observed::new(7.0, 5.0));
    assert!(step_alert(&mut st, yes, 5, 0, 0).is_some());
    let sent: Vec<u64> = (2..=30)
        .map(|k| k * 5)
        .filter(|&t| step_alert(&mut st, yes, t, 0, 0).is_some())
        .collect();
    let every = RESEND_DELAY + 5;
    assert_eq!(sent, vec![5 + every, 5 + 2 * every]);
}

#[test]
fn keep_firing_for_counts_from_the_first_false_evaluation() {
    let (first, later) = (Observed::new(7.0, 5.0), Observed::new(6.0, 5.0));
    let mut st = None;
    assert!(step_alert(&mut st, Some(first), 0, 0, 30).is_some());
    assert_eq!(step_alert(&mut st, Some(later), 15, 0, 30), None);
    // False from 30: fires on (with what it observed last) while less than 30 s have passed since 30.
    for t in [30, 45] {
        assert_eq!(step_alert(&mut st, None, t, 0, 30), None, "t={t}");
        assert_eq!(st.map(|a| a.observed), Some(later));
    }
    assert_eq!(
        step_alert(&mut st, None, 60, 0, 30),
        Some(Send::Resolved {
            starts_at: 0,
            ends_at: 60
        })
    );
    // True again within the time kept: the same alert, and the clock starts over at the next false one.
    let mut st = None;
    step_alert(&mut st, Some(first), 0, 0, 30);
    step_alert(&mut st, None, 15, 0, 30);
    assert_eq!(step_alert(&mut st, Some(later), 30, 0, 30), None);
    assert_eq!(step_alert(&mut st, None, 45, 0, 30), None);
    // (Still firing at 61, when its resend is due.)
    assert_eq!(
        step_alert(&mut st, None, RESEND_DELAY + 1, 0, 30),
        Some(Send::Firing {
            starts_at: 0,
            observed: later
        })
    );
    assert!(matches!(
        step_alert(&mut st, None, 75, 0, 30),
        Some(Send::Resolved { starts_at: 0, .. })
    ));
    // A pending alert is not kept.
    let mut st = None;
    step_alert(&mut st, Some(first), 0, 60, 30);
    assert_eq!(step_alert(&mut st, None, 15, 60, 30), None);
    assert_eq!(st, None);
}
