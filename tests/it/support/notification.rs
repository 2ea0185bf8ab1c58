//! One builder of AlertManager v4 notifications for the test binaries that do not post the
//! `fixtures/` files (those live in `fixtures/` and are shared with curl users).

use serde_json::{Value, json};

/// One alert: (function_name label, fingerprint, alertname, status).
pub type AlertSpec<'a> = (&'a str, &'a str, &'a str, &'a str);

/// A notification holding `alerts`, all of one episode start `starts_at`.
pub fn notification(alerts: &[AlertSpec<'_>], starts_at: &str) -> Value {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(function, fingerprint, alertname, status)| {
            json!({
                "status": status,
                "labels": { "alertname": alertname, "function_name": function, "service": "gateway" },
                "annotations": {},
                "startsAt": starts_at,
                "endsAt": if *status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-11-24T07:00:00Z" },
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint,
            })
        })
        .collect();
    let status = if alerts.iter().any(|a| a["status"] == "firing") {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "receiver": "alertscaler",
        "status": status,
        "alerts": alerts,
        "groupLabels": { "alertname": "APIHighInvocationRate" },
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"APIHighInvocationRate\"}",
        "truncatedAlerts": 0,
    })
}
