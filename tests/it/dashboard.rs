//! dashboards/alertscaler.json offline: it is a Grafana dashboard an import accepts (unique panel
//! ids, panels inside the 24-column grid and not overlapping, every query on the `datasource`
//! variable), and it charts every metric alertscaler exports except the per-function label gauges
//! meant for the rule packs — no more (a name that does not exist is an error). That each query
//! parses and the core panels have data is checked against the real Prometheus in e2e.rs.

use crate::support::dashboard::{MAY_BE_EMPTY, load, panels, queries};

use std::collections::BTreeSet;

use serde_json::Value;

/// Exported for the rule packs, not for people: not on the dashboard.
const NOT_CHARTED: &[&str] = &[
    "alertscaler_function_latency_target_seconds",
    "alertscaler_function_latency_tolerance_ratio",
    "alertscaler_function_capacity_target",
];

/// Metric families of `GET /metrics` (from their `# TYPE` lines), each touched once so that it
/// is rendered (a family without any series has no `# TYPE` line). The per-function label gauges
/// are left untouched: they are [`NOT_CHARTED`].
fn exported_families() -> BTreeSet<String> {
    let m = alertscaler::metrics::Metrics::new();
    let id = alertscaler::id::FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    };
    let ms = std::time::Duration::from_millis(1);
    m.notification(alertscaler::alert::Status::Firing);
    m.decision("scaled");
    m.scaled(&id.to_string(), 1, 2);
    m.backend_call("memory", "read", "ok", ms);
    m.webhook(200, ms);
    m.auth_failure();
    m.ledger_size(&id, 1);
    m.render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// Identifiers in a PromQL expression that start with `alertscaler_`, as their family names.
fn families_in(expr: &str, exported: &BTreeSet<String>) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("alertscaler_"))
        .map(|t| {
            ["", "_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|suffix| {
                    let family = t.strip_suffix(suffix)?;
                    exported.contains(family).then(|| family.to_owned())
                })
                .unwrap_or_else(|| panic!("{t} in {expr} is not a metric alertscaler exports"))
        })
        .collect()
}

#[test]
fn the_dashboard_charts_every_operational_metric_and_nothing_else() {
    let exported = exported_families();
    assert!(exported.len() >= 8, "{exported:?}");
    let mut charted = BTreeSet::new();
    for q in queries(&load()) {
        charted.extend(families_in(&q.expr, &exported));
    }
    let want: BTreeSet<String> = exported
        .iter()
        .filter(|f| !NOT_CHARTED.contains(&f.as_str()))
        .cloned()
        .collect();
    assert_eq!(charted, want);
    // Per function: the gateway's replicas against the alerts that drove them.
    let per_function = queries(&load())
        .into_iter()
        .filter(|q| q.panel.contains("Replicas"))
        .map(|q| q.expr)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        per_function.contains("gateway_service_count"),
        "{per_function}"
    );
    assert!(per_function.contains("ALERTS{"), "{per_function}");
}

/// `(x, y, w, h)` of a panel.
fn grid(panel: &Value) -> (u64, u64, u64, u64) {
    let g = &panel["gridPos"];
    let n = |k: &str| {
        g[k].as_u64()
            .unwrap_or_else(|| panic!("gridPos.{k} of {}", panel["title"]))
    };
    (n("x"), n("y"), n("w"), n("h"))
}

#[test]
fn the_dashboard_is_importable_grafana_json() {
    let d = load();
    for key in ["title", "uid"] {
        assert!(d[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(d["schemaVersion"].as_u64().unwrap() >= 30);
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let all = d["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = all.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "panel ids must be unique");
    for (i, a) in all.iter().enumerate() {
        let (x, y, w, h) = grid(a);
        assert!(
            x + w <= 24 && w > 0 && h > 0,
            "{} is outside the grid",
            a["title"]
        );
        for b in &all[i + 1..] {
            let (bx, by, bw, bh) = grid(b);
            let apart = x + w <= bx || bx + bw <= x || y + h <= by || by + bh <= y;
            assert!(apart, "{} overlaps {}", a["title"], b["title"]);
        }
    }
    let titles: BTreeSet<&str> = panels(&d)
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for title in MAY_BE_EMPTY {
        assert!(titles.contains(title), "{title}");
    }
    for panel in panels(&d) {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{}: refIds", panel["title"]);
        for t in targets.iter().chain([panel]) {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }
}
