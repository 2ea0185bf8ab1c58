//! `ca_file` in `[prometheus]` and `[openfaas]`: a Prometheus and a gateway served over HTTPS with
//! a certificate from a private CA are reached with the CA's file, refused without it with an error
//! naming the certificate and the key to set, and an unusable file stops `check-config` and `serve`
//! alike, naming the key and the file.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertscaler::backend::Backend;
use alertscaler::config::PrometheusConfig;
use alertscaler::measure::LoadSource;
use axum::Router;
use axum::routing::get;

use crate::support::openfaas::env::{Env, figlet, labelled};
use crate::support::openfaas::mock;
use crate::support::tls::PrivateCa;

/// A Prometheus answering every instant query with one `ALERTS` series of `Rate`.
fn prometheus() -> Router {
    Router::new().route(
        "/api/v1/query",
        get(|| async {
            axum::Json(serde_json::json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [
                    {"metric": {"alertname": "Rate"}, "value": [1, "1"]}
                ]}
            }))
        }),
    )
}

/// What this thread logs while the guard lives (the tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        // As src/testlog.rs does: a global subscriber that wants every level and records nothing
        // keeps each callsite wanted, so the warning, first hit on another test's thread, is not
        // cached as wanted by nobody.
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        });
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Which alerts the source at `url` says fire for figlet, and what it logged.
async fn firing(url: &str, ca_file: Option<std::path::PathBuf>) -> (Option<Vec<String>>, String) {
    let config = PrometheusConfig {
        url: Some(url.into()),
        query_timeout_ms: 5000,
        ca_file,
        ..PrometheusConfig::default()
    };
    config.validate().unwrap();
    let source = LoadSource::from_config(&config).unwrap();
    let logs = Logs::default();
    let guard = logs.capture();
    let names = source
        .firing_alerts(&figlet(), "function_name", "openfaas-fn", &["Rate".into()])
        .await;
    drop(guard);
    (names, logs.text())
}

#[tokio::test]
async fn prometheus_behind_a_private_ca_is_queried_with_its_ca_file_only() {
    let ca = PrivateCa::new();
    let (addr, server) = ca.serve(prometheus()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path());
    for url in [
        format!("https://127.0.0.1:{}", addr.port()),
        format!("https://localhost:{}/", addr.port()),
    ] {
        let (names, logged) = firing(&url, None).await;
        assert_eq!(names, None, "{url}: trusted without its CA");
        assert!(
            logged.contains("UnknownIssuer") && logged.contains("set prometheus.ca_file"),
            "{url}: {logged}"
        );
        let (names, logged) = firing(&url, Some(ca_file.clone())).await;
        assert_eq!(names, Some(vec!["Rate".to_string()]), "{url}: {logged}");
    }
    // Another CA of the same name in the file (as after the CA was renewed with a new key): still
    // refused, and the hint says to check the file.
    let other = tempfile::tempdir().unwrap();
    let wrong = PrivateCa::new().write(other.path());
    let url = format!("https://127.0.0.1:{}", addr.port());
    let (names, logged) = firing(&url, Some(wrong)).await;
    assert_eq!(names, None);
    assert!(
        logged.contains("BadSignature") && logged.contains("check that prometheus.ca_file holds"),
        "{logged}"
    );
    server.abort();
}

#[tokio::test]
async fn a_gateway_behind_a_private_ca_is_reached_with_its_ca_file_only() {
    let ca = PrivateCa::new();
    let gw = mock::start_https(&[("figlet", labelled(3))], &ca).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 0;
    let e = env.backend().read(&figlet()).await.unwrap_err().to_string();
    assert!(
        e.contains("UnknownIssuer") && e.contains("set openfaas.ca_file"),
        "{e}"
    );
    env.config.openfaas.ca_file = Some(ca.write(env.dir.path()));
    env.config.validate().unwrap();
    let backend = env.backend();
    assert_eq!(backend.read(&figlet()).await.unwrap().replicas, 3);
    backend.ready().await.unwrap();
}

/// `alertscaler <command> --config <text>`: (success, stderr); a `serve` that starts is stopped
/// and reported as a success.
fn run(command: &str, dir: &std::path::Path, text: &str) -> (bool, String) {
    let file = dir.join("c.toml");
    std::fs::write(&file, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args([command, "--config"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            return (true, format!("{command} started"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_and_serve_refuse_an_unusable_ca_file_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_ca = dir.path().join("not-a-ca.pem");
    std::fs::write(
        &not_a_ca,
        "-----BEGIN CERTIFICATE-----\nMAMCAQI=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    let good = PrivateCa::new().write(dir.path());
    let prometheus = |path: &std::path::Path| {
        format!(
            "listen = \"127.0.0.1:0\"\n[prometheus]\nurl = \"https://127.0.0.1:9\"\nca_file = {:?}\n",
            path.display().to_string()
        )
    };
    let openfaas = |path: &std::path::Path| {
        format!(
            "listen = \"127.0.0.1:0\"\nbackend = \"openfaas\"\n[openfaas]\ngateway_url = \
             \"https://127.0.0.1:9\"\nstate_file = {:?}\nca_file = {:?}\n",
            dir.path().join("state.json").display().to_string(),
            path.display().to_string()
        )
    };
    for (key, text) in [
        (
            "prometheus.ca_file",
            &prometheus as &dyn Fn(&std::path::Path) -> String,
        ),
        ("openfaas.ca_file", &openfaas),
    ] {
        let (ok, stderr) = run("check-config", dir.path(), &text(&good));
        assert!(ok, "{key}: a good file is refused: {stderr}");
        for (path, words) in [(&not_a_ca, "does not parse"), (&missing, "No such file")] {
            for command in ["check-config", "serve"] {
                let (ok, stderr) = run(command, dir.path(), &text(path));
                assert!(!ok, "{command} accepts {key} = {}", path.display());
                assert_eq!(stderr.lines().count(), 1, "{stderr}");
                assert!(
                    stderr.contains(key)
                        && stderr.contains(&path.display().to_string())
                        && stderr.contains(words),
                    "{command}: {stderr}"
                );
            }
        }
    }
}
