//! The webhook through the real axum router, with the fixtures a user posts with curl.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use alertscaler::backend::memory::MemoryBackend;
use alertscaler::config::AuthConfig;
use alertscaler::id::FunctionId;
use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::support::doubles::Double;
use crate::support::*;

const ECHO: &str = "echo-fn.openfaas-fn";

#[tokio::test]
async fn firing_scales_duplicate_does_not_resolved_returns_to_min() {
    let (app, _) = app();
    assert_eq!(replicas(&app, "echo-fn").await, 1);

    let (status, report) = post_fixture(&app, "firing").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let l = line(&report, ECHO);
    assert_eq!(
        (l["outcome"].as_str(), l["from"].as_u64(), l["to"].as_u64()),
        (Some("scaled"), Some(1), Some(5))
    );
    assert_eq!(replicas(&app, "echo-fn").await, 5);

    // The same notification again (an AlertManager retry), and as the HA peer sends it.
    for name in ["firing", "ha-duplicate"] {
        let (status, report) = post_fixture(&app, name).await;
        assert_eq!(status, StatusCode::OK);
        let l = line(&report, ECHO);
        assert_eq!(
            (l["outcome"].as_str(), l["why"].as_str()),
            (Some("unchanged"), Some("duplicate")),
            "{name}"
        );
    }
    assert_eq!(replicas(&app, "echo-fn").await, 5);

    let (_, report) = post_fixture(&app, "resolved").await;
    assert_eq!(line(&report, ECHO)["to"], 1);
    assert_eq!(replicas(&app, "echo-fn").await, 1);

    // Replayed resolved: a no-op.
    let (_, report) = post_fixture(&app, "resolved").await;
    assert_eq!(line(&report, ECHO)["why"], "replay");
}

#[tokio::test]
async fn concurrent_ha_duplicates_step_once() {
    let config = sample_config();
    // Two receivers (as two alertscaler replicas behind one Service) on one backend; both read
    // before either writes: the loser's write conflicts. (Inside one process decisions for a
    // function are serialized, so only another writer can conflict.)
    let backend = Double::on(&config).read_together(2).arc();
    let (first, _) = app_with_backend(&config, backend.clone());
    let (second, _) = app_with_backend(&config, backend.clone());
    let (a, b) = tokio::join!(
        post_fixture(&first, "firing"),
        post_fixture(&second, "ha-duplicate")
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    let outcomes = [
        line(&a.1, ECHO)["outcome"].clone(),
        line(&b.1, ECHO)["outcome"].clone(),
    ];
    assert!(
        outcomes.contains(&"scaled".into()) && outcomes.contains(&"unchanged".into()),
        "{outcomes:?}"
    );
    assert_eq!(
        backend.conflicts.load(Ordering::SeqCst),
        1,
        "the loser re-read after a conflict"
    );
    let echo = FunctionId::parse(ECHO, "openfaas-fn").unwrap();
    assert_eq!(backend.inner.replicas(&echo), Some(5));
}

#[tokio::test]
async fn stale_resolved_is_ignored() {
    let (app, _) = app();
    post_fixture(&app, "firing").await;
    let (status, report) = post_fixture(&app, "stale-resolved").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(line(&report, ECHO)["why"], "stale");
    assert_eq!(replicas(&app, "echo-fn").await, 5);
}

#[tokio::test]
async fn resolved_waits_while_another_alert_fires() {
    let (app, _) = app();
    // A second rule of the user's own for the same function, firing alongside the rate alert.
    let mut other = fixture_json("firing");
    let alert = &mut other["alerts"][0];
    alert["labels"]["alertname"] = "QueueDepthHigh".into();
    alert["fingerprint"] = "00000000000000aa".into();
    post_fixture(&app, "firing").await;
    let (_, report) = post(&app, other.to_string()).await;
    assert_eq!(
        line(&report, ECHO)["why"],
        "cooldown",
        "second alert within the cooldown does not step"
    );

    let (_, report) = post_fixture(&app, "resolved").await;
    let l = line(&report, ECHO);
    assert_eq!(l["why"], "still_firing", "{l}");
    assert!(l["reason"].as_str().unwrap().contains("QueueDepthHigh"));
    assert_eq!(replicas(&app, "echo-fn").await, 5);

    other["status"] = "resolved".into();
    other["alerts"][0]["status"] = "resolved".into();
    let (_, report) = post(&app, other.to_string()).await;
    assert_eq!(line(&report, ECHO)["to"], 1);
}

#[tokio::test]
async fn a_group_of_functions_is_decided_per_function() {
    let (app, _) = app();
    let (status, report) = post_fixture(&app, "group-three").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["functions"].as_array().unwrap().len(), 3);
    assert_eq!(line(&report, ECHO)["to"], 5);
    // figlet: min 2, max 10, factor 50 → step 5 from 1 → 6.
    assert_eq!(line(&report, "figlet.openfaas-fn")["to"], 6);
    assert_eq!(line(&report, "pinned.openfaas-fn")["why"], "disabled");
    assert_eq!(replicas(&app, "pinned").await, 3);
}

#[tokio::test]
async fn alert_without_function_label_is_skipped_rest_processed() {
    let (app, _) = app();
    let (status, report) = post_fixture(&app, "missing-function-label").await;
    assert_eq!(status, StatusCode::OK);
    let skipped = &report["skipped"][0];
    assert_eq!(skipped["outcome"], "skipped");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("function_name")
    );
    assert_eq!(line(&report, ECHO)["outcome"], "scaled");
}

#[tokio::test]
async fn ineligible_functions_are_refused_and_untouched() {
    let (app, _) = app();
    let (status, report) = post_fixture(&app, "bad-labels").await;
    assert_eq!(status, StatusCode::OK);
    let l = line(&report, "badlabels.openfaas-fn");
    assert_eq!(l["outcome"], "refused");
    let reason = l["reason"].as_str().unwrap();
    assert!(
        reason.contains("com.openfaas.scale.max") && reason.contains("twenty"),
        "{reason}"
    );
    assert_eq!(replicas(&app, "badlabels").await, 1);

    let (_, report) = post_fixture(&app, "not-allowed-namespace").await;
    assert_eq!(report["skipped"][0]["outcome"], "refused");
    assert!(
        report["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("kube-system")
    );
    assert!(report["functions"].as_array().unwrap().is_empty());

    let (_, report) = post_fixture(&app, "unknown-function").await;
    let l = line(&report, "nosuch.openfaas-fn");
    assert_eq!(l["outcome"], "refused");
    assert!(l["reason"].as_str().unwrap().contains("no such function"));
}

#[tokio::test]
async fn malformed_payloads_get_400_naming_the_problem_and_change_nothing() {
    let (app, _) = app();
    let (status, body) = post_fixture(&app, "bad-json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_payload");
    assert!(body["message"].as_str().unwrap().contains("line"), "{body}");

    let (status, body) = post_fixture(&app, "wrong-version").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("version \"3\""),
        "{body}"
    );

    let mut no_version = fixture_json("firing");
    no_version.as_object_mut().unwrap().remove("version");
    let (status, body) = post(&app, no_version.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("version"),
        "{body}"
    );

    let mut bad_status = fixture_json("firing");
    bad_status["alerts"][0]["status"] = "exploded".into();
    let (status, body) = post(&app, bad_status.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("alerts[0].status"),
        "{body}"
    );

    assert_eq!(replicas(&app, "echo-fn").await, 1);
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let mut config = sample_config();
    config.body_limit_bytes = 2048;
    let (app, _) = app_with(config);
    let mut big = fixture_json("firing");
    big["alerts"][0]["annotations"]["description"] = "x".repeat(4096).into();
    let (status, body) = post(&app, big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "payload_too_large");
    // The message names the setting and its value.
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("body_limit_bytes (2048 bytes)"),
        "{message}"
    );
    assert_eq!(replicas(&app, "echo-fn").await, 1);
}

#[tokio::test]
async fn basic_auth_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let mut config = sample_config();
    config.auth = AuthConfig::Basic {
        username: "admin".into(),
        password_file,
    };
    let (app, _) = app_with(config);
    let request = |auth: Option<&str>| {
        let mut r = Request::post("/system/alert").header("content-type", "application/json");
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.body(Body::from(fixture("firing"))).unwrap()
    };
    // admin:wrong, then no header at all.
    for auth in [Some("Basic YWRtaW46d3Jvbmc="), None, Some("Bearer s3cret")] {
        let (status, body) = send(&app, request(auth)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body["error"], "unauthorized");
    }
    // admin:s3cret
    let (status, _) = send(&app, request(Some("Basic YWRtaW46czNjcmV0"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn backend_failure_is_503_and_the_retry_acts_only_where_it_failed() {
    let config = sample_config();
    let backend = Double::on(&config).fail_first_write_of("figlet").arc();
    let (app, _) = app_with_backend(&config, backend.clone());
    let (status, report) = post_fixture(&app, "group-three").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "AlertManager must retry"
    );
    assert_eq!(line(&report, ECHO)["outcome"], "scaled");
    assert_eq!(line(&report, "figlet.openfaas-fn")["outcome"], "error");

    // AlertManager retries the whole group.
    let (status, report) = post_fixture(&app, "group-three").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        line(&report, ECHO)["why"],
        "duplicate",
        "already applied: must not step again"
    );
    assert_eq!(line(&report, "figlet.openfaas-fn")["to"], 6);
    let echo = FunctionId::parse(ECHO, "openfaas-fn").unwrap();
    assert_eq!(backend.inner.replicas(&echo), Some(5));
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let (app, _) = app();
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(
        (status, body["backend"].as_str()),
        (StatusCode::OK, Some("memory"))
    );
    let (status, body) = get(&app, "/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn repeated_firing_steps_again_only_after_the_cooldown() {
    use alertscaler::service::{Service, Settings};
    use chrono::{TimeDelta, Utc};
    let config = sample_config();
    let memory = Arc::new(MemoryBackend::new(&config.memory.functions));
    let service = Service::new(memory.clone(), Settings::from_config(&config));
    let webhook = alertscaler::alert::parse(&fixture("firing")).unwrap();
    let echo = FunctionId::parse(ECHO, "openfaas-fn").unwrap();
    let t0 = Utc::now();
    let cooldown = TimeDelta::seconds(config.scale_up_cooldown_secs as i64);
    let mut seen = Vec::new();
    for at in [
        t0,
        t0 + cooldown / 2,
        t0 + cooldown,
        t0 + cooldown * 2,
        t0 + cooldown * 3,
    ] {
        service.handle(&webhook, at).await;
        seen.push(memory.replicas(&echo).unwrap());
    }
    // CE's ramp (repeat_interval 30 s > cooldown 20 s): 1 → 5 → (duplicate) → 9 → 13 → 17.
    assert_eq!(seen, [5, 5, 9, 13, 17]);
}

/// A capacity-pack alert as AlertManager delivers it (labels and annotations as
/// `alert-rules/capacity.rules.yml` sets them).
fn capacity_alert(
    alertname: &str,
    function: &str,
    fingerprint: &str,
    desired: &str,
) -> serde_json::Value {
    let direction = if alertname == "FunctionUnderProvisioned" {
        "up"
    } else {
        "down"
    };
    serde_json::json!({
        "receiver": "alertscaler", "status": "firing", "version": "4",
        "groupKey": "{}:{alertname=\"x\"}", "groupLabels": {"alertname": alertname},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": alertname, "function_name": function, "scale_direction": direction,
                       "scale_policy": "capacity", "service": "gateway", "severity": "major"},
            "annotations": {"desired": desired, "value": "55.5", "target": "9", "type": "capacity",
                            "replicas": "1"},
            "startsAt": "2026-11-24T06:55:10.479Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint,
        }],
    })
}

#[tokio::test]
async fn capacity_alerts_right_size_in_one_move() {
    // No cooldown: in a real run FunctionOverProvisioned comes ≥ 1m after the under alert resolved.
    let mut config = sample_config();
    config.scale_up_cooldown_secs = 0;
    let (app, _) = app_with(config);
    let under = capacity_alert("FunctionUnderProvisioned", ECHO, "c0ffee0000000001", "7");
    let (status, report) = post(&app, under.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let l = line(&report, ECHO);
    assert_eq!(
        (l["from"].as_u64(), l["to"].as_u64()),
        (Some(1), Some(7)),
        "{report}"
    );
    let reason = l["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("load 55.5 in flight / target 9"),
        "{reason}"
    );
    assert_eq!(replicas(&app, "echo-fn").await, 7);

    // Clamped to the function's max (figlet: 2..10).
    let figlet = "figlet.openfaas-fn";
    let under = capacity_alert("FunctionUnderProvisioned", figlet, "c0ffee0000000002", "40");
    post(&app, under.to_string()).await;
    assert_eq!(replicas(&app, "figlet").await, 10);

    // The under alert resolves once Prometheus sees the new replicas: nothing moves (its annotation
    // is stale), and no longer blocks scale-downs.
    let mut resolved = capacity_alert("FunctionUnderProvisioned", ECHO, "c0ffee0000000001", "7");
    resolved["status"] = "resolved".into();
    resolved["alerts"][0]["status"] = "resolved".into();
    resolved["alerts"][0]["endsAt"] = "2026-11-24T06:57:00Z".into();
    let (_, report) = post(&app, resolved.to_string()).await;
    assert_eq!(line(&report, ECHO)["why"], "in_band", "{report}");
    assert_eq!(replicas(&app, "echo-fn").await, 7);

    // Over-provisioned: straight down (the sample config's scale_down = "ce").
    let over = capacity_alert("FunctionOverProvisioned", ECHO, "c0ffee0000000003", "2");
    let (_, report) = post(&app, over.to_string()).await;
    assert_eq!(line(&report, ECHO)["to"], 2, "{report}");
    assert_eq!(replicas(&app, "echo-fn").await, 2);

    // A bad count is refused, naming the annotation, and changes nothing.
    let bad = capacity_alert(
        "FunctionUnderProvisioned",
        figlet,
        "c0ffee0000000004",
        "lots",
    );
    let (status, report) = post(&app, bad.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let l = line(&report, figlet);
    assert_eq!(l["outcome"], "refused", "{report}");
    assert!(
        l["reason"].as_str().unwrap().contains("`desired`"),
        "{report}"
    );
    assert_eq!(replicas(&app, "figlet").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_notifications_for_one_function_get_no_503() {
    let config = sample_config();
    // Reads take a moment, so that without serialization every post would read the same version.
    let backend = Double::on(&config)
        .read_delay(std::time::Duration::from_millis(2))
        .arc();
    let (app, _) = app_with_backend(&config, backend.clone());
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let posts: Vec<_> = (0..50)
        .map(|i| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                // 50 distinct alert episodes for echo-fn, as 50 rules could fire at once.
                let fingerprint = format!("{i:016x}");
                let alert = (
                    ECHO,
                    fingerprint.as_str(),
                    "APIHighInvocationRate",
                    "firing",
                );
                let body = notification::notification(&[alert], "2026-11-24T06:55:10.479Z");
                barrier.wait().await;
                post(&app, body.to_string()).await
            })
        })
        .collect();
    for p in posts {
        let (status, report) = p.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{report}");
    }
    assert_eq!(
        backend.conflicts.load(Ordering::SeqCst),
        0,
        "one process never conflicts with itself"
    );
    let echo = FunctionId::parse(ECHO, "openfaas-fn").unwrap();
    assert_eq!(
        backend.inner.replicas(&echo),
        Some(5),
        "one step: the rest are within the cooldown"
    );
}

/// Valid forms other than AlertManager's own are the same episode: a start with an offset, labels
/// in another order without a fingerprint (AlertManager's hash of the labels is computed), and one
/// function named with and without its namespace in one notification (one decision).
#[tokio::test]
async fn one_episode_in_other_valid_forms_acts_once_and_one_function_decides_once() {
    let (app, _) = app();
    let alert = |function: &str, status: &str, ends: &str| {
        format!(
            r#"{{"status":"{status}","labels":{{"severity":"major","service":"gateway","function_name":"{function}","alertname":"APIHighInvocationRate"}},"startsAt":"2026-11-24T08:55:10.479+02:00","endsAt":"{ends}"}}"#
        )
    };
    let body = |alerts: &[String]| {
        format!(
            r#"{{"version":"4","status":"firing","truncatedAlerts":3,"alerts":[{}]}}"#,
            alerts.join(",")
        )
    };
    let firing = |function: &str| alert(function, "firing", "0001-01-01T00:00:00Z");
    let (status, report) = post(&app, body(&[firing(ECHO)])).await;
    assert_eq!(
        (status, line(&report, ECHO)["to"].as_u64()),
        (StatusCode::OK, Some(5))
    );
    // AlertManager's own form of the same alert: fingerprint given, start in UTC.
    let (_, report) = post_fixture(&app, "firing").await;
    assert_eq!(line(&report, ECHO)["why"], "duplicate", "{report}");
    // The same function without its namespace is another series of it: one line, one decision.
    let (_, report) = post(&app, body(&[firing(ECHO), firing("echo-fn")])).await;
    assert_eq!(report["functions"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(line(&report, ECHO)["why"], "cooldown", "{report}");
    let resolved = |function: &str| alert(function, "resolved", "2026-11-24T09:00:00+02:00");
    let (_, report) = post(&app, body(&[resolved(ECHO)])).await;
    assert_eq!(line(&report, ECHO)["why"], "still_firing", "{report}");
    let (_, report) = post(&app, body(&[resolved("echo-fn")])).await;
    assert_eq!(line(&report, ECHO)["to"], 1, "{report}");
    assert_eq!(replicas(&app, "echo-fn").await, 1);
}

/// One notification resolving more episodes of one function than the ledger keeps records of, then
/// a late firing copy of all of them (an HA peer's, or a retry of the firing notification): every
/// one ended before, so none steps, also those whose records the bound evicted.
#[tokio::test]
async fn late_firing_copies_stay_stale_after_one_notification_resolves_more_than_the_bound() {
    let (app, _) = app();
    let now = chrono::Utc::now();
    let count = alertscaler::ledger::Timing::default().max_episodes + 8;
    let body = |status: &str| {
        let alerts: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                let ends_at = match status {
                    "resolved" => (now - chrono::TimeDelta::minutes(1)).to_rfc3339(),
                    _ => "0001-01-01T00:00:00Z".to_owned(),
                };
                serde_json::json!({
                    "status": status,
                    "labels": {"alertname": "APIHighInvocationRate", "function_name": ECHO, "i": i.to_string()},
                    "startsAt": (now - chrono::TimeDelta::minutes(10)).to_rfc3339(),
                    "endsAt": ends_at,
                    "fingerprint": format!("{i:016x}"),
                })
            })
            .collect();
        serde_json::json!({"version": "4", "status": status, "alerts": alerts}).to_string()
    };
    let (status, report) = post(&app, body("resolved")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(replicas(&app, "echo-fn").await, 1);

    let (status, report) = post(&app, body("firing")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(line(&report, ECHO)["why"], "stale", "{report}");
    assert_eq!(replicas(&app, "echo-fn").await, 1);
}

/// README's "Try it with curl", in its order, on the sample configuration: what each post answers.
#[tokio::test]
async fn the_readme_walk_through_answers_as_it_says() {
    let (app, _) = app();
    let (_, report) = post_fixture(&app, "firing").await;
    let l = line(&report, ECHO);
    assert_eq!((l["from"].as_u64(), l["to"].as_u64()), (Some(1), Some(5)));
    for name in ["firing", "ha-duplicate"] {
        let (_, report) = post_fixture(&app, name).await;
        assert_eq!(line(&report, ECHO)["why"], "duplicate", "{name}");
    }
    let (_, report) = post_fixture(&app, "resolved").await;
    let l = line(&report, ECHO);
    assert_eq!((l["from"].as_u64(), l["to"].as_u64()), (Some(5), Some(1)));
    let (_, report) = post_fixture(&app, "resolved").await;
    assert_eq!(line(&report, ECHO)["why"], "replay");
    let (_, report) = post_fixture(&app, "group-three").await;
    assert_eq!(line(&report, ECHO)["why"], "stale", "{report}");
    let figlet = line(&report, "figlet.openfaas-fn");
    assert_eq!(
        (figlet["from"].as_u64(), figlet["to"].as_u64()),
        (Some(1), Some(6))
    );
    assert_eq!(line(&report, "pinned.openfaas-fn")["why"], "disabled");
    assert_eq!(replicas(&app, "echo-fn").await, 1);
    let (status, report) = post_fixture(&app, "bad-labels").await;
    assert_eq!(status, StatusCode::OK);
    let l = line(&report, "badlabels.openfaas-fn");
    assert_eq!(l["outcome"], "refused");
    assert!(l["reason"].as_str().unwrap().contains("\"twenty\""), "{l}");
    let (status, report) = post_fixture(&app, "bad-json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = report["message"].as_str().unwrap();
    assert!(
        message.contains("line") && message.contains("column"),
        "{report}"
    );
}
