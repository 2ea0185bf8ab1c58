//! End to end with real parts: a simulated gateway's metrics → real Prometheus (1 s scrape and
//! evaluation) with the shipped rule packs → real AlertManager with the shipped configuration (timings
//! shortened) → alertscaler (the built binary, memory backend, basic auth) over loopback HTTP.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH (`.ci/run` installs them).
//! Run alone with timings printed: `cargo test --test it e2e -- --nocapture`.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_norway::Value as Yaml;
use support::gateway::Gateway;
use support::procs::{Proc, Served, free_ports, wait_ready};

pub(crate) const PASSWORD: &str = "e2e-webhook-secret";
const ECHO: &str = "echo.openfaas-fn";
const SLOW: &str = "slow.openfaas-fn";
const IDLE: &str = "idle.openfaas-fn";
const TOLERANT: &str = "tolerant.openfaas-fn";

pub(crate) fn write_yaml(path: &Path, value: &Yaml) {
    std::fs::write(path, serde_norway::to_string(value).unwrap()).unwrap();
}

/// The YAML file at `repo_path` in the repository, parsed.
pub(crate) fn load_yaml(repo_path: &str) -> Yaml {
    serde_norway::from_str(&std::fs::read_to_string(support::repo(repo_path)).unwrap()).unwrap()
}

/// The expression of the recording rule `record` in `alert-rules/<pack>`.
fn recording_rule(pack: &str, record: &str) -> String {
    let rules = load_yaml(&format!("alert-rules/{pack}"));
    rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .find(|r| r["record"].as_str() == Some(record))
        .and_then(|r| r["expr"].as_str())
        .unwrap_or_else(|| panic!("no recording rule {record} in {pack}"))
        .to_owned()
}

/// The shipped prometheus.yml with loopback targets, 1 s intervals and `rules` (absolute paths or
/// globs) as its rule files.
pub(crate) fn prometheus_config(
    dir: &Path,
    gateway: u16,
    receiver: u16,
    alertmanager: u16,
    rules: &[PathBuf],
) -> PathBuf {
    let mut c = load_yaml("prometheus/prometheus.yml");
    c["global"]["scrape_interval"] = "1s".into();
    c["global"]["evaluation_interval"] = "1s".into();
    let rules = rules.iter().map(|r| r.display().to_string().into());
    c["rule_files"] = Yaml::Sequence(rules.collect());
    c["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] =
        Yaml::Sequence(vec![format!("127.0.0.1:{alertmanager}").into()]);
    for job in c["scrape_configs"].as_sequence_mut().unwrap() {
        let port = match job["job_name"].as_str() {
            Some("gateway") => gateway,
            Some("alertscaler") => receiver,
            other => panic!("unexpected scrape job {other:?} in the shipped prometheus.yml"),
        };
        job["static_configs"][0]["targets"] =
            Yaml::Sequence(vec![format!("127.0.0.1:{port}").into()]);
        if job.get("scrape_interval").is_some() {
            job["scrape_interval"] = "1s".into();
        }
    }
    let path = dir.join("prometheus.yml");
    write_yaml(&path, &c);
    path
}

/// The shipped alertmanager.yml pointed at our receiver, with short timings.
pub(crate) fn alertmanager_config(
    dir: &Path,
    receiver: u16,
    password_file: &Path,
) -> std::path::PathBuf {
    let mut c = load_yaml("prometheus/alertmanager.yml");
    let scaling = &mut c["route"]["routes"][0];
    assert_eq!(scaling["receiver"], Yaml::from("alertscaler"));
    scaling["group_wait"] = "1s".into();
    scaling["group_interval"] = "2s".into();
    scaling["repeat_interval"] = "5s".into();
    assert_eq!(c["receivers"][0]["name"], Yaml::from("alertscaler"));
    let hook = &mut c["receivers"][0]["webhook_configs"][0];
    assert_eq!(
        hook["send_resolved"],
        Yaml::Bool(true),
        "shipped config must send resolved"
    );
    hook["url"] = format!("http://127.0.0.1:{receiver}/system/alert").into();
    hook["http_config"]["basic_auth"]["password_file"] = password_file.display().to_string().into();
    let path = dir.join("alertmanager.yml");
    write_yaml(&path, &c);
    path
}

fn receiver_config(dir: &Path, port: u16, password_file: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"listen = "127.0.0.1:{port}"
scale_up_cooldown_secs = 10
[policy]
scale_down = "stabilized"
scale_down_stabilization_secs = 10
settle_interval_secs = 1
[auth]
mode = "basic"
username = "admin"
password_file = "{pw}"
[[memory.functions]]
name = "echo"
labels = {{ "com.openfaas.scale.min" = "1", "com.openfaas.scale.max" = "6", "com.openfaas.scale.factor" = "50" }}
[[memory.functions]]
name = "slow"
labels = {{ "com.openfaas.scale.min" = "1", "com.openfaas.scale.max" = "4" }}
[[memory.functions]]
name = "tolerant"
labels = {{ "com.openfaas.scale.latency-target-ms" = "5000" }}
[[memory.functions]]
name = "idle"
replicas = 2
labels = {{ "com.openfaas.scale.min" = "2", "com.openfaas.scale.max" = "5" }}
"#,
        pw = password_file.display()
    );
    let path = dir.join("alertscaler.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) struct Stack {
    pub(crate) client: reqwest::Client,
    pub(crate) receiver: String,
    pub(crate) prometheus: String,
    pub(crate) alertmanager: String,
}

/// Real AlertManager and Prometheus for a receiver on `receiver_port`, configured as shipped
/// (timings shortened; Prometheus loading `rules`, absolute paths or globs), started and ready. Their
/// ports come from `free_ports()`, distinct and other than the receiver's: they cannot report a bound
/// port (a short window in which another process could take one; the start-up failure then names it).
pub(crate) struct Monitoring {
    pub(crate) prometheus: String,
    pub(crate) alertmanager: String,
    _procs: [Proc; 2],
}

pub(crate) async fn monitoring(
    dir: &Path,
    gateway_port: u16,
    receiver_port: u16,
    password_file: &Path,
    rules: &[PathBuf],
) -> Monitoring {
    let [prom_port, am_port] = free_ports(&[receiver_port]);
    let am_cfg = alertmanager_config(dir, receiver_port, password_file);
    let mut alertmanager = Proc::start(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", am_cfg.display()),
            format!("--storage.path={}", dir.join("am").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        dir,
    );
    let prom_cfg = prometheus_config(dir, gateway_port, receiver_port, am_port, rules);
    let mut prometheus = Proc::start(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", prom_cfg.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--rules.alert.resend-delay=1s".into(),
        ],
        dir,
    );
    let (prometheus_url, alertmanager_url) = (
        format!("http://127.0.0.1:{prom_port}"),
        format!("http://127.0.0.1:{am_port}"),
    );
    let ready = Duration::from_secs(30);
    let am_ready = format!("{alertmanager_url}/-/ready");
    wait_ready(&mut alertmanager, &am_ready, ready, dir).await;
    let prom_ready = format!("{prometheus_url}/-/ready");
    wait_ready(&mut prometheus, &prom_ready, ready, dir).await;
    Monitoring {
        prometheus: prometheus_url,
        alertmanager: alertmanager_url,
        _procs: [alertmanager, prometheus],
    }
}

/// Send `request` and read its answer as JSON.
async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

impl Stack {
    /// `GET path` on the receiver with the webhook's credentials, as JSON.
    pub(crate) async fn receiver_json(&self, path: &str) -> Value {
        let request = self.client.get(format!("{}{path}", self.receiver));
        json(request.basic_auth("admin", Some(PASSWORD))).await
    }

    /// Replicas per function (`name.namespace`), as `GET /system/functions` lists them.
    pub(crate) async fn replicas(&self) -> std::collections::BTreeMap<String, u64> {
        let list = self.receiver_json("/system/functions").await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    format!(
                        "{}.{}",
                        f["name"].as_str().unwrap(),
                        f["namespace"].as_str().unwrap()
                    ),
                    f["replicas"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The result of `promql` evaluated now.
    pub(crate) async fn query(&self, promql: &str) -> Vec<Value> {
        self.query_at(promql, None).await
    }

    /// `GET path` on Prometheus with `params`, as JSON.
    pub(crate) async fn prometheus_get(&self, path: &str, params: &[(&str, String)]) -> Value {
        json(
            self.client
                .get(format!("{}{path}", self.prometheus))
                .query(params),
        )
        .await
    }

    /// The result of `promql` evaluated at `time` (Unix seconds; now when `None`).
    pub(crate) async fn query_at(&self, promql: &str, time: Option<f64>) -> Vec<Value> {
        let mut params = vec![("query", promql.to_owned())];
        if let Some(t) = time {
            params.push(("time", t.to_string()));
        }
        let v = self.prometheus_get("/api/v1/query", &params).await;
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// (sum seconds, count) of a histogram in a process's `/metrics`, over the lines containing `filter`.
    async fn histogram(&self, base: &str, name: &str, filter: &str) -> (f64, f64) {
        let url = format!("{base}/metrics");
        let text = self
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let total = |suffix: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}{suffix}")) && l.contains(filter))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (total("_sum"), total("_count"))
    }
}

/// Poll until `check` holds on the replica map, asserting `invariant` on every observation.
pub(crate) async fn until(
    stack: &Stack,
    what: &str,
    timeout: Duration,
    check: impl Fn(&std::collections::BTreeMap<String, u64>) -> bool,
    invariant: impl Fn(&std::collections::BTreeMap<String, u64>),
) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        let r = stack.replicas().await;
        invariant(&r);
        if check(&r) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; replicas {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_alertmanager_and_receiver_scale_functions_end_to_end() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let password_file = d.join("webhook-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();

    let gateway = Gateway::default();
    gateway.set(IDLE, 0.0, 0.01); // exported, never any traffic
    let gateway_port = gateway.serve().await.port();
    // The receiver binds port 0 and reports its address.
    let receiver = Served::start(&receiver_config(d, 0, &password_file), &[]);
    let receiver_port = receiver.addr.port();
    let packs = [support::repo("alert-rules/*.rules.yml")];
    let monitoring = monitoring(d, gateway_port, receiver_port, &password_file, &packs).await;
    let stack = Stack {
        client: support::procs::client(),
        receiver: format!("http://127.0.0.1:{receiver_port}"),
        prometheus: monitoring.prometheus.clone(),
        alertmanager: monitoring.alertmanager.clone(),
    };

    // Invariants checked on every observation: never past max, the idle function untouched.
    let bounds = |r: &std::collections::BTreeMap<String, u64>| {
        assert!((1..=6).contains(&r[ECHO]), "echo out of [1, 6]: {r:?}");
        assert!((1..=4).contains(&r[SLOW]), "slow out of [1, 4]: {r:?}");
        assert_eq!(
            r[IDLE], 2,
            "a function without traffic must never be touched"
        );
        assert_eq!(
            r[TOLERANT], 1,
            "2 s is within tolerant's own 5 s latency target"
        );
    };

    // The capacity pack counts a function's series as newborn only from a target scraped before: wait
    // until this Prometheus has scraped the gateway twice, so echo's series is born after that.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack
        .query("count_over_time(up{job=\"gateway\"}[1m]) > 1")
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the gateway was not scraped twice"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Sustained load on echo (fast), and a slow function under light load (latency above target).
    let load_start = Instant::now();
    gateway.set(ECHO, 20.0, 0.01);
    gateway.set(SLOW, 2.0, 2.0);
    gateway.set(TOLERANT, 2.0, 2.0);

    let first_up = until(
        &stack,
        "echo's first scale-up",
        Duration::from_secs(60),
        |r| r[ECHO] > 1,
        bounds,
    )
    .await;
    let at_max = until(
        &stack,
        "echo at max 6",
        Duration::from_secs(60),
        |r| r[ECHO] == 6,
        bounds,
    )
    .await;
    let latency_up = until(
        &stack,
        "slow scaled up on latency",
        Duration::from_secs(90),
        |r| r[SLOW] > 1,
        bounds,
    )
    .await;

    // Load stops: resolved → back to min.
    gateway.set(ECHO, 0.0, 0.01);
    let load_end = Instant::now();
    let down = until(
        &stack,
        "echo back to min",
        Duration::from_secs(60),
        |r| r[ECHO] == 1,
        bounds,
    )
    .await;

    // The per-function target travelled alertscaler /metrics → Prometheus → the pack's recording rule.
    let target = stack
        .query(&format!(
            "alertscaler:latency_target_seconds{{function_name=\"{TOLERANT}\"}}"
        ))
        .await;
    assert_eq!(
        target.first().map(|s| s["value"][1].clone()),
        Some("5".into()),
        "{target:?}"
    );

    // The capacity pack's newborn rule, as this Prometheus evaluates it: at echo's first sample it is that
    // sample's count (rate() has no value yet), from its second sample on nothing (rate() takes over).
    let newborn = recording_rule("capacity.rules.yml", "alertscaler:function_started:newborn");
    let history = stack
        .query(&format!(
            "gateway_function_invocation_started{{function_name=\"{ECHO}\"}}[10m]"
        ))
        .await;
    let points = history[0]["values"].as_array().unwrap();
    let point = |i: usize| {
        let p = points[i].as_array().unwrap();
        (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_owned())
    };
    let ((t1, v1), (t2, _)) = (point(0), point(1));
    let echo_at = |r: Vec<Value>| {
        r.into_iter()
            .find(|s| s["metric"]["function_name"] == ECHO)
            .map(|s| s["value"][1].as_str().unwrap().to_owned())
    };
    assert_eq!(
        echo_at(stack.query_at(&newborn, Some(t1)).await),
        Some(v1.clone()),
        "echo's first sample ({v1} at {t1}) is newborn"
    );
    assert_eq!(echo_at(stack.query_at(&newborn, Some(t2)).await), None);
    let rate_at_first = stack
        .query_at(
            &format!("rate(gateway_function_invocation_started{{function_name=\"{ECHO}\"}}[15s])"),
            Some(t1),
        )
        .await;
    assert!(rate_at_first.is_empty(), "{rate_at_first:?}");

    // Prometheus never alerted on the idle function.
    let idle_alerts = stack
        .query(&format!("ALERTS{{function_name=\"{IDLE}\"}}"))
        .await;
    assert!(
        idle_alerts.is_empty(),
        "idle function alerted: {idle_alerts:?}"
    );

    // Every query of the Grafana dashboard parses in this Prometheus; the core panels have series.
    let replicas = stack.replicas().await;
    let since = load_start.elapsed() + Duration::from_secs(5);
    let (client, prom) = (&stack.client, &stack.prometheus);
    let dashboard_queries =
        support::dashboard::check_in_prometheus(client, prom, &gateway, &replicas, since).await;

    // AlertManager's measurement of our webhook, and alertscaler's own handling time.
    let (am_sum, am_count) = stack
        .histogram(
            &stack.alertmanager,
            "alertmanager_notification_latency_seconds",
            "integration=\"webhook\"",
        )
        .await;
    let (own_sum, own_count) = stack
        .histogram(
            &stack.receiver,
            "alertscaler_webhook_duration_seconds",
            "code=\"200\"",
        )
        .await;
    assert!(am_count >= 3.0, "AlertManager sent {am_count} webhooks");
    assert!(
        own_count >= am_count,
        "alertscaler handled {own_count} of {am_count} webhooks"
    );
    let secs = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64();
    println!(
        "e2e timings (1 s scrape/eval, for: 5s/30s, group_wait 1s, group_interval 2s, repeat 5s):"
    );
    println!(
        "  load start → first scale-up of echo: {:.1} s",
        secs(load_start, first_up)
    );
    println!(
        "  load start → echo at max:            {:.1} s",
        secs(load_start, at_max)
    );
    println!(
        "  load start → slow up on latency:     {:.1} s",
        secs(load_start, latency_up)
    );
    println!(
        "  load end   → echo back to min:       {:.1} s",
        secs(load_end, down)
    );
    println!(
        "  webhooks: {am_count}; AlertManager waited {:.2} ms on average for the answer; alertscaler's own handling {:.2} ms",
        am_sum / am_count * 1000.0,
        own_sum / own_count * 1000.0
    );
    println!("  dashboard: {dashboard_queries} queries parsed and evaluated");
}

/// The query alertscaler asks before deciding a resolution that never came, evaluated by real
/// Prometheus (promtool) on the shipped CE pack: it finds `APIHighInvocationRate` firing for a
/// function named with or without its namespace, and nothing for another function, another
/// namespace or a pending alert.
#[test]
fn the_lost_resolution_query_finds_the_shipped_alert_firing_in_prometheus() {
    use alertscaler::id::FunctionId;
    use alertscaler::measure::firing_query;
    let dir = tempfile::tempdir().unwrap();
    let echo = |namespace: &str| FunctionId {
        name: "echo".into(),
        namespace: namespace.into(),
    };
    let query = |f: &FunctionId| {
        firing_query(
            f,
            "function_name",
            "openfaas-fn",
            &["APIHighInvocationRate".into()],
        )
        .replace('\'', "''")
    };
    // 10 req/s: `for: 5s` holds it pending at 10s and firing from 15s.
    let series = |name: &str| {
        format!(
            "      - series: 'gateway_function_invocation_total{{function_name=\"{name}\",code=\"200\"}}'\n        values: '0+50x20'\n"
        )
    };
    let case = |at: &str, f: &FunctionId, firing: bool| {
        let samples = if firing {
            "\n          - labels: '{}'\n            value: 1"
        } else {
            " []"
        };
        format!(
            "      - expr: 'count({})'\n        eval_time: {at}\n        exp_samples:{samples}\n",
            query(f)
        )
    };
    let mut text = format!(
        "rule_files:\n  - {}\nevaluation_interval: 5s\ntests:\n",
        support::repo("alert-rules/openfaas-ce.rules.yml").display()
    );
    for (name, f) in [
        ("echo.openfaas-fn", echo("openfaas-fn")),
        ("echo", echo("openfaas-fn")),
    ] {
        text += "  - interval: 5s\n    input_series:\n";
        text += &series(name);
        text += "    promql_expr_test:\n";
        text += &case("10s", &f, false);
        text += &case("15s", &f, true);
        text += &case("15s", &echo("dev"), false);
        text += &case(
            "15s",
            &FunctionId {
                name: "ech".into(),
                namespace: "openfaas-fn".into(),
            },
            false,
        );
    }
    let file = dir.path().join("lapse.test.yml");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool on PATH (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}\n{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
