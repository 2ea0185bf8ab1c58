//! docs/operations.md against the code. Its metrics table against what the router's `/metrics`
//! renders: after a scripted sequence of notifications every documented family exists with its
//! documented type and label names, no undocumented family is rendered, enumerated label values
//! are documented ones, and each series moves as the table says. The background loops' periods.
//! Its test table: every file it names exists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use alertscaler::config::{AuthConfig, Config};
use alertscaler::policy::ScaleDown;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use crate::support::app_with_backend;
use crate::support::doubles::{Double, config, webhook};
use crate::support::send_raw as send;

/// One row's metric as the table documents it.
#[derive(Debug)]
struct Documented {
    name: String,
    kind: String,
    labels: BTreeSet<String>,
    /// Documented values of enumerated labels (`status` (firing, resolved) …).
    values: BTreeMap<String, BTreeSet<String>>,
}

/// The text of docs/operations.md's section `## title`, up to the next one.
fn section(title: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let start = format!("\n## {title}\n");
    let after = doc.split(start.as_str()).nth(1).expect("the section");
    after.split("\n## ").next().unwrap().to_owned()
}

/// Backticked words of `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The metrics table of docs/operations.md, one entry per metric name.
fn documented_metrics() -> Vec<Documented> {
    let section = section("Metrics");
    let mut metrics = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `alertscaler_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (names, kind, labels, meaning) = (cells[1], cells[2], cells[3], cells[4]);
        // Labels outside parentheses apply to every metric of the row; "(and `x` for y)" only to
        // the metric whose name says y; other parentheses list the values of the label before.
        let mut common = BTreeSet::new();
        let mut only: Vec<(String, String)> = Vec::new();
        let mut values = BTreeMap::new();
        let mut last = None;
        for part in labels.split_inclusive(')') {
            let (outside, inside) = part.split_once('(').unwrap_or((part, ""));
            for label in backticked(outside) {
                common.insert(label.clone());
                last = Some(label);
            }
            let inside = inside.trim_end_matches(')');
            if let Some(rest) = inside.strip_prefix("and ") {
                let (label, metric) = rest.split_once(" for ").expect("(and `x` for y)");
                only.push((backticked(label).remove(0), metric.trim().to_owned()));
            } else if let (Some(label), false) = (&last, inside.is_empty()) {
                let listed = inside.split(',').map(|v| v.trim().to_owned()).collect();
                values.insert(label.clone(), listed);
            }
        }
        if common.contains("outcome") {
            values.insert("outcome".into(), backticked(meaning).into_iter().collect());
        }
        for name in backticked(names) {
            let mut labels = common.clone();
            for (label, metric) in &only {
                if name.contains(metric.as_str()) {
                    labels.insert(label.clone());
                }
            }
            metrics.push(Documented {
                name,
                kind: kind.to_owned(),
                labels,
                values: values.clone(),
            });
        }
    }
    assert!(metrics.len() >= 10, "the table was not read: {metrics:?}");
    metrics
}

/// One rendered sample: its series name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The families' types (`# TYPE`) and the samples of an OpenMetrics text.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            });
        }
    }
    (types, samples)
}

/// The family a documented name belongs to (`# TYPE` names a counter without `_total`).
fn family(metric: &Documented) -> &str {
    match metric.kind.as_str() {
        "counter" => metric.name.strip_suffix("_total").unwrap_or(&metric.name),
        _ => &metric.name,
    }
}

/// Whether `sample` is a series of `family` (a histogram's `_bucket`, `_count`, `_sum` included).
fn of_family(sample: &Sample, family: &str) -> bool {
    sample
        .name
        .strip_prefix(family)
        .is_some_and(|rest| ["", "_total", "_bucket", "_count", "_sum", "_created"].contains(&rest))
}

/// The scrape as samples, through the router.
async fn scrape(app: &Router) -> (BTreeMap<String, String>, Vec<Sample>) {
    let (status, _, text) = send(app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    parse(&text)
}

/// The value of the series `name` whose labels include `labels` (0 when it is not rendered).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map_or(0.0, |s| s.value)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_alert(body: &Value, token: &str) -> Request<Body> {
    Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Bearer auth, CE scale-down (a resolution writes at once), one function with latency labels
/// and one with capacity labels.
fn scripted_config(token_file: std::path::PathBuf) -> Config {
    let mut c = config(&["echo", "cap"]);
    c.auth = AuthConfig::Bearer { token_file };
    c.policy.scale_down = ScaleDown::Ce;
    let echo = &mut c.memory.functions[0].labels;
    echo.insert("com.openfaas.scale.latency-target-ms".into(), "250".into());
    echo.insert("com.openfaas.scale.latency-tolerance".into(), "0.3".into());
    let cap = &mut c.memory.functions[1].labels;
    cap.insert("com.openfaas.scale.type".into(), "rps".into());
    cap.insert("com.openfaas.scale.target".into(), "50".into());
    c
}

#[tokio::test]
async fn every_documented_metric_is_rendered_with_its_labels_and_moves_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right\n").unwrap();
    let c = scripted_config(token_file);
    let (app, state) = app_with_backend(&c, Double::on(&c).arc());
    let app = app.layer(MockConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))));
    let documented = documented_metrics();
    let (notifications, decisions, actions, webhooks) = (
        "alertscaler_notifications_total",
        "alertscaler_decisions_total",
        "alertscaler_scale_actions_total",
        "alertscaler_webhook_duration_seconds_count",
    );
    let echo = ("function", "echo.openfaas-fn");

    // Nothing happened: labelled families render no series, except the backend's `read` and
    // `apply` `ok` histograms (held by its decorator from the start); the unlabelled ones are
    // there. All at 0.
    let (_, before) = scrape(&app).await;
    let unlabelled: Vec<&Documented> = documented.iter().filter(|m| m.labels.is_empty()).collect();
    let held = |s: &Sample| {
        of_family(s, "alertscaler_backend_request_duration_seconds")
            && ["read", "apply"].contains(&s.labels["operation"].as_str())
            && s.labels["result"] == "ok"
    };
    for s in &before {
        assert!(
            (unlabelled.iter().any(|m| of_family(s, family(m))) || held(s)) && s.value == 0.0,
            "rendered before anything happened: {s:?}"
        );
    }
    // Buckets: 0.1 ms doubling up to 3.28 s.
    let bucket = "alertscaler_backend_request_duration_seconds_bucket";
    let bounds: Vec<f64> = before
        .iter()
        .filter(|s| s.name == bucket && s.labels["operation"] == "read")
        .map(|s| s.labels["le"].parse::<f64>().unwrap())
        .filter(|le| le.is_finite())
        .collect();
    assert_eq!(bounds.first(), Some(&0.0001), "{bounds:?}");
    assert!(
        bounds.windows(2).all(|w| (w[1] / w[0] - 2.0).abs() < 1e-9),
        "{bounds:?}"
    );
    let last = bounds.last().unwrap();
    assert_eq!(format!("{last:.2}"), "3.28", "{bounds:?}");
    let count = "alertscaler_backend_request_duration_seconds_count";
    for operation in ["read", "apply"] {
        let labels = [("operation", operation), ("result", "ok")];
        assert!(
            before
                .iter()
                .any(|s| s.name == count && labels.iter().all(|(k, v)| s.labels[*k] == *v)),
            "{operation} ok at 0"
        );
    }
    for m in &unlabelled {
        assert!(
            before.iter().any(|s| s.name == m.name),
            "{} not at 0",
            m.name
        );
    }

    // A firing alert scales echo up.
    let fire = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    assert_eq!(
        send(&app, post_alert(&fire, "right")).await.0,
        StatusCode::OK
    );
    let (_, s) = scrape(&app).await;
    assert_eq!(value(&s, notifications, &[("status", "firing")]), 1.0);
    assert_eq!(value(&s, decisions, &[("outcome", "scaled")]), 1.0);
    assert_eq!(value(&s, actions, &[echo, ("direction", "up")]), 1.0);
    assert_eq!(value(&s, webhooks, &[("code", "200")]), 1.0);
    assert_eq!(value(&s, "alertscaler_ledger_episodes", &[]), 1.0);
    assert_eq!(value(&s, "alertscaler_ledger_functions", &[]), 1.0);
    // The read exported echo's label targets.
    let echo_name = ("function_name", "echo.openfaas-fn");
    let target = "alertscaler_function_latency_target_seconds";
    assert_eq!(value(&s, target, &[echo_name]), 0.25);
    let tolerance = "alertscaler_function_latency_tolerance_ratio";
    assert_eq!(value(&s, tolerance, &[echo_name]), 0.3);

    // The same notification again: a duplicate, nothing written.
    assert_eq!(
        send(&app, post_alert(&fire, "right")).await.0,
        StatusCode::OK
    );
    // Bad credentials: counted, answered 401, decided nothing.
    let (status, _, _) = send(&app, post_alert(&fire, "wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, s) = scrape(&app).await;
    assert_eq!(value(&s, notifications, &[("status", "firing")]), 2.0);
    assert_eq!(value(&s, decisions, &[("outcome", "duplicate")]), 1.0);
    assert_eq!(value(&s, actions, &[echo, ("direction", "up")]), 1.0);
    assert_eq!(value(&s, "alertscaler_auth_failures_total", &[]), 1.0);
    assert_eq!(value(&s, webhooks, &[("code", "401")]), 1.0);
    assert_eq!(value(&s, webhooks, &[("code", "200")]), 2.0);

    // The resolution scales echo down (CE: at once); an unknown function is a refusal.
    let resolve = webhook("resolved", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    assert_eq!(
        send(&app, post_alert(&resolve, "right")).await.0,
        StatusCode::OK
    );
    let ghost = webhook("firing", "ghost.openfaas-fn", "0000000000000001");
    assert_eq!(
        send(&app, post_alert(&ghost, "right")).await.0,
        StatusCode::OK
    );
    // The label refresh's listing exports the capacity target.
    state.service.refresh_label_exports().await.unwrap();
    let (types, s) = scrape(&app).await;
    assert_eq!(value(&s, notifications, &[("status", "resolved")]), 1.0);
    assert_eq!(value(&s, decisions, &[("outcome", "scaled")]), 2.0);
    assert_eq!(value(&s, decisions, &[("outcome", "refused")]), 1.0);
    assert_eq!(value(&s, actions, &[echo, ("direction", "down")]), 1.0);
    let capacity = "alertscaler_function_capacity_target";
    let cap = [("function_name", "cap.openfaas-fn"), ("type", "rps")];
    assert!(value(&s, capacity, &cap) > 0.0);
    let backend = "alertscaler_backend_request_duration_seconds_count";
    for (operation, result) in [
        ("read", "ok"),
        ("read", "not_found"),
        ("apply", "ok"),
        ("list", "ok"),
    ] {
        let labels = [("operation", operation), ("result", result)];
        assert!(value(&s, backend, &labels) >= 1.0, "{operation} {result}");
    }

    // Every documented family now renders, with its type and exactly its label names.
    for m in &documented {
        let family = family(m);
        assert_eq!(types.get(family), Some(&m.kind), "type of {}", m.name);
        let series: Vec<&Sample> = s.iter().filter(|s| of_family(s, family)).collect();
        assert!(!series.is_empty(), "{} not rendered", m.name);
        for sample in series {
            let names: BTreeSet<String> = sample
                .labels
                .keys()
                .filter(|k| *k != "le")
                .cloned()
                .collect();
            assert_eq!(names, m.labels, "labels of {sample:?}");
            for (label, allowed) in &m.values {
                assert!(
                    allowed.contains(&sample.labels[label]),
                    "undocumented {sample:?}"
                );
            }
        }
    }
    // … and nothing undocumented is rendered.
    for name in types.keys() {
        assert!(
            documented.iter().any(|m| family(m) == name),
            "{name} is rendered but not in docs/operations.md"
        );
    }
}

/// Backend listings so far, as `/metrics` counts them.
fn listings(state: &alertscaler::http::AppState) -> f64 {
    let (_, samples) = parse(&state.service.metrics().render());
    let count = "alertscaler_backend_request_duration_seconds_count";
    samples
        .iter()
        .filter(|s| s.name == count && s.labels["operation"] == "list")
        .map(|s| s.value)
        .sum()
}

/// "A listing every 60 s" for the label series, and the settle pass every
/// `settle_interval_secs` (15 s by default), in virtual time: each pass lists once.
#[tokio::test(start_paused = true)]
async fn the_label_refresh_lists_every_60_s_and_the_settle_pass_every_15_s() {
    use std::time::Duration;
    use tokio::time::{Instant, sleep_until};
    let mut c = config(&["echo"]);
    c.memory.functions[0]
        .labels
        .insert("com.openfaas.scale.latency-target-ms".into(), "250".into());
    assert_eq!(c.policy.settle_interval_secs, 15, "the documented default");
    let mut refresh_only = c.clone();
    refresh_only.policy.settle_interval_secs = 0;
    let target = "alertscaler_function_latency_target_seconds{function_name=\"echo.openfaas-fn\"}";
    let at = |start: Instant, ms: u64| start + Duration::from_millis(ms);

    // The label refresh alone: at start, then 60 s later.
    let (_, state) = app_with_backend(&refresh_only, Double::on(&refresh_only).arc());
    let start = Instant::now();
    let loops = alertscaler::background::spawn(state.service.clone());
    sleep_until(at(start, 500)).await;
    assert_eq!(listings(&state), 1.0);
    assert!(state.service.metrics().render().contains(target));
    sleep_until(at(start, 59_500)).await;
    assert_eq!(listings(&state), 1.0);
    sleep_until(at(start, 60_500)).await;
    assert_eq!(listings(&state), 2.0);
    loops.abort();

    // With the settle pass at its default: one more listing every 15 s.
    let (_, state) = app_with_backend(&c, Double::on(&c).arc());
    let start = Instant::now();
    let loops = alertscaler::background::spawn(state.service.clone());
    sleep_until(at(start, 14_500)).await;
    assert_eq!(listings(&state), 2.0);
    sleep_until(at(start, 15_500)).await;
    assert_eq!(listings(&state), 3.0);
    loops.abort();
}

/// Every source file the test table names (`src/…`, `tests/…`) exists, so a reader sent there
/// finds the tests.
#[test]
fn every_file_the_test_table_names_exists() {
    let tests = section("Tests");
    let rows: Vec<&str> = tests.lines().filter(|l| l.starts_with("| ")).collect();
    let mut named = 0;
    for path in rows.iter().flat_map(|row| backticked(row)) {
        if path.starts_with("src/") || path.starts_with("tests/") {
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&path);
            assert!(
                file.exists(),
                "docs/operations.md names {path}, which does not exist"
            );
            named += 1;
        }
    }
    assert!(named >= 20, "the table was not read: {named} paths");
}
