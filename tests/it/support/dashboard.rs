//! The Grafana dashboard (dashboards/alertscaler.json) as the tests see it: its panels' queries with
//! Grafana's variables replaced by values a Prometheus accepts, and their evaluation by the real
//! Prometheus of the end-to-end test (tests/it/e2e.rs), the way Grafana asks for them (range queries).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::gateway::Gateway;

/// The window `$__rate_interval` stands for: four scrapes at the e2e test's 1 s interval, and more.
const RATE_INTERVAL: &str = "10s";

/// Panels whose queries return nothing while all is well (no backend has failed).
pub const MAY_BE_EMPTY: &[&str] = &["Backend failures by result"];

/// One query of the dashboard: its panel's title and its PromQL, variables replaced.
#[derive(Debug, Clone)]
pub struct Query {
    pub panel: String,
    pub expr: String,
}

pub fn load() -> Value {
    let text = std::fs::read_to_string(super::repo("dashboards/alertscaler.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("dashboards/alertscaler.json: {e}"))
}

/// Every panel (rows excluded).
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// Grafana's `$__rate_interval` and the `$function` variable (all functions), and nothing else.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$function", ".*");
    assert!(
        !out.contains('$'),
        "a variable the test does not know in {expr}"
    );
    out
}

/// Every panel query, and the `function` variable's `label_values(metric, label)` as the series
/// Grafana lists its values from.
pub fn queries(dashboard: &Value) -> Vec<Query> {
    let mut all = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().unwrap() {
            all.push(Query {
                panel: panel["title"].as_str().unwrap().to_owned(),
                expr: substitute(target["expr"].as_str().unwrap()),
            });
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let q = var["query"]["query"].as_str().unwrap();
            let args = q.strip_prefix("label_values(").unwrap().strip_suffix(')');
            let (metric, label) = args.unwrap().split_once(',').unwrap();
            all.push(Query {
                panel: format!("variable {}", var["name"]),
                expr: format!("count by ({}) ({})", label.trim(), metric.trim()),
            });
        }
    }
    all
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Prometheus's answer to a range query over the last `since`: `Err` with its error when it does
/// not parse the query.
async fn range(
    client: &reqwest::Client,
    prometheus: &str,
    expr: &str,
    since: Duration,
) -> Result<Vec<Value>, String> {
    let end = SystemTime::now();
    let start = end - since;
    let v: Value = client
        .get(format!("{prometheus}/api/v1/query_range"))
        .query(&[
            ("query", expr.to_owned()),
            ("start", format!("{:.3}", unix(start))),
            ("end", format!("{:.3}", unix(end))),
            ("step", "1s".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    match v["status"].as_str() {
        Some("success") => Ok(v["data"]["result"].as_array().cloned().unwrap_or_default()),
        _ => Err(format!("{}: {}", v["errorType"], v["error"])),
    }
}

/// After the end-to-end scenario: the gateway reports the replicas alertscaler left (as a real
/// gateway reports the replicas it runs), then every dashboard query is evaluated over the
/// scenario's span; each must parse, and each must return series unless its panel is in
/// [`MAY_BE_EMPTY`]. Returns the number of queries checked.
pub async fn check_in_prometheus(
    client: &reqwest::Client,
    prometheus: &str,
    gateway: &Gateway,
    replicas: &BTreeMap<String, u64>,
    since: Duration,
) -> usize {
    for (function, n) in replicas {
        gateway.set_replicas(function, *n);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while range(client, prometheus, "gateway_service_count", since)
        .await
        .unwrap()
        .len()
        < replicas.len()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never scraped gateway_service_count"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let queries = queries(&load());
    for q in &queries {
        let series = range(client, prometheus, &q.expr, since)
            .await
            .unwrap_or_else(|e| panic!("panel {:?}: Prometheus refuses {}: {e}", q.panel, q.expr));
        let may_be_empty = MAY_BE_EMPTY.contains(&q.panel.as_str());
        assert!(
            may_be_empty || !series.is_empty(),
            "panel {:?}: no series for {}",
            q.panel,
            q.expr
        );
    }
    queries.len()
}
