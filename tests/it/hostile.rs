//! Hostile and malformed input at the edge (issue 14): forged log lines, alert floods, limiter
//! pressure, wrong methods, compressed bodies, long names, signed numbers, and a cooldown that
//! would turn deduplication off.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use alertscaler::config::AuthConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::doubles::{Double, config, webhook};
use crate::support::procs::{Served, raw_post};
use crate::support::{app_with, app_with_backend, get, send, send_raw};

/// Alerts in the flood: as many as issue 14 fit in 1 MB.
const FLOOD: usize = 12_900;

/// A notification of `n` firing alerts that name no function (the smallest alert the parser
/// accepts: about 67 bytes each).
fn flood(n: usize) -> String {
    let alert = r#"{"status":"firing","labels":{},"startsAt":"2026-11-24T06:55:10Z"}"#;
    let alerts = vec![alert; n].join(",");
    format!(r#"{{"version":"4","status":"firing","alerts":[{alerts}]}}"#)
}

/// One alert with these labels.
fn alert_with(labels: Value) -> String {
    json!({
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-11-24T06:55:10Z"}],
    })
    .to_string()
}

fn body_of(response: &str) -> Value {
    let (_, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn payload_values_cannot_forge_log_lines_and_a_flood_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::support::procs::echo_config(dir.path());
    let mut served = Served::start_text(&file);
    let forged = "x\nINFO alertscaler: forged";
    let response = raw_post(
        served.addr,
        "/system/alert",
        &alert_with(json!({"alertname": forged})),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = raw_post(
        served.addr,
        "/system/alert",
        &alert_with(json!({"alertname": "A", "function_name": format!("{forged}.openfaas-fn")})),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let body = flood(FLOOD);
    assert!(body.len() < 1024 * 1024, "{} bytes", body.len());
    let response = raw_post(served.addr, "/system/alert", &body);
    assert!(response.starts_with("HTTP/1.1 200"), "{}", &response[..200]);
    assert!(
        response.len() < 16 * 1024,
        "answer of {} bytes",
        response.len()
    );
    let answer = body_of(&response);
    assert_eq!(answer["skipped_total"], FLOOD);
    assert_eq!(answer["skipped"].as_array().unwrap().len(), 20);

    // A sentinel: once its decision is logged, every earlier line has arrived.
    let sentinel = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    assert!(raw_post(served.addr, "/system/alert", &sentinel).starts_with("HTTP/1.1 200"));
    let mut lines = Vec::new();
    loop {
        let line = served.wait_line(|_| true, Duration::from_secs(30));
        let done = line.contains(" decided ") || line.contains("decided function=");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("INFO alertscaler: forged")),
        "{text}"
    );
    assert!(text.contains("x\\nINFO alertscaler: forged"), "{text}");
    let flood_lines: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("alerts skipped") && l.contains(&format!("alerts={FLOOD}")))
        .collect();
    assert_eq!(flood_lines.len(), 1, "{text}");
    assert!(
        lines.len() < 20,
        "{} lines for 3 notifications:\n{text}",
        lines.len()
    );
}

/// The app with bearer auth (token `right-token`), 3 failures per 600 s window.
fn guarded() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let mut c = config(&["echo"]);
    c.auth = AuthConfig::Bearer { token_file };
    c.auth_failure_limit.max_failures = 3;
    c.auth_failure_limit.window_secs = 600;
    (app_with_backend(&c, Double::on(&c).arc()).0, dir)
}

async fn post_from(app: &Router, ip: IpAddr, token: &str) -> StatusCode {
    let request = Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(
            webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string(),
        ))
        .unwrap();
    let from = app
        .clone()
        .layer(MockConnectInfo(SocketAddr::new(ip, 40_000)));
    send_raw(&from, request).await.0
}

#[tokio::test]
async fn a_blocked_source_stays_blocked_while_ten_thousand_others_fail() {
    let (app, _dir) = guarded();
    let attacker: IpAddr = "10.0.0.1".parse().unwrap();
    for _ in 0..3 {
        assert_eq!(
            post_from(&app, attacker, "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        post_from(&app, attacker, "right-token").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for i in 0..10_000u32 {
        let other = IpAddr::from((0x0b00_0000 + i).to_be_bytes());
        assert_eq!(
            post_from(&app, other, "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        post_from(&app, attacker, "right-token").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the block survived the pressure"
    );
    let alertmanager: IpAddr = "10.0.0.2".parse().unwrap();
    assert_eq!(
        post_from(&app, alertmanager, "right-token").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ipv6_sources_are_limited_per_64() {
    let (app, _dir) = guarded();
    for last in 1..=3u16 {
        let ip = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, last]);
        assert_eq!(post_from(&app, ip, "guess").await, StatusCode::UNAUTHORIZED);
    }
    let same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
    assert_eq!(
        post_from(&app, same_64, "right-token").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let next_64: IpAddr = "2001:db8:0:1::1".parse().unwrap();
    assert_eq!(
        post_from(&app, next_64, "right-token").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_a_json_error() {
    let (app, _) = app_with(config(&["echo"]));
    let (status, headers, body) = send_raw(
        &app,
        Request::get("/system/alert").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "method_not_allowed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("GET /system/alert: method not allowed; this path accepts POST")
    );
    let (status, body) = send(
        &app,
        Request::delete("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (status, body) = get(&app, "/system/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// A 405 names the method used and the methods the route allows, in the body and in `Allow`
/// (RFC 9110 §15.5.6), whatever the route: it named the webhook (`POST /system/alert`) for any.
#[tokio::test]
async fn a_wrong_method_is_405_naming_the_method_used_and_those_the_route_allows() {
    let (app, _) = app_with(config(&["echo"]));
    let get_only = ["GET", "HEAD"];
    let cases: [(&str, &str, &[&str]); 6] = [
        ("GET", "/system/alert", &["POST"]),
        ("POST", "/healthz", &get_only),
        ("DELETE", "/decisions", &get_only),
        ("PUT", "/system/functions", &get_only),
        ("PATCH", "/metrics", &get_only),
        ("POST", "/readyz", &get_only),
    ];
    for (method, path, allowed) in cases {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send_raw(&app, request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let allow = headers[header::ALLOW].to_str().unwrap();
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, allowed, "{method} {path}: Allow {allow:?}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("{method} {path}")), "{message}");
        for m in allowed {
            assert!(
                message.contains(m),
                "{method} {path}: {message} does not name {m}"
            );
        }
        if path != "/system/alert" {
            assert!(!message.contains("/system/alert"), "{message}");
        }
    }
}

#[tokio::test]
async fn a_compressed_body_is_415_and_changes_nothing() {
    let (app, memory) = app_with(config(&["echo"]));
    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    let post = |encoding: &str| {
        Request::post("/system/alert")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, encoding)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    // A compressing transfer coding too (the server undoes only `chunked`).
    let chunked_gzip = Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "gzip, chunked")
        .body(Body::from(body.clone()))
        .unwrap();
    let (status, answer) = send(&app, chunked_gzip).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["error"], "unsupported_encoding");
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("Transfer-Encoding"), "{answer}");
    for encoding in ["gzip", "identity, br", "deflate"] {
        let (status, answer) = send(&app, post(encoding)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{encoding}");
        assert_eq!(answer["error"], "unsupported_encoding");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("Content-Encoding") && message.contains("uncompressed"),
            "{answer}"
        );
    }
    let echo = crate::support::doubles::function("echo");
    assert_eq!(memory.replicas(&echo), Some(1));
    let (status, _) = send(&app, post("identity")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(memory.replicas(&echo), Some(5));
}

#[tokio::test]
async fn a_long_function_name_is_shortened_in_the_answer() {
    let (app, _) = app_with(config(&["echo"]));
    let name = "a".repeat(10_000);
    let request = Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(alert_with(
            json!({"alertname": "A", "function_name": format!("{name}.openfaas-fn")}),
        )))
        .unwrap();
    let (status, _, body) = send_raw(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.len() < 2048, "{} bytes: {body}", body.len());
    let answer: Value = serde_json::from_str(&body).unwrap();
    let skipped = &answer["skipped"][0];
    assert_eq!(skipped["outcome"], "refused");
    assert!(
        skipped["function"].as_str().unwrap().contains("…(+"),
        "{skipped}"
    );
}

#[tokio::test]
async fn a_huge_bad_value_is_not_echoed_whole_in_the_400() {
    let (app, _) = app_with(config(&["echo"]));
    let huge = "f".repeat(10_000);
    let body = json!({
        "version": "4",
        "status": "firing",
        "alerts": [{"status": huge, "labels": {}, "startsAt": "2026-11-24T06:55:10Z"}],
    });
    let request = Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, text) = send_raw(&app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.len() < 2048, "{} bytes", text.len());
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"], "invalid_payload");
    assert!(
        answer["message"].as_str().unwrap().contains("…(+"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_replica_label_with_a_sign_is_refused() {
    let mut c = config(&["echo"]);
    c.memory.functions[0]
        .labels
        .insert("com.openfaas.scale.max".into(), "+7".into());
    let (app, memory) = app_with(c);
    let request = Request::post("/system/alert")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string(),
        ))
        .unwrap();
    let (status, answer) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    let line = &answer["functions"][0];
    assert_eq!(line["outcome"], "refused", "{answer}");
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("com.openfaas.scale.max"),
        "{answer}"
    );
    assert_eq!(
        memory.replicas(&crate::support::doubles::function("echo")),
        Some(1)
    );
}

#[test]
fn check_config_refuses_a_cooldown_that_turns_deduplication_off() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "scale_up_cooldown_secs = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("scale_up_cooldown_secs") && stderr.contains("retry window"),
        "{stderr}"
    );
    // The default passes.
    std::fs::write(&file, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
}
