//! Operations endpoints through the router: health, readiness, metrics, audit trail, the
//! failed-authentication limiter and the request timeout.

use std::net::SocketAddr;
use std::time::Duration;

use alertscaler::config::{AuthConfig, Config};
use alertscaler::http::{READYZ_DEADLINE, with_timeout};
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use crate::support::app_with_backend;
use crate::support::doubles::{Double, config, webhook};
use crate::support::send_raw as send;

/// The app on `config` with a healthy double holding its functions.
fn app(config: &Config) -> Router {
    app_with_backend(config, Double::on(config).arc()).0
}

/// The app with a backend that is down.
fn down() -> Router {
    let c = config(&[]);
    app_with_backend(&c, Double::on(&c).down().arc()).0
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_alert(body: &Value, token: Option<&str>) -> Request<Body> {
    let mut r = Request::post("/system/alert").header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn healthz_and_readyz() {
    let app = app(&config(&["echo"]));
    let (status, _, body) = send(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["status"].as_str(), body["backend"].as_str()),
        (Some("ready"), Some("memory"))
    );
}

#[tokio::test]
async fn readyz_fails_when_the_backend_is_down_but_healthz_does_not() {
    let app = down();
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "backend"
    );
    assert_eq!(send(&app, get("/healthz")).await.0, StatusCode::OK);
}

/// A readiness check that never answers is cut at `READYZ_DEADLINE`: the probe (whose timeout is
/// longer, see the manifests test) reads a 503 naming the deadline instead of timing out itself.
#[tokio::test(start_paused = true)]
async fn readyz_answers_503_at_its_deadline_when_a_check_hangs() {
    let c = config(&[]);
    let app = app_with_backend(&c, Double::on(&c).ready_stuck().arc()).0;
    let started = tokio::time::Instant::now();
    let answer = tokio::time::timeout(READYZ_DEADLINE * 2, send(&app, get("/readyz"))).await;
    let (status, _, body) = answer.expect("/readyz answers within its deadline");
    assert_eq!(started.elapsed(), READYZ_DEADLINE);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "backend", "{body}");
    let message = body["message"].as_str().unwrap();
    let deadline = format!("{} s", READYZ_DEADLINE.as_secs());
    assert!(message.contains(&deadline), "{body}");
}

#[tokio::test]
async fn metrics_count_notifications_outcomes_and_latencies() {
    let app = app(&config(&["echo"]));
    let alert = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    assert_eq!(send(&app, post_alert(&alert, None)).await.0, StatusCode::OK);
    assert_eq!(send(&app, post_alert(&alert, None)).await.0, StatusCode::OK);
    let missing = webhook("firing", "ghost.openfaas-fn", "0000000000000001");
    assert_eq!(
        send(&app, post_alert(&missing, None)).await.0,
        StatusCode::OK
    );
    let down = down();
    assert_eq!(
        send(&down, post_alert(&alert, None)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (status, headers, text) = send(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    for line in [
        "alertscaler_notifications_total{status=\"firing\"} 3",
        "alertscaler_decisions_total{outcome=\"scaled\"} 1",
        "alertscaler_decisions_total{outcome=\"duplicate\"} 1",
        "alertscaler_decisions_total{outcome=\"refused\"} 1",
        "alertscaler_scale_actions_total{function=\"echo.openfaas-fn\",direction=\"up\"} 1",
        "alertscaler_backend_request_duration_seconds_count{backend=\"memory\",operation=\"read\",result=\"ok\"} 2",
        "alertscaler_backend_request_duration_seconds_count{backend=\"memory\",operation=\"read\",result=\"not_found\"} 1",
        "alertscaler_backend_request_duration_seconds_count{backend=\"memory\",operation=\"apply\",result=\"ok\"} 1",
        "alertscaler_webhook_duration_seconds_count{code=\"200\"} 3",
        "alertscaler_ledger_episodes 1",
        "alertscaler_ledger_functions 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let (_, _, text) = send(&down, get("/metrics")).await;
    for line in [
        "alertscaler_decisions_total{outcome=\"error\"} 1",
        "alertscaler_webhook_duration_seconds_count{code=\"503\"} 1",
        "alertscaler_backend_request_duration_seconds_count{backend=\"down\",operation=\"read\",result=\"unavailable\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn decisions_are_a_bounded_ring_of_structured_records() {
    let mut c = config(&["echo", "other"]);
    c.audit_capacity = 2;
    let app = app(&c);
    let alert = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    send(&app, post_alert(&alert, None)).await;
    send(&app, post_alert(&alert, None)).await;
    let (status, _, body) = send(&app, get("/decisions")).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["capacity"], 2);
    let d = body["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["function"], "echo.openfaas-fn");
    assert_eq!(d[0]["alerts"], serde_json::json!(["APIHighInvocationRate"]));
    assert_eq!(
        (
            d[0]["outcome"].as_str(),
            d[0]["from"].as_u64(),
            d[0]["to"].as_u64()
        ),
        (Some("scaled"), Some(1), Some(5))
    );
    assert!(d[0]["time"].as_str().unwrap().starts_with("20"), "{}", d[0]);
    assert!(!d[0]["reason"].as_str().unwrap().is_empty());
    assert_eq!(
        (d[1]["outcome"].as_str(), d[1]["why"].as_str()),
        (Some("unchanged"), Some("duplicate"))
    );

    // A third decision makes room by forgetting the oldest hold, not the scale-up before it.
    send(
        &app,
        post_alert(
            &webhook("firing", "other.openfaas-fn", "00000000000000ff"),
            None,
        ),
    )
    .await;
    let kept = |body: &str| -> Vec<(String, String)> {
        let body: Value = serde_json::from_str(body).unwrap();
        body["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let outcome = d["why"].as_str().or(d["outcome"].as_str()).unwrap();
                (d["function"].as_str().unwrap().into(), outcome.into())
            })
            .collect()
    };
    let pair = |f: &str, o: &str| (format!("{f}.openfaas-fn"), o.to_owned());
    let (_, _, body) = send(&app, get("/decisions")).await;
    assert_eq!(
        kept(&body),
        [pair("echo", "scaled"), pair("other", "scaled")]
    );
    let (_, _, body) = send(&app, get("/decisions?limit=1")).await;
    assert_eq!(kept(&body), [pair("other", "scaled")]);

    // AlertManager's repeats and HA copies: the newest duplicate shows, both moves stay.
    let app = {
        c.audit_capacity = 3;
        self::app(&c)
    };
    send(&app, post_alert(&alert, None)).await;
    let other = webhook("firing", "other.openfaas-fn", "00000000000000ff");
    send(&app, post_alert(&other, None)).await;
    for _ in 0..20 {
        send(&app, post_alert(&alert, None)).await;
    }
    let (_, _, body) = send(&app, get("/decisions")).await;
    assert_eq!(
        kept(&body),
        [
            pair("echo", "scaled"),
            pair("other", "scaled"),
            pair("echo", "duplicate")
        ]
    );
}

#[tokio::test]
async fn failed_authentications_are_rate_limited_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let mut c = config(&["echo"]);
    c.auth = AuthConfig::Bearer { token_file };
    c.auth_failure_limit.max_failures = 3;
    c.auth_failure_limit.window_secs = 60;
    let app = app(&c);
    let from = |ip: [u8; 4]| {
        app.clone()
            .layer(MockConnectInfo(SocketAddr::from((ip, 4000))))
    };
    let attacker = from([10, 0, 0, 1]);
    let alertmanager = from([10, 0, 0, 2]);
    let alert = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");

    for _ in 0..3 {
        let (status, headers, _) = send(&attacker, post_alert(&alert, Some("guess"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    }
    // Blocked now, even with the right token.
    let (status, headers, body) = send(&attacker, post_alert(&alert, Some("right-token"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "too_many_auth_failures"
    );
    // Another source is not affected.
    let (status, _, _) = send(&alertmanager, post_alert(&alert, Some("right-token"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, text) = send(&alertmanager, get("/metrics")).await;
    assert!(text.contains("alertscaler_auth_failures_total 3"), "{text}");
    // The webhook's answers by status include the ones given before the handler (401, 429).
    for (code, n) in [("401", 3), ("429", 1), ("200", 1)] {
        let line = format!("alertscaler_webhook_duration_seconds_count{{code=\"{code}\"}} {n}");
        assert!(text.contains(&line), "{line} in {text}");
    }
}

#[tokio::test(start_paused = true)]
async fn slow_requests_time_out_with_a_json_503() {
    let c = config(&["echo"]);
    let slow = Double::on(&c).read_delay(Duration::from_secs(30)).arc();
    let (app, state) = app_with_backend(&c, slow);
    let app = with_timeout(app, Duration::from_secs(2));
    let alert = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    let (status, _, body) = send(&app, post_alert(&alert, None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "timeout"
    );
    // Counted as a 503 webhook, so the error-rate alert sees timeouts.
    let text = state.service.metrics().render();
    assert!(
        text.contains("alertscaler_webhook_duration_seconds_count{code=\"503\"} 1"),
        "{text}"
    );
    // Fast requests pass through.
    assert_eq!(send(&app, get("/healthz")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_export_per_function_latency_overrides_for_the_rule_pack() {
    let mut config = config(&["echo", "plain"]);
    let labels = &mut config.memory.functions[0].labels;
    labels.insert("com.openfaas.scale.latency-target-ms".into(), "250".into());
    labels.insert("com.openfaas.scale.latency-tolerance".into(), "0.3".into());
    let (app, state) = app_with_backend(&config, Double::on(&config).arc());
    // Before any refresh or decision, nothing is exported: a scrape never lists the backend.
    let (_, _, text) = send(&app, get("/metrics")).await;
    assert!(
        !text.contains("function_name=\"echo.openfaas-fn\""),
        "{text}"
    );
    assert!(!text.contains("operation=\"list\""), "{text}");
    // The background refresh (one listing) exports them; scrapes after it still list nothing.
    state.service.refresh_label_exports().await.unwrap();
    send(&app, get("/metrics")).await;
    let (_, _, text) = send(&app, get("/metrics")).await;
    let lists = text
        .lines()
        .filter(|l| {
            l.starts_with("alertscaler_backend_request_duration_seconds_count")
                && l.contains("operation=\"list\"")
        })
        .collect::<Vec<_>>();
    assert!(lists.len() == 1 && lists[0].ends_with(" 1"), "{lists:?}");
    let line = |name: &str, function: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("function_name=\"{function}\"")))
            .map(str::to_owned)
    };
    let target = line(
        "alertscaler_function_latency_target_seconds",
        "echo.openfaas-fn",
    );
    assert!(
        target.as_deref().is_some_and(|l| l.ends_with(" 0.25")),
        "{text}"
    );
    let tolerance = line(
        "alertscaler_function_latency_tolerance_ratio",
        "echo.openfaas-fn",
    );
    assert!(
        tolerance.as_deref().is_some_and(|l| l.ends_with(" 0.3")),
        "{text}"
    );
    // A function without the labels is left to the pack's default.
    assert_eq!(
        line(
            "alertscaler_function_latency_target_seconds",
            "plain.openfaas-fn"
        ),
        None
    );
}

/// `GET path` is a 400 `invalid_query` whose message names `parameter`.
async fn assert_invalid_query(path: &str, parameter: &str) {
    let app = app(&config(&["echo"]));
    let (status, _, body) = send(&app, get(path)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid_query");
    assert!(
        body["message"].as_str().unwrap().contains(parameter),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_decisions_parameter_is_a_json_400() {
    // A filter the endpoint does not have must not answer as if it had filtered.
    assert_invalid_query("/decisions?outcome=scaled&limit=1", "outcome").await;
}

#[tokio::test]
async fn decisions_of_one_function_are_its_last_ones() {
    let app = app(&config(&["echo", "other"]));
    let echo = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    let other = webhook("firing", "other.openfaas-fn", "00000000000000ff");
    for alert in [&echo, &other, &echo, &other, &other] {
        send(&app, post_alert(alert, None)).await;
    }
    let listed = |path: String| {
        let app = app.clone();
        async move {
            let (status, _, body) = send(&app, get(&path)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            body["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let outcome = d["why"].as_str().or(d["outcome"].as_str()).unwrap();
                    format!("{} {outcome}", d["function"].as_str().unwrap())
                })
                .collect::<Vec<_>>()
        }
    };
    // In the default namespace or named in full; oldest first, as the whole trail.
    for name in ["echo", "echo.openfaas-fn"] {
        assert_eq!(
            listed(format!("/decisions?function={name}")).await,
            ["echo.openfaas-fn scaled", "echo.openfaas-fn duplicate"]
        );
    }
    assert_eq!(
        listed("/decisions?function=other&limit=2".into()).await,
        ["other.openfaas-fn duplicate", "other.openfaas-fn duplicate"]
    );
    assert!(
        listed("/decisions?function=echo.elsewhere".into())
            .await
            .is_empty()
    );
    assert_eq!(listed("/decisions".into()).await.len(), 5);
}

#[tokio::test]
async fn a_decisions_function_that_cannot_name_one_is_a_json_400() {
    assert_invalid_query("/decisions?function=Not_A_Name", "function").await;
    assert_invalid_query("/decisions?function=", "function").await;
    assert_invalid_query("/decisions?function=echo&function=other", "function").await;
}

#[tokio::test]
async fn a_bad_decisions_limit_is_a_json_400() {
    assert_invalid_query("/decisions?limit=many", "limit").await;
}

/// A function held by a 2 s stabilization window after its alert resolved.
async fn held_scale_down() -> (alertscaler::http::AppState, Router) {
    let mut config = config(&["echo"]);
    config.policy.scale_down = alertscaler::policy::ScaleDown::Stabilized;
    config.policy.scale_down_stabilization_secs = 2;
    config.policy.settle_interval_secs = 1;
    let (app, state) = app_with_backend(&config, Double::on(&config).arc());
    let (status, _, body) = send(
        &app,
        post_alert(&webhook("firing", "echo", "6a65bd8dfb3af9ad"), None),
    )
    .await;
    assert!(
        status == StatusCode::OK && body.contains("\"to\":5"),
        "{body}"
    );
    let (status, _, body) = send(
        &app,
        post_alert(&webhook("resolved", "echo", "6a65bd8dfb3af9ad"), None),
    )
    .await;
    assert!(
        status == StatusCode::OK && body.contains("stabilizing"),
        "{body}"
    );
    (state, app)
}

async fn replicas_of_echo(app: &Router) -> u64 {
    let (_, _, body) = send(app, get("/system/functions")).await;
    let list: Value = serde_json::from_str(&body).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "echo")
        .unwrap()["replicas"]
        .as_u64()
        .unwrap()
}

/// What an operator sees of a settled scale-down: the decision, its trigger, the down action.
async fn assert_settled_down_is_visible(app: &Router) {
    assert_eq!(replicas_of_echo(app).await, 1);
    let (_, _, body) = send(app, get("/decisions")).await;
    let decisions: Value = serde_json::from_str(&body).unwrap();
    let settled: Vec<&Value> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["trigger"] == "settle")
        .collect();
    assert_eq!(settled.len(), 1, "{body}");
    assert_eq!(
        (settled[0]["from"].as_u64(), settled[0]["to"].as_u64()),
        (Some(5), Some(1)),
        "{body}"
    );
    assert_eq!(settled[0]["outcome"], "scaled");
    let (_, _, text) = send(app, get("/metrics")).await;
    assert!(
        text.contains(
            r#"alertscaler_scale_actions_total{function="echo.openfaas-fn",direction="down"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"alertscaler_decisions_total{outcome="scaled"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_settled_scale_down_shows_in_decisions_and_metrics() {
    let (state, app) = held_scale_down().await;
    assert_eq!(replicas_of_echo(&app).await, 5, "held by the window");
    // The settle trigger, as the background loop fires it once the window has passed.
    let now = chrono::Utc::now() + chrono::TimeDelta::seconds(3);
    let reports = state.service.settle(now).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_settled_down_is_visible(&app).await;
    // The next pass has nothing left to do and records nothing.
    assert!(state.service.settle(now).await.unwrap().is_empty());
    assert_settled_down_is_visible(&app).await;
}

#[tokio::test]
async fn the_background_loop_settles_through_the_same_path() {
    let (state, app) = held_scale_down().await;
    let background = alertscaler::background::spawn(state.service.clone());
    // The window is 2 s and the pass runs every second: poll for up to 15 s (generous for a
    // loaded CI machine), every 50 ms.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while replicas_of_echo(&app).await != 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    background.abort();
    assert_settled_down_is_visible(&app).await;
}

#[tokio::test]
async fn metrics_export_per_function_capacity_targets_for_the_rule_pack() {
    let mut config = config(&["echo", "plain"]);
    let labels = &mut config.memory.functions[0].labels;
    labels.insert("com.openfaas.scale.type".into(), "rps".into());
    labels.insert("com.openfaas.scale.target".into(), "50".into());
    let (app, state) = app_with_backend(&config, Double::on(&config).arc());
    // Exported from the background refresh's listing (a scrape never lists the backend).
    state.service.refresh_label_exports().await.unwrap();
    let (_, _, text) = send(&app, get("/metrics")).await;
    assert!(
        text.lines().any(|l| l
            == "alertscaler_function_capacity_target{function_name=\"echo.openfaas-fn\",type=\"rps\"} 45.0"),
        "{text}"
    );
    // A function without capacity labels is left to the pack's default.
    assert!(
        !text.contains("capacity_target{function_name=\"plain"),
        "{text}"
    );
}

#[tokio::test]
async fn a_decisions_limit_past_the_largest_integer_means_all_of_them() {
    // "A whole number ≥ 0" (README, docs/operations.md): one with more digits than a machine word
    // was a 400 "number too large to fit in target type".
    let app = app(&config(&["echo"]));
    send(
        &app,
        post_alert(&webhook("firing", "echo", "6a65bd8dfb3af9ad"), None),
    )
    .await;
    for limit in ["99999999999999999999999", "18446744073709551616", "1"] {
        let (status, _, body) = send(&app, get(&format!("/decisions?limit={limit}"))).await;
        assert_eq!(status, StatusCode::OK, "{limit}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["decisions"].as_array().unwrap().len(), 1, "{limit}");
    }
    for bad in ["-1", "1.5", "", "0x10", "1&limit=2"] {
        assert_invalid_query(&format!("/decisions?limit={bad}"), "limit").await;
    }
}

/// README's Operations table: the webhook, the function listing and the audit trail need
/// credentials when `auth` is configured; health, readiness and metrics never do.
#[tokio::test]
async fn the_operations_table_says_which_paths_need_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let mut c = config(&["echo"]);
    c.auth = AuthConfig::Bearer { token_file };
    let app = app(&c);
    let alert = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    let with_token = |path: &str, token: Option<&str>| {
        let mut r = Request::get(path);
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    for path in ["/system/functions", "/decisions"] {
        let (status, _, _) = send(&app, with_token(path, None)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} without credentials"
        );
        let (status, _, _) = send(&app, with_token(path, Some("right-token"))).await;
        assert_eq!(status, StatusCode::OK, "{path} with credentials");
    }
    let (status, _, _) = send(&app, post_alert(&alert, None)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the webhook without credentials"
    );
    let (status, _, _) = send(&app, post_alert(&alert, Some("right-token"))).await;
    assert_eq!(status, StatusCode::OK, "the webhook with credentials");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _, _) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path} is open");
    }
}

#[tokio::test]
async fn a_decisions_limit_given_twice_or_signed_is_a_json_400() {
    assert_invalid_query("/decisions?limit=1&limit=2", "limit").await;
    assert_invalid_query("/decisions?limit=%2B1", "limit").await;
    assert_invalid_query("/decisions?limit=-1", "limit").await;
}

/// `GET /system/functions` lists an alert as firing only while it holds a scale-down: one silent
/// for `episode_ttl_secs` (its resolution lost) is not listed, before any settle pass drops it.
/// Through the memory backend's own listing and the default one (built from `list`).
#[tokio::test]
async fn the_listing_leaves_out_an_alert_silent_for_the_episode_ttl() {
    let c = config(&["echo", "figlet"]);
    let ttl = chrono::TimeDelta::seconds(i64::try_from(c.episode_ttl_secs).unwrap());
    let memory = std::sync::Arc::new(alertscaler::backend::memory::MemoryBackend::new(
        &c.memory.functions,
    ));
    for backend in [
        memory as std::sync::Arc<dyn alertscaler::backend::Backend>,
        Double::on(&c).arc(),
    ] {
        let (app, state) = app_with_backend(&c, backend);
        let notify = |function: &str| {
            let body = webhook("firing", function, &format!("{function}-fp")).to_string();
            alertscaler::alert::parse(body.as_bytes()).unwrap()
        };
        // The handler reads the clock: echo's alert was last seen a TTL and a minute before it,
        // figlet's a minute before it.
        let now = chrono::Utc::now();
        let minute = chrono::TimeDelta::minutes(1);
        state
            .service
            .handle(&notify("echo"), now - ttl - minute)
            .await;
        state.service.handle(&notify("figlet"), now - minute).await;
        let (status, _, body) = send(&app, get("/system/functions")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let listed: Value = serde_json::from_str(&body).unwrap();
        let firing = |name: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
                .unwrap_or_else(|| panic!("{name} not listed: {body}"))["firing"]
                .clone()
        };
        assert_eq!(firing("echo"), serde_json::json!([]), "{body}");
        assert_eq!(
            firing("figlet"),
            serde_json::json!(["APIHighInvocationRate"]),
            "{body}"
        );
    }
}

/// `GET /system/functions` on the memory backend is sent in pages of about 8 KiB, never the
/// whole listing in one buffer, and the pages together are the listing as `list` serializes it.
#[tokio::test]
async fn the_memory_listing_is_streamed_in_bounded_pages() {
    use http_body_util::BodyExt;
    let names: Vec<String> = (0..3000).map(|i| format!("fn-{i:05}")).collect();
    let c = config(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let (app, memory) = crate::support::app_with(c);
    let response = tower::ServiceExt::oneshot(app, get("/system/functions"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let (mut frames, mut streamed) = (0, Vec::new());
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        // A page stops once it holds 8 KiB: at most one function (under 1 KiB here) over.
        assert!(data.len() <= 9 * 1024, "a {} byte frame", data.len());
        frames += 1;
        streamed.extend_from_slice(&data);
    }
    let listed: Vec<_> = alertscaler::backend::Backend::list(&*memory)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.listed(chrono::Utc::now()))
        .collect();
    assert_eq!(listed.len(), names.len());
    let expected = serde_json::to_vec(&listed).unwrap();
    assert!(frames > expected.len() / (9 * 1024), "{frames} frames");
    assert_eq!(streamed, expected);
    // A backend error before the first page is still a 503 with the error as JSON.
    let (status, headers, body) = send(&down(), get("/system/functions")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
}

/// A scrape of many functions' series is sent as it is rendered, in bounded chunks, not as one
/// text the size of all of them (about 0.8 MB at 10 000 functions, the process's peak memory).
#[tokio::test]
async fn metrics_are_streamed_in_bounded_chunks() {
    use http_body_util::BodyExt;
    let names: Vec<String> = (0..3000).map(|i| format!("fn-{i:05}")).collect();
    let c = config(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let (app, _memory) = crate::support::app_with(c);
    for name in &names {
        let alert = webhook("firing", &format!("{name}.openfaas-fn"), "6a65bd8dfb3af9ad");
        send(&app, post_alert(&alert, None)).await;
    }
    let response = tower::ServiceExt::oneshot(app.clone(), get("/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        alertscaler::metrics::CONTENT_TYPE
    );
    let mut body = response.into_body();
    let (mut frames, mut streamed) = (0, Vec::new());
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= 9 * 1024, "a {} byte frame", data.len());
        frames += 1;
        streamed.extend_from_slice(&data);
    }
    let text = String::from_utf8(streamed).unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    for name in &names[..10] {
        assert!(
            text.contains(&format!("function=\"{name}.openfaas-fn\"")),
            "{name}"
        );
    }
    assert!(text.len() > 200 * 1024, "{} bytes", text.len());
    assert!(frames > text.len() / (9 * 1024), "{frames} frames");
}
