use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::*;
use crate::alert::{Direction, EpisodeKey, Status};

type Seen = Arc<Mutex<Vec<String>>>;

/// A fake Prometheus on 127.0.0.1:0: answers by query text; `hang` never answers.
async fn fake_prometheus() -> (String, Seen, JoinHandle<()>) {
    async fn query(
        State(seen): State<Seen>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let q = params.get("query").cloned().unwrap_or_default();
        seen.lock().unwrap().push(q.clone());
        let vector = |result: Value| json!({"status": "success", "data": {"resultType": "vector", "result": result}});
        let body = if q.starts_with("hang") {
            std::future::pending::<()>().await;
            unreachable!()
        } else if q.starts_with("fail") {
            return (axum::http::StatusCode::BAD_REQUEST, "bad query").into_response();
        } else if q.starts_with("empty") {
            vector(json!([]))
        } else if q.starts_with("two") {
            vector(json!([
                {"metric": {"a": "1"}, "value": [1.0, "1"]},
                {"metric": {"a": "2"}, "value": [1.0, "2"]}
            ]))
        } else {
            vector(json!([{"metric": {}, "value": [1_800_000_000.5, "123.5"]}]))
        };
        axum::Json(body).into_response()
    }
    let seen = Seen::default();
    let app = Router::new()
        .route("/api/v1/query", get(query))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, seen, server)
}

fn source(url: &str, queries: &[(&str, &str)], timeout_ms: u64) -> LoadSource {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = PrometheusConfig {
        url: Some(url.into()),
        query_timeout_ms: timeout_ms,
        queries: queries
            .iter()
            .map(|(a, q)| (a.to_string(), q.to_string()))
            .collect(),
        ..Default::default()
    };
    config.validate().unwrap();
    LoadSource::from_config(&config).unwrap()
}

fn signal(alertname: &str, value: Option<&str>) -> Signal {
    Signal {
        alertname: alertname.into(),
        status: Status::Firing,
        direction: Direction::Up,
        policy: Some(crate::config::PolicyKind::Proportional),
        episode: EpisodeKey {
            fingerprint: "f".into(),
            starts_at: chrono::Utc::now(),
        },
        ends_at: None,
        annotations: value
            .map(|v| [("value".to_string(), v.to_string())].into())
            .unwrap_or_default(),
    }
}

fn function() -> FunctionId {
    FunctionId {
        name: "echo".into(),
        namespace: "openfaas-fn".into(),
    }
}

#[tokio::test]
async fn query_then_fallbacks() {
    let (url, seen, server) = fake_prometheus().await;
    let src = source(
        &url,
        &[
            (
                "Rate",
                "sum(rate(x{function_name=\"{function}\",ns=\"{namespace}\",n=\"{name}\"}[1m]))",
            ),
            ("Hang", "hang"),
            ("Fail", "fail"),
            ("Empty", "empty"),
            ("Two", "two"),
        ],
        200,
    );
    // (alertname, annotation, want value, want source)
    let cases = [
        ("Rate", Some("7"), Ok((123.5, "prometheus"))),
        // A key set through the environment arrives lowercased; the alert keeps its case.
        ("RATE", Some("7"), Ok((123.5, "prometheus"))),
        ("Hang", Some("7"), Ok((7.0, "annotation"))),
        ("Fail", Some("8"), Ok((8.0, "annotation"))),
        ("Empty", Some("9"), Ok((9.0, "annotation"))),
        ("Two", Some("10"), Ok((10.0, "annotation"))),
        ("NoQuery", Some("11"), Ok((11.0, "annotation"))),
        ("Hang", None, Err("annotation `value`")),
    ];
    for (alertname, value, want) in cases {
        let got = src.load(&signal(alertname, value), &function()).await;
        match (got, want) {
            (Ok(load), Ok((v, s))) => assert_eq!((load.value, load.source), (v, s), "{alertname}"),
            (Err(e), Err(needle)) => assert!(e.contains(needle), "{alertname}: {e}"),
            (got, want) => panic!("{alertname}: got {got:?}, want {want:?}"),
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        "sum(rate(x{function_name=\"echo.openfaas-fn\",ns=\"openfaas-fn\",n=\"echo\"}[1m]))"
    );
    assert!(!seen.iter().any(|q| q.contains("NoQuery")));
    server.abort();
}

#[tokio::test]
async fn only_proportional_triggers_are_measured() {
    let (url, seen, server) = fake_prometheus().await;
    let src = source(&url, &[("Rate", "ok")], 500);
    let config = PolicyConfig::default();
    let mut s = signal("Rate", Some("1"));
    let t = |s: &Signal| Trigger::Up {
        signal: s.clone(),
        repeat: false,
    };
    let measured = src.for_trigger(&t(&s), &config, &function()).await;
    assert_eq!(measured.map(|l| l.value), Some(123.5));
    s.policy = Some(crate::config::PolicyKind::Step);
    assert!(
        src.for_trigger(&t(&s), &config, &function())
            .await
            .is_none()
    );
    s.policy = None; // default step
    assert!(
        src.for_trigger(&t(&s), &config, &function())
            .await
            .is_none()
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    server.abort();
}

#[tokio::test]
async fn unreachable_prometheus_falls_back() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = source(&format!("http://127.0.0.1:{port}"), &[("Rate", "ok")], 500);
    let load = src
        .load(&signal("Rate", Some("4")), &function())
        .await
        .unwrap();
    assert_eq!((load.value, load.source), (4.0, "annotation"));
    assert!(
        LoadSource::none()
            .measure("Rate", &function())
            .await
            .is_none()
    );
}

#[test]
fn answers_and_config() {
    let ok = json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "2.5"]}});
    assert_eq!(parse_answer(&ok).unwrap(), 2.5);
    for bad in [
        json!({"status": "error"}),
        json!({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "NaN"]}}),
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "-1"]}}),
        json!({"status": "success", "data": {"resultType": "vector", "result": [{"value": [1.0, 3]}]}}),
    ] {
        assert!(parse_answer(&bad).is_err(), "{bad}");
    }
    let invalid = [
        (Some("ftp://x"), 500, "prometheus.url"),
        (Some("not a url"), 500, "prometheus.url"),
        (None, 0, "prometheus.query_timeout_ms"),
        // The endpoint is the URL + `/api/v1/query`: a query string or fragment would end up
        // before that path, and every query would miss.
        (Some("http://prom:9090/?org=1"), 500, "prometheus.url"),
        (Some("http://prom:9090/prometheus#x"), 500, "prometheus.url"),
    ];
    for (url, timeout, key) in invalid {
        let c = PrometheusConfig {
            url: url.map(Into::into),
            query_timeout_ms: timeout,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().0, key);
    }
}

#[test]
fn config_sections_parse_and_render() {
    use crate::config::Config;
    use crate::policy::{PolicyKind, ScaleDown};
    let text = r#"
[policy]
default = "proportional"
scale_down = "ce"
scale_down_stabilization_secs = 120

[prometheus]
url = "http://127.0.0.1:9090"
query_timeout_ms = 300
[prometheus.queries]
APIHighInvocationRate = 'sum(rate(gateway_function_invocation_total{function_name="{function}"}[1m]))'
"#;
    let c: Config = toml::from_str(text).unwrap();
    c.validate().unwrap();
    assert_eq!(c.policy.default, PolicyKind::Proportional);
    assert_eq!(c.policy.scale_down, ScaleDown::Ce);
    assert_eq!(c.policy.scale_down_stabilization_secs, 120);
    assert_eq!(
        c.policy.max_scale_up_factor, 2.0,
        "unset keys keep defaults"
    );
    assert_eq!(c.prometheus.query_timeout_ms, 300);
    assert_eq!(c.prometheus.queries.len(), 1);
    let rendered = c.to_redacted_toml();
    let back: Config = toml::from_str(&rendered).unwrap();
    assert_eq!(back, c, "{rendered}");
    assert!(toml::from_str::<Config>("[policy]\nscale_down = \"gentle\"\n").is_err());
    assert!(toml::from_str::<Config>("[policy]\ntolerence = 0.2\n").is_err());
    let bad: Config = toml::from_str("[prometheus]\nurl = \"localhost:9090\"\n").unwrap();
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("prometheus.url")
    );
}

/// A fake Prometheus that answers the desired-replicas query by the function it names, the way
/// Prometheus 2 does: JSON with `status`, an error body with `errorType` on 400, or nothing.
async fn fake_desired() -> (String, JoinHandle<()>) {
    async fn query(Query(params): Query<BTreeMap<String, String>>) -> axum::response::Response {
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        let q = params.get("query").cloned().unwrap_or_default();
        const AT: f64 = 1_800_000_000.0;
        let sampled = |v: f64, age: f64| desired_answer(v, AT - age, AT);
        let function = q.split('"').nth(1).unwrap_or_default().to_owned();
        let body = match function.split('.').next().unwrap_or_default() {
            "ok" => sampled(3.0, 0.0),
            // The recording rule stopped: Prometheus answers its last sample, 46 s old (max 45).
            "old" => sampled(3.0, 46.0),
            "edge" => sampled(3.0, 45.0),
            "nan" => sampled(f64::NAN, 0.0),
            // A Prometheus (or proxy) that ignored the timestamp() part.
            "count" => json!({"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "value": [AT, "3"]}]}}),
            "empty" => json!({"status": "success", "data": {"resultType": "vector", "result": []}}),
            "bad" => {
                let e = json!({"status": "error", "errorType": "bad_data", "error": "1:5: parse error"});
                return (StatusCode::BAD_REQUEST, axum::Json(e)).into_response();
            }
            "hang" => std::future::pending().await,
            // A proxy's login page in front of Prometheus.
            "html" => return (StatusCode::OK, "<html>sign in</html>").into_response(),
            _ => return (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        };
        axum::Json(body).into_response()
    }
    let app = Router::new().route("/api/v1/query", get(query));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

fn named(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: "openfaas-fn".into(),
    }
}

#[tokio::test]
async fn desired_replicas_from_prometheus_or_none() {
    let (url, server) = fake_desired().await;
    let src = source(&url, &[], 300);
    let got = src
        .desired(&named("ok"), Otherwise::Annotation)
        .await
        .unwrap();
    assert_eq!((got.value, got.source), (3.0, "prometheus"));
    assert_eq!(
        src.desired(&named("edge"), Otherwise::Annotation)
            .await
            .map(|l| l.value),
        Some(3.0)
    );
    for name in [
        "old", "count", "empty", "nan", "bad", "down", "hang", "html",
    ] {
        assert_eq!(
            src.desired(&named(name), Otherwise::Annotation).await,
            None,
            "{name}"
        );
    }
    // What each failure is, as logged.
    let p = src.prometheus.as_ref().unwrap();
    let fetch = |name: &str| {
        let query = desired_query(&named(name));
        async move { p.fetch(&query).await }
    };
    match fetch("bad").await {
        Err(LoadError::Refused {
            status: 400,
            kind,
            message,
        }) => {
            assert_eq!(
                (kind.as_str(), message.as_str()),
                ("bad_data", "1:5: parse error")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(fetch("down").await, Err(LoadError::Status(503))));
    assert!(matches!(fetch("hang").await, Err(LoadError::Timeout(300))));
    let html = fetch("html").await.unwrap_err().to_string();
    assert!(html.contains("not JSON"), "{html}");
    let empty = parse_desired(&fetch("empty").await.unwrap(), 45).unwrap_err();
    assert!(empty.to_string().contains("capacity.rules.yml"), "{empty}");
    let old = parse_desired(&fetch("old").await.unwrap(), 45).unwrap_err();
    for needle in ["sampled 46 s before", "desired_max_age_secs = 45"] {
        assert!(
            old.to_string().contains(needle),
            "{needle:?} missing in {old}"
        );
    }
    // The max age is the configured one.
    let strict = PrometheusConfig {
        url: Some(url.clone()),
        desired_max_age_secs: 10,
        ..Default::default()
    };
    let strict = LoadSource::from_config(&strict).unwrap();
    assert_eq!(
        strict
            .desired(&named("ok"), Otherwise::Annotation)
            .await
            .map(|l| l.value),
        Some(3.0)
    );
    assert_eq!(
        strict.desired(&named("edge"), Otherwise::Annotation).await,
        None
    );
    server.abort();
}

#[tokio::test]
async fn capacity_triggers_read_the_desired_count() {
    let (url, server) = fake_desired().await;
    let src = source(&url, &[], 300);
    let config = PolicyConfig::default();
    let mut s = signal("FunctionUnderProvisioned", Some("1"));
    s.policy = Some(crate::config::PolicyKind::Capacity);
    let t = Trigger::Up {
        signal: s,
        repeat: false,
    };
    let got = src.for_trigger(&t, &config, &named("ok")).await;
    assert_eq!(got.map(|l| l.value), Some(3.0));
    // Failure → None: the policy falls back to the alert's `desired` annotation.
    assert_eq!(src.for_trigger(&t, &config, &named("down")).await, None);
    // Not configured → None without a request.
    assert_eq!(
        LoadSource::none()
            .desired(&named("ok"), Otherwise::Annotation)
            .await,
        None
    );
    server.abort();
}

#[test]
fn desired_answers() {
    let vector = |result: Value| json!({"status": "success", "data": {"resultType": "vector", "result": result}});
    let at = |v: &str, sampled: &str| {
        vector(json!([
            {"metric": {"part": "desired"}, "value": [100.0, v]},
            {"metric": {"part": "sampled_at"}, "value": [100.0, sampled]}
        ]))
    };
    let one = |v: &str| at(v, "99.5");
    assert_eq!(parse_desired(&one("4"), 45).unwrap(), 4.0);
    assert_eq!(parse_desired(&one("0"), 45).unwrap(), 0.0);
    assert_eq!(
        parse_desired(&desired_answer(7.0, 55.0, 100.0), 45).unwrap(),
        7.0
    );
    // A sample from the future (clocks are Prometheus's own, so only a rounding) is fresh.
    assert_eq!(parse_desired(&at("2", "100.2"), 45).unwrap(), 2.0);
    let bad = [
        (
            vector(json!([])),
            "no alertscaler:function_desired_replicas",
        ),
        (one("NaN"), "not ≥ 0"),
        (one("-1"), "not ≥ 0"),
        (one("+Inf"), "not ≥ 0"),
        (one("three"), "not a number"),
        (at("2", "54.9"), "sampled 45 s before"),
        (at("2", "now"), "time is not a number"),
        (at("2", "NaN"), "sampled NaN s before"),
        (
            vector(json!([{"value": [1.0, "1"]}])),
            "want one sample with part=\"desired\" among 1",
        ),
        (
            vector(json!([{"metric": {"part": "desired"}, "value": [1.0, "1"]}])),
            "want one sample with part=\"sampled_at\"",
        ),
        (
            vector(json!([
                {"metric": {"part": "desired", "a": "1"}, "value": [1.0, "1"]},
                {"metric": {"part": "desired", "a": "2"}, "value": [1.0, "2"]},
                {"metric": {"part": "sampled_at"}, "value": [1.0, "1"]}
            ])),
            "want one sample with part=\"desired\" among 3",
        ),
        (
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "2"]}}),
            "want vector",
        ),
        (
            json!({"status": "error", "errorType": "timeout"}),
            "not success",
        ),
    ];
    for (body, needle) in bad {
        let e = parse_desired(&body, 45).unwrap_err().to_string();
        assert!(e.contains(needle), "{body}: {e}");
    }
    // The query names the function, escaped for PromQL, in both parts.
    let selector = "alertscaler:function_desired_replicas{function_name=\"echo.openfaas-fn\"}";
    assert_eq!(
        desired_query(&named("echo")),
        format!(
            "label_replace(max({selector}), \"part\", \"desired\", \"\", \"\") or \
             label_replace(min(timestamp({selector})), \"part\", \"sampled_at\", \"\", \"\")"
        )
    );
    let odd = desired_query(&named("a\"b\\c"));
    assert_eq!(
        odd.matches("{function_name=\"a\\\"b\\\\c.openfaas-fn\"}")
            .count(),
        2,
        "{odd}"
    );
}

#[test]
fn freshness_is_the_age_against_the_max() {
    // (sampled at, now, max age) → fresh?
    let cases = [
        (100.0, 100.0, 45, true),
        (55.0, 100.0, 45, true),
        (54.999, 100.0, 45, false),
        (0.0, 300.0, 45, false),
        (0.0, 300.0, 300, true),
        (101.0, 100.0, 1, true),
        (f64::NAN, 100.0, 45, false),
        // Garbage, not a time: no real `timestamp()` gives it, and it must not pass as fresh.
        (f64::INFINITY, 100.0, 45, false),
        (f64::NEG_INFINITY, 100.0, 45, false),
    ];
    for (sampled, now, max, want) in cases {
        assert_eq!(
            fresh(sampled, now, max).is_ok(),
            want,
            "{sampled} {now} {max}"
        );
    }
}

#[test]
fn the_firing_alerts_query_matches_the_function_as_alerts_name_it() {
    let names = [
        "APIHighInvocationRate".to_string(),
        "FunctionLatencyHigh".to_string(),
    ];
    // In the default namespace an alert may name the function with or without it.
    assert_eq!(
        firing_query(&function(), "function_name", "openfaas-fn", &names),
        r#"ALERTS{alertstate="firing",alertname=~"APIHighInvocationRate|FunctionLatencyHigh",function_name=~"echo|echo\\.openfaas-fn"}"#
    );
    // Elsewhere only with it; the label is the configured one, and regex characters are literal.
    let other = FunctionId {
        name: "fn".into(),
        namespace: "dev".into(),
    };
    assert_eq!(
        firing_query(&other, "fn", "openfaas-fn", &["Odd.Alert+".to_string()]),
        r#"ALERTS{alertstate="firing",alertname=~"Odd\\.Alert\\+",fn=~"fn\\.dev"}"#
    );
}

#[test]
fn firing_alert_answers() {
    let vector = |result: Value| json!({"status": "success", "data": {"resultType": "vector", "result": result}});
    let sample = |alertname: &str| json!({"metric": {"alertname": alertname, "alertstate": "firing"}, "value": [1.0, "1"]});
    assert_eq!(
        parse_alertnames(&vector(json!([]))).unwrap(),
        Vec::<String>::new()
    );
    // Two series of one alert (two label sets) name it once.
    let two = vector(json!([sample("B"), sample("A"), sample("B")]));
    assert_eq!(parse_alertnames(&two).unwrap(), ["A", "B"]);
    assert!(parse_alertnames(&json!({"status": "error"})).is_err());
    let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
    assert!(parse_alertnames(&matrix).is_err());
}

#[test]
fn names_in_queries_are_promql_strings() {
    // Prometheus's lexer ends a string at a raw newline ("unterminated quoted string") and refuses a
    // raw U+FFFD ("invalid UTF-8 rune"); both are escaped, as are quotes and backslashes. (The query
    // strings below were checked with `promtool check rules` 2.42.)
    let odd = "a\"b\\c\nd\u{FFFD}e}";
    let q = firing_query(
        &function(),
        "function_name",
        "openfaas-fn",
        &[odd.to_string()],
    );
    assert!(!q.contains('\n') && !q.contains('\u{FFFD}'), "{q}");
    assert!(q.contains(r#"alertname=~"a\"b\\\\c\nd\uFFFDe\\}","#), "{q}");
    let q = desired_query(&named(odd));
    assert!(!q.contains('\n') && !q.contains('\u{FFFD}'), "{q}");
    assert!(
        q.contains(r#"{function_name="a\"b\\c\nd\uFFFDe}.openfaas-fn"}"#),
        "{q}"
    );
}
