//! docs/operations.md's `decided` log line: one per decision, with the fields `function`,
//! `trigger`, `alerts`, `outcome`, `from`, `to`, `reason`; at info when something was scaled,
//! refused or failed, at debug when nothing moved.

use std::future::Future;

use super::*;

/// The `decided` lines logged at `debug` and above while `run` runs, as JSON objects.
async fn decided_lines(run: impl Future<Output = ()>) -> Vec<serde_json::Value> {
    let logs = Logs::default();
    let guard = logs.capture_json("debug");
    run.await;
    drop(guard);
    logs.text()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["fields"]["message"] == "decided")
        .collect()
}

#[tokio::test]
async fn a_decision_is_logged_with_every_documented_field_at_its_level() {
    let (svc, _) = service(&[], 1);
    let fire = webhook("firing", "APIHighInvocationRate", &[], "10", 0);
    let lines = decided_lines(async {
        svc.handle(&fire, t(1)).await;
        svc.handle(&fire, t(2)).await;
    })
    .await;
    assert_eq!(lines.len(), 2, "one line per decision: {lines:?}");
    let (scaled, held) = (&lines[0], &lines[1]);
    assert_eq!(scaled["level"], "INFO", "{scaled}");
    let f = &scaled["fields"];
    assert_eq!(f["function"], "echo.openfaas-fn", "{scaled}");
    assert_eq!(f["trigger"], "notification", "{scaled}");
    assert_eq!(f["alerts"], json!(["APIHighInvocationRate"]), "{scaled}");
    assert_eq!(f["outcome"], "scaled", "{scaled}");
    assert!(f["from"].is_u64() && f["to"].is_u64(), "{scaled}");
    assert!(
        f["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{scaled}"
    );
    // Nothing moved: at debug, the outcome being why (the metric's label).
    assert_eq!(held["level"], "DEBUG", "{held}");
    assert_eq!(held["fields"]["outcome"], "duplicate", "{held}");
}

/// A log processor reads `alerts` as a JSON array of the alert names, not as the text of a Rust
/// value: names with quotes, backslashes and line breaks included, sorted and each once.
#[tokio::test]
async fn a_json_decision_log_line_carries_the_alert_names_as_an_array() {
    let (svc, _) = service(&[], 1);
    let names = [
        "Up \"quoted\"\nINFO forged",
        "APIHighInvocationRate",
        "back\\slash",
    ];
    let alerts: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "status": "firing",
                "labels": {"alertname": name, "function_name": "echo", "i": i.to_string()},
                "annotations": {"value": "10"},
                "startsAt": t(0),
            })
        })
        .collect();
    let body = json!({"version": "4", "status": "firing", "alerts": alerts});
    let webhook = alert::parse(body.to_string().as_bytes()).unwrap();

    let logs = Logs::default();
    {
        let _logging = logs.capture_json("info");
        svc.handle(&webhook, t(1)).await;
    }

    let text = logs.text();
    let decided: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .filter(|line: &serde_json::Value| line["fields"]["message"] == "decided")
        .collect();
    assert_eq!(decided.len(), 1, "{text}");
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(decided[0]["fields"]["alerts"], json!(expected), "{text}");
}
