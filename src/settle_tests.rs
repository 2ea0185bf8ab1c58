//! End to end through the service and the memory backend: policies selected by alert labels,
//! the ledger's recommendations, stabilization and the settle pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone};
use serde_json::json;

use super::*;
use crate::alert::{self, Webhook};
use crate::backend::memory::{FunctionSpec, MemoryBackend};
use crate::config::Config;
use crate::policy::Why;
use crate::service::{Outcome, Settings};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn service(labels: &[(&str, &str)], replicas: u32) -> (Service, Arc<MemoryBackend>) {
    let spec = FunctionSpec {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
        replicas,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let backend = Arc::new(MemoryBackend::new(&[spec]));
    let service = Service::new(backend.clone(), Settings::from_config(&Config::default()));
    (service, backend)
}

fn webhook(
    status: &str,
    alertname: &str,
    labels: &[(&str, &str)],
    value: &str,
    starts: i64,
) -> Webhook {
    let mut l = json!({"alertname": alertname, "function_name": "echo"});
    for (k, v) in labels {
        l[k] = json!(v);
    }
    let body = json!({
        "version": "4",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": l,
            "annotations": {"value": value},
            "startsAt": t(starts),
        }],
    });
    alert::parse(body.to_string().as_bytes()).unwrap()
}

fn id() -> FunctionId {
    FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    }
}

#[tokio::test]
async fn step_ramp_resolve_is_stabilized_then_settled() {
    let (svc, backend) = service(&[], 1);
    let fire = |at| webhook("firing", "APIHighInvocationRate", &[], "10", at);
    assert_eq!(svc.handle(&fire(0), t(1)).await.functions[0].to, Some(5));
    // repeat_interval later: steps again.
    assert_eq!(svc.handle(&fire(0), t(40)).await.functions[0].to, Some(9));
    let report = svc
        .handle(
            &webhook("resolved", "APIHighInvocationRate", &[], "1", 0),
            t(100),
        )
        .await;
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.why),
        (Outcome::Unchanged, Some(Why::Stabilizing)),
        "{f:?}"
    );
    assert!(f.reason.contains("window of 300s holds 9"), "{}", f.reason);
    assert_eq!(backend.replicas(&id()), Some(9));
    // Within the window the settle pass holds; after it, it goes to min and stops.
    let reports = svc.settle(t(200)).await.unwrap();
    assert_eq!(reports[0].outcome, Outcome::Unchanged);
    assert_eq!(backend.replicas(&id()), Some(9));
    let reports = svc.settle(t(40) + TimeDelta::seconds(301)).await.unwrap();
    assert_eq!((reports[0].from, reports[0].to), (Some(9), Some(1)));
    assert_eq!(backend.replicas(&id()), Some(1));
    assert!(
        svc.settle(t(1000)).await.unwrap().is_empty(),
        "nothing pending"
    );
}

#[tokio::test]
async fn policies_are_selected_by_the_alert_label() {
    let labels = [
        ("com.openfaas.scale.target", "10"),
        ("com.openfaas.scale.zero", "true"),
    ];
    let (svc, backend) = service(&labels, 2);
    // Proportional: 90 / 9 = 10 wanted from 2, capacity 20, 90 ≥ 40 → panic → 10.
    let p = [("scale_policy", "proportional")];
    let r = svc
        .handle(
            &webhook("firing", "APIHighInvocationRate", &p, "90", 0),
            t(1),
        )
        .await;
    assert_eq!(r.functions[0].to, Some(10), "{:?}", r.functions[0]);
    assert!(r.functions[0].reason.contains("load 90 (annotation)"));
    // Latency high: +50% of 10 = 15.
    let lat = [("scale_policy", "latency"), ("scale_direction", "up")];
    let r = svc
        .handle(
            &webhook("firing", "FunctionLatencyHigh", &lat, "0.9", 5),
            t(30),
        )
        .await;
    assert_eq!(r.functions[0].to, Some(15), "{:?}", r.functions[0]);
    // Idle while up alerts still fire: held.
    let idle = [("scale_policy", "zero"), ("scale_direction", "down")];
    let r = svc
        .handle(&webhook("firing", "FunctionIdle", &idle, "0", 50), t(400))
        .await;
    assert_eq!(
        r.functions[0].why,
        Some(Why::StillFiring),
        "{:?}",
        r.functions[0]
    );
    for (name, labels, starts) in [
        ("APIHighInvocationRate", &p[..], 0),
        ("FunctionLatencyHigh", &lat[..], 5),
    ] {
        svc.handle(&webhook("resolved", name, labels, "0", starts), t(401))
            .await;
    }
    // Once they resolved and the window has passed the last recommendation (15 at t(30)): 0.
    let r = svc
        .handle(&webhook("firing", "FunctionIdle", &idle, "0", 60), t(1000))
        .await;
    assert_eq!(r.functions[0].to, Some(0), "{:?}", r.functions[0]);
    assert_eq!(backend.replicas(&id()), Some(0));
    // Unknown policy: refused, nothing written.
    let bad = [("scale_policy", "magic")];
    let r = svc
        .handle(&webhook("firing", "X", &bad, "1", 70), t(1100))
        .await;
    assert_eq!(r.functions[0].outcome, Outcome::Refused);
}
