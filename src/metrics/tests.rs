use std::collections::BTreeMap;

use super::*;

fn f(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: "openfaas-fn".into(),
    }
}

#[test]
fn ledger_gauges_are_sums_of_last_seen_sizes() {
    let m = Metrics::new();
    m.ledger_size(&f("a"), 3);
    m.ledger_size(&f("b"), 2);
    m.ledger_size(&f("a"), 1);
    let text = m.render();
    assert!(text.contains("alertscaler_ledger_episodes 3\n"), "{text}");
    assert!(text.contains("alertscaler_ledger_functions 2\n"), "{text}");
    m.ledger_size(&f("b"), 0);
    m.ledger_size(&f("c"), 0);
    let text = m.render();
    assert!(text.contains("alertscaler_ledger_episodes 1\n"), "{text}");
    assert!(text.contains("alertscaler_ledger_functions 1\n"), "{text}");
}

#[test]
fn every_metric_the_alert_rules_use_exists() {
    let rules = [
        include_str!("../../alert-rules/alertscaler.rules.yml"),
        include_str!("../../alert-rules/capacity.rules.yml"),
    ]
    .concat();
    let m = Metrics::new();
    m.notification(Status::Firing);
    m.decision("error");
    m.scaled("f.ns", 1, 2);
    m.backend_call("memory", "read", "ok", Duration::ZERO);
    m.webhook(200, Duration::ZERO);
    // Per-function families render only once they hold a series.
    let labels = [("com.openfaas.scale.target".to_string(), "5".to_string())].into();
    m.export_labels(&f("f"), &labels);
    let text = m.render();
    let mut checked = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !word.starts_with("alertscaler_") {
            continue;
        }
        let base = ["_total", "_count", "_bucket", "_sum"]
            .iter()
            .find_map(|s| word.strip_suffix(s))
            .unwrap_or(word);
        assert!(
            text.contains(&format!("# TYPE {base} ")),
            "rule uses {word}, not exported:\n{text}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
    assert!(
        rules.contains("alertscaler_function_capacity_target{"),
        "the capacity pack reads the exported target"
    );
}

#[test]
fn capacity_targets_are_exported_for_functions_that_set_them() {
    let function = |name: &str, pairs: &[(&str, &str)]| {
        let labels: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (f(name), labels)
    };
    let m = Metrics::new();
    let functions = [
        function("plain", &[]),
        function("conc", &[("com.openfaas.scale.target", "4")]),
        function(
            "rate",
            &[
                ("com.openfaas.scale.type", "rps"),
                ("com.openfaas.scale.target", "50"),
                ("com.openfaas.scale.target-proportion", "1"),
            ],
        ),
        function("bad", &[("com.openfaas.scale.type", "cpu")]),
    ];
    m.replace_label_exports(functions.iter().map(|(id, l)| (id.clone(), l)));
    let text = m.render();
    for line in [
        "alertscaler_function_capacity_target{function_name=\"conc.openfaas-fn\",type=\"capacity\"} 3.6",
        "alertscaler_function_capacity_target{function_name=\"rate.openfaas-fn\",type=\"rps\"} 50.0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    for absent in ["plain.openfaas-fn", "bad.openfaas-fn"] {
        assert!(!text.contains(absent), "{absent} exported:\n{text}");
    }
    // A function that drops its labels drops its series.
    m.export_labels(&f("conc"), &BTreeMap::new());
    assert!(!m.render().contains("conc.openfaas-fn"));
}

#[test]
fn label_exports_follow_reads_and_listings() {
    let m = Metrics::new();
    let labels = |ms: &str| {
        BTreeMap::from([(
            "com.openfaas.scale.latency-target-ms".to_string(),
            ms.to_string(),
        )])
    };
    m.export_labels(&f("a"), &labels("250"));
    m.export_labels(&f("b"), &labels("100"));
    let text = m.render();
    assert!(
        text.contains(r#"function_latency_target_seconds{function_name="a.openfaas-fn"} 0.25"#),
        "{text}"
    );
    // A read that shows the label gone withdraws the series; a bad value exports nothing.
    m.export_labels(&f("a"), &BTreeMap::new());
    m.export_labels(&f("b"), &labels("soon"));
    let text = m.render();
    assert!(!text.contains(r#"function_name="a.openfaas-fn""#), "{text}");
    assert!(!text.contains(r#"function_name="b.openfaas-fn""#), "{text}");
    // A listing replaces everything: functions not listed disappear.
    m.export_labels(&f("gone"), &labels("100"));
    let kept = labels("400");
    m.replace_label_exports([(f("c"), &kept)]);
    let text = m.render();
    assert!(!text.contains("gone.openfaas-fn"), "{text}");
    assert!(
        text.contains(r#"function_name="c.openfaas-fn"} 0.4"#),
        "{text}"
    );
}

#[test]
fn counters_render_with_labels() {
    let m = Metrics::new();
    m.notification(Status::Firing);
    m.decision("duplicate");
    m.scaled("echo.openfaas-fn", 1, 5);
    m.scaled("echo.openfaas-fn", 5, 1);
    m.webhook(503, Duration::from_millis(3));
    let text = m.render();
    for line in [
        "alertscaler_notifications_total{status=\"firing\"} 1",
        "alertscaler_decisions_total{outcome=\"duplicate\"} 1",
        "alertscaler_scale_actions_total{function=\"echo.openfaas-fn\",direction=\"up\"} 1",
        "alertscaler_scale_actions_total{function=\"echo.openfaas-fn\",direction=\"down\"} 1",
        "alertscaler_webhook_duration_seconds_count{code=\"503\"} 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn a_scrape_during_the_label_refresh_sees_every_function() {
    let m = std::sync::Arc::new(Metrics::new());
    let labels: BTreeMap<String, String> = [(
        "com.openfaas.scale.latency-target-ms".to_string(),
        "2000".to_string(),
    )]
    .into();
    let functions: Vec<FunctionId> = (0..500).map(|i| f(&format!("fn-{i}"))).collect();
    let count = |m: &Metrics| {
        m.render()
            .lines()
            .filter(|l| l.starts_with("alertscaler_function_latency_target_seconds{"))
            .count()
    };
    m.replace_label_exports(functions.iter().map(|id| (id.clone(), &labels)));
    assert_eq!(count(&m), 500);
    // Refreshes in a loop beside scrapes (bounded: 50 scrapes).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refresher = {
        let (m, stop, functions, labels) =
            (m.clone(), stop.clone(), functions.clone(), labels.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                m.replace_label_exports(functions.iter().map(|id| (id.clone(), &labels)));
            }
        })
    };
    let fewest = (0..50).map(|_| count(&m)).min().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    refresher.join().unwrap();
    assert_eq!(
        fewest, 500,
        "a scrape rendered only {fewest} of 500 latency targets"
    );
    // A function gone from the listing loses its series.
    m.replace_label_exports(functions[1..].iter().map(|id| (id.clone(), &labels)));
    assert_eq!(count(&m), 499);
    assert!(!m.render().contains("\"fn-0.openfaas-fn\""));
}

/// A refresh that drops a function (absent from its listing, taken before the function existed)
/// beside a webhook's export of the same function with changed labels: the series and the record
/// of what was exported change together, so the next export with those labels is never skipped
/// while the series is missing. (Swept over 100 000 interleavings; bounded, a few seconds.)
#[test]
fn a_refresh_racing_a_webhook_export_never_leaves_a_series_missing() {
    use std::sync::{Arc, Barrier};
    let label = |ms: &str| -> BTreeMap<String, String> {
        [(
            "com.openfaas.scale.latency-target-ms".to_string(),
            ms.to_string(),
        )]
        .into()
    };
    let (x, y) = (label("2000"), label("3000"));
    let id = f("racy");
    let trials = 100_000;
    // Each side waits a varying few spins after the start, so the trials sweep the overlaps.
    let spin = |n: u64| {
        for i in 0..n {
            std::hint::black_box(i);
        }
    };
    let start = Arc::new(Barrier::new(3));
    let done = Arc::new(Barrier::new(3));
    let slot: Arc<std::sync::Mutex<Option<Arc<Metrics>>>> = Arc::default();
    let refresher = {
        let (start, done, slot) = (start.clone(), done.clone(), slot.clone());
        std::thread::spawn(move || {
            for t in 0..trials {
                start.wait();
                let m = slot.lock().unwrap().clone().unwrap();
                spin(t % 97 * 7);
                m.replace_label_exports(std::iter::empty());
                done.wait();
            }
        })
    };
    let webhook = {
        let (start, done, slot, id, y) = (
            start.clone(),
            done.clone(),
            slot.clone(),
            id.clone(),
            y.clone(),
        );
        std::thread::spawn(move || {
            for t in 0..trials {
                start.wait();
                let m = slot.lock().unwrap().clone().unwrap();
                spin(t % 89 * 7);
                m.export_labels(&id, &y);
                done.wait();
            }
        })
    };
    let mut stuck = 0;
    for _ in 0..trials {
        let m = Arc::new(Metrics::new());
        m.export_labels(&id, &x);
        *slot.lock().unwrap() = Some(m.clone());
        start.wait();
        done.wait();
        // Afterwards: the next webhook read and the next refresh both see the labels Y.
        m.export_labels(&id, &y);
        m.replace_label_exports([(id.clone(), &y)]);
        let text = m.render();
        if !text.contains(
            "alertscaler_function_latency_target_seconds{function_name=\"racy.openfaas-fn\"} 3",
        ) {
            stuck += 1;
        }
    }
    refresher.join().unwrap();
    webhook.join().unwrap();
    assert_eq!(
        stuck, 0,
        "{stuck} of {trials} trials left the latency target missing"
    );
}

#[test]
fn a_chunked_render_is_the_render_in_bounded_chunks_and_stops_when_told() {
    let m = Metrics::new();
    for i in 0..500 {
        m.scaled(&format!("fn-{i}.openfaas-fn"), 1, 5);
    }
    let whole = m.render();
    let mut chunks = Vec::new();
    m.render_chunked(1024, |chunk| {
        chunks.push(chunk);
        true
    });
    assert!(chunks.len() > whole.len() / 1024, "{} chunks", chunks.len());
    assert!(
        chunks.iter().all(|c| c.len() <= 1024),
        "a chunk over the bound"
    );
    assert_eq!(chunks.concat(), whole);
    // The scraper went away after two chunks: nothing more is rendered.
    let mut taken = 0;
    m.render_chunked(1024, |_| {
        taken += 1;
        taken < 2
    });
    assert_eq!(taken, 2);
}
