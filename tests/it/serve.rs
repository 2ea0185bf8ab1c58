//! The real listener: graceful shutdown with a deadline, TLS, and `check-config` redaction.

use std::sync::Arc;
use std::time::Duration;

use alertscaler::config::TlsConfig;
use alertscaler::server::{self, ServeOptions};
use alertscaler::service::Outcome;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::doubles::{Double, config, function, webhook};

fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Start a server on 127.0.0.1:0; returns its address, the shutdown trigger and its task.
async fn start(
    backend: Arc<dyn alertscaler::backend::Backend>,
    options: ServeOptions,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<anyhow::Result<()>>,
) {
    let state = server::state(&config(&["echo"]), backend).unwrap();
    serve(state, options).await
}

/// As [`start`], serving `state`.
async fn serve(
    state: alertscaler::http::AppState,
    options: ServeOptions,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<anyhow::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_with(
        listener,
        state,
        async move {
            let _ = rx.await;
        },
        options,
    ));
    (addr, tx, task)
}

fn options(grace: Duration) -> ServeOptions {
    ServeOptions {
        shutdown_grace: grace,
        ..ServeOptions::default()
    }
}

fn client() -> reqwest::Client {
    provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn shutdown_finishes_in_flight_webhooks_then_exits() {
    let slow = Double::new(&["echo"])
        .read_delay(Duration::from_millis(300))
        .arc();
    let (addr, stop, task) = start(slow.clone(), options(Duration::from_secs(10))).await;
    let url = format!("http://{addr}/system/alert");
    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    let request = tokio::spawn({
        let client = client();
        async move { client.post(url).json(&body).send().await }
    });
    // The webhook is inside the backend now; ask the server to stop.
    slow.started.notified().await;
    stop.send(()).unwrap();

    let response = request.await.unwrap().expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["functions"][0]["outcome"], "scaled");
    assert_eq!(slow.inner.replicas(&function("echo")), Some(5));

    let exited = tokio::time::timeout(Duration::from_secs(30), task).await;
    exited.expect("server exits").unwrap().unwrap();
    // No longer accepting.
    let again = client().get(format!("http://{addr}/healthz")).send().await;
    assert!(again.is_err(), "{again:?}");
}

/// A settle pass writing a scale-down when the signal comes finishes it (written and recorded)
/// within the grace period, as an in-flight webhook does; it used to be cut off mid-write.
#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_background_decision_in_flight_finish() {
    let double = Double::new(&["echo"]).arc();
    let state = server::state(&config(&["echo"]), double.clone()).unwrap();
    held_scale_down(&state, &double).await;
    double.hold_writes();
    let audit = state.service.audit().clone();
    let (_, stop, mut task) = serve(state, options(Duration::from_secs(10))).await;
    double.writing.notified().await;
    stop.send(()).unwrap();
    // The server waits for the write (virtual time: the grace is 10 s).
    let early = tokio::time::timeout(Duration::from_secs(1), &mut task).await;
    assert!(
        early.is_err(),
        "exited in the middle of a settle pass's write"
    );
    double.release_write();
    let exited = tokio::time::timeout(Duration::from_secs(30), task).await;
    exited.expect("server exits").unwrap().unwrap();
    assert_eq!(double.inner.replicas(&function("echo")), Some(1));
    let last = audit.recent(Some(1));
    assert_eq!(
        (last[0].trigger, last[0].report.to),
        ("settle", Some(1)),
        "the settle pass's decision is recorded: {last:?}"
    );
}

/// A background pass still writing when the grace period is over is cut off: shutdown is bounded.
#[tokio::test(start_paused = true)]
async fn shutdown_cuts_off_a_background_pass_stuck_past_the_grace_period() {
    let double = Double::new(&["echo"]).arc();
    let state = server::state(&config(&["echo"]), double.clone()).unwrap();
    held_scale_down(&state, &double).await;
    double.hold_writes();
    let (_, stop, task) = serve(state, options(Duration::from_secs(2))).await;
    double.writing.notified().await;
    stop.send(()).unwrap();
    let started = tokio::time::Instant::now();
    let exited = tokio::time::timeout(Duration::from_secs(30), task).await;
    exited.expect("server exits").unwrap().unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "after the grace period"
    );
    assert_eq!(double.inner.replicas(&function("echo")), Some(5));
}

/// Echo at 5 replicas with a scale-down to 1 the stabilization window held back an hour ago: the
/// first settle pass (at start) finishes it.
async fn held_scale_down(state: &alertscaler::http::AppState, double: &Double) {
    let parse = |v: serde_json::Value| alertscaler::alert::parse(v.to_string().as_bytes()).unwrap();
    let hour_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let fire = parse(webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad"));
    state.service.handle(&fire, hour_ago).await;
    let resolve = parse(webhook("resolved", "echo.openfaas-fn", "6a65bd8dfb3af9ad"));
    let held = hour_ago + chrono::TimeDelta::seconds(10);
    let r = state.service.handle(&resolve, held).await;
    assert_eq!(r.functions[0].outcome, Outcome::Unchanged, "{r:?}");
    assert_eq!(double.inner.replicas(&function("echo")), Some(5));
}

#[tokio::test]
async fn shutdown_gives_up_on_stuck_requests_after_the_grace_period() {
    let stuck = Double::new(&["echo"]).read_stuck().arc();
    let (addr, stop, task) = start(stuck.clone(), options(Duration::from_millis(200))).await;
    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
    let request = tokio::spawn({
        let client = client();
        async move {
            client
                .post(format!("http://{addr}/system/alert"))
                .json(&body)
                .send()
                .await
        }
    });
    stuck.started.notified().await;
    stop.send(()).unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(30), task).await;
    exited
        .expect("server exits despite a stuck request")
        .unwrap()
        .unwrap();
    assert!(
        request.await.unwrap().is_err(),
        "the stuck request was cut off"
    );
    assert_eq!(stuck.inner.replicas(&function("echo")), Some(1));
}

/// A self-signed certificate for localhost and 127.0.0.1 written into `dir`; also its PEM.
fn self_signed(dir: &std::path::Path) -> (TlsConfig, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = generated.cert.pem();
    let tls = TlsConfig {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    };
    std::fs::write(&tls.cert_file, &cert_pem).unwrap();
    std::fs::write(&tls.key_file, generated.signing_key.serialize_pem()).unwrap();
    (tls, cert_pem)
}

#[tokio::test]
async fn tls_listener_serves_https_with_the_configured_certificate() {
    provider();
    let dir = tempfile::tempdir().unwrap();
    let (tls, cert_pem) = self_signed(dir.path());
    let backend = Arc::new(alertscaler::backend::memory::MemoryBackend::new(
        &config(&["echo"]).memory.functions,
    ));
    let (addr, stop, task) = start(
        backend,
        ServeOptions {
            tls: Some(tls),
            ..options(Duration::from_secs(5))
        },
    )
    .await;

    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let response = trusting
        .post(format!("https://127.0.0.1:{}/system/alert", addr.port()))
        .json(&webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["functions"][0]["to"], 5);

    // Plain HTTP is not served on the TLS port.
    let plain = client().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_tls_connection_waiting_for_its_first_request_gets_the_idle_timeout() {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    provider();
    let dir = tempfile::tempdir().unwrap();
    let (tls, cert_pem) = self_signed(dir.path());
    let backend = Arc::new(alertscaler::backend::memory::MemoryBackend::new(&[]));
    let connections = alertscaler::connections::ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        max_connections: 16,
    };
    let (addr, stop, task) = start(
        backend,
        ServeOptions {
            tls: Some(tls),
            connections,
            ..options(Duration::from_secs(5))
        },
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let mut tls = connector.connect(name, tcp).await.unwrap();
    // Handshake done: the connection now waits for its first request, as a plain one would
    // (idle_timeout_secs), not for the rest of a head that started with the handshake.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        matches!(read, Ok(Ok(_))) && answer.starts_with("HTTP/1.1 200"),
        "{read:?} {answer:?}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_tls_key_is_a_clear_startup_error() {
    let backend = Arc::new(alertscaler::backend::memory::MemoryBackend::new(&[]));
    let (_addr, _stop, task) = start(
        backend,
        ServeOptions {
            tls: Some(TlsConfig {
                cert_file: "/nonexistent/cert.pem".into(),
                key_file: "/nonexistent/key.pem".into(),
            }),
            ..ServeOptions::default()
        },
    )
    .await;
    let err = task.await.unwrap().unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/cert.pem"),
        "{err:#}"
    );
}

#[test]
fn a_tls_certificate_file_without_a_certificate_is_named_as_such() {
    // Fails on main: a cert_file with no PEM certificate in it (a key, a CSR, garbage) is refused
    // with "cannot load TLS certificate … / key …: peer sent no certificates", a TLS handshake
    // error that says nothing about the file.
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, "not a certificate\n").unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let (ok, _, stderr) = check_config(
        dir.path(),
        &format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    assert!(!ok);
    assert!(stderr.contains(&cert.display().to_string()), "{stderr}");
    assert!(!stderr.contains("peer sent"), "{stderr}");
}

/// `alertscaler check-config --config <file with text>`: (success, stdout, stderr).
fn check_config(dir: &std::path::Path, text: &str) -> (bool, String, String) {
    let file = dir.join("c.toml");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_paths_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sup3r-s3cret-t0ken\n").unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    let key_pem = generated.signing_key.serialize_pem();
    std::fs::write(&key, &key_pem).unwrap();
    let (ok, stdout, stderr) = check_config(
        dir.path(),
        &format!(
            "[auth]\nmode = \"bearer\"\ntoken_file = {:?}\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n\
             [prometheus]\nurl = \"http://127.0.0.1:9\"\nbearer_token_file = {:?}\n",
            token.display().to_string(),
            cert.display().to_string(),
            key.display().to_string(),
            token.display().to_string()
        ),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&token.display().to_string()), "{stdout}");
    assert!(stdout.contains("bearer_token_file"), "{stdout}");
    assert!(stdout.contains("key_file"), "{stdout}");
    assert!(stdout.contains("shutdown_grace_secs = 20"), "{stdout}");
    let key_body = key_pem.lines().nth(1).unwrap();
    for secret in ["sup3r-s3cret-t0ken", key_body] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}{stderr}"
        );
    }
}

/// In `ce` mode the window printed from the defaults does not apply: the output says so.
#[test]
fn check_config_says_the_window_is_zero_in_ce_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = check_config(dir.path(), "[policy]\nscale_down = \"ce\"\n");
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("scale_down_stabilization_secs = 300"),
        "{stdout}"
    );
    assert!(stdout.contains("the stabilization window is 0"), "{stdout}");
    // Parsable as printed: the note is a comment.
    assert!(stdout.parse::<toml::Table>().is_ok(), "{stdout}");
    let (ok, stdout, _) = check_config(dir.path(), "[policy]\nscale_down = \"stabilized\"\n");
    assert!(
        ok && !stdout.contains("stabilization window is 0"),
        "{stdout}"
    );
}

/// What `serve` would refuse at start-up, `check-config` refuses too, naming the file.
#[test]
fn check_config_reads_the_files_serve_reads() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "-----BEGIN PRIVATE KEY-----\nS3CRETKEY\n").unwrap();
    let junk = junk.display().to_string();
    let cases = [
        "[auth]\nmode = \"basic\"\nusername = \"am\"\npassword_file = \"/nonexistent/password\"\n"
            .to_owned(),
        format!("[tls]\ncert_file = {junk:?}\nkey_file = {junk:?}\n"),
        "backend = \"openfaas\"\n[openfaas]\npassword_file = \"/nonexistent/gateway-password\"\n"
            .to_owned(),
        "[prometheus]\nurl = \"http://127.0.0.1:9\"\nbearer_token_file = \"/nonexistent/prom-token\"\n"
            .to_owned(),
    ];
    for (text, named) in cases.iter().zip([
        "/nonexistent/password",
        &junk,
        "/nonexistent/gateway-password",
        "/nonexistent/prom-token",
    ]) {
        let (ok, _, stderr) = check_config(dir.path(), text);
        assert!(!ok, "{text}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(!stderr.contains("S3CRETKEY"), "{stderr}");
    }
}

/// With authentication on, the listener hands each request its peer's address: failures from one
/// source block that source only. (Without authentication nothing reads the address, and the
/// listener skips it.)
#[tokio::test]
async fn failed_authentications_through_the_listener_block_only_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let mut c = config(&["echo"]);
    c.auth = alertscaler::config::AuthConfig::Bearer { token_file };
    c.auth_failure_limit.max_failures = 2;
    c.auth_failure_limit.window_secs = 600;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = server::state(&c, Double::on(&c).arc()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_with(
        listener,
        state,
        async move {
            let _ = stopped.await;
        },
        options(Duration::from_secs(1)),
    ));
    let post = |source: [u8; 4], token: &'static str| {
        provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(source))
            .build()
            .unwrap();
        let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad");
        async move {
            let response = client
                .post(format!("http://{addr}/system/alert"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(post([127, 0, 0, 2], "wrong").await, 401);
    assert_eq!(post([127, 0, 0, 2], "wrong").await, 401);
    assert_eq!(post([127, 0, 0, 2], "right-token").await, 429);
    assert_eq!(post([127, 0, 0, 3], "right-token").await, 200);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// `--help` names every simulator preset, and every option says what it is.
#[test]
fn help_names_every_preset_and_describes_every_option() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let simulate = help(&["simulate"]);
    for name in alertscaler::sim::presets::names() {
        assert!(
            simulate.contains(&format!(" {name},")) || simulate.contains(&format!(" {name}.")),
            "simulate --help does not name preset {name}:\n{simulate}"
        );
    }
    for command in ["serve", "check-config", "simulate"] {
        let text = help(&[command]);
        for line in text.lines().filter(|l| l.trim_start().starts_with('-')) {
            // clap puts an option's description on its line, after the flags and value name.
            let described = line
                .trim()
                .split("  ")
                .filter(|part| !part.trim().is_empty())
                .count()
                > 1;
            assert!(
                described,
                "{command} --help: option without a description: {line}\n{text}"
            );
        }
    }
}

/// A refused start is one line naming the key or file, whatever the environment asks of Rust:
/// `RUST_BACKTRACE=1` (common on build hosts and in debug images) must not turn it into a stack
/// dump, and a cause is part of the line, not a `Caused by:` block.
#[test]
fn a_refused_start_is_one_line_even_with_rust_backtrace_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "body_limit_bytes = 5\n").unwrap();
    let missing = dir.path().join("missing.toml");
    let cases: [(Vec<std::ffi::OsString>, String); 3] = [
        (
            vec!["check-config".into(), "--config".into(), file.into()],
            "body_limit_bytes".into(),
        ),
        (
            vec!["serve".into(), "--config".into(), missing.clone().into()],
            missing.display().to_string(),
        ),
        (
            vec![
                "simulate".into(),
                "--scenario".into(),
                missing.clone().into(),
            ],
            missing.display().to_string(),
        ),
    ];
    for (args, named) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LIB_BACKTRACE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line:\n{stderr}");
        assert!(lines[0].starts_with("Error: "), "{args:?}: {stderr}");
        assert!(lines[0].contains(&named), "{args:?}: {stderr}");
    }
}

/// A file named in the configuration larger than any such file can be (a path to `/dev/zero`, a
/// huge file given by mistake) is refused in one line naming it, not read until memory runs out.
#[test]
fn config_and_tls_files_over_their_bound_are_refused_in_one_line_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let bound = alertscaler::config::bounded::PEM_MAX_BYTES;
    // Text outside the PEM blocks is allowed: each file still holds what it should.
    let padded = |pem: String| format!("{pem}{}", "# padding\n".repeat(bound / 10 + 1));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (big_cert, big_key) = (
        dir.path().join("big-cert.pem"),
        dir.path().join("big-key.pem"),
    );
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    std::fs::write(&big_cert, padded(generated.cert.pem())).unwrap();
    std::fs::write(&big_key, padded(generated.signing_key.serialize_pem())).unwrap();
    let tls = |cert: &std::path::Path, key: &std::path::Path| {
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        )
    };
    let (ok, _, stderr) = check_config(dir.path(), &tls(&cert, &key));
    assert!(ok, "the unpadded pair is refused: {stderr}");
    let zero = std::path::Path::new("/dev/zero");
    // The padded files first: before the fix, /dev/zero is read until memory runs out.
    for (text, named) in [
        (tls(&big_cert, &key), &big_cert),
        (tls(&cert, &big_key), &big_key),
        (tls(zero, &key), &zero.to_path_buf()),
        (tls(&cert, zero), &zero.to_path_buf()),
    ] {
        let (ok, _, stderr) = check_config(dir.path(), &text);
        assert!(!ok, "{text}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&named.display().to_string()), "{stderr}");
        assert!(stderr.contains("larger than 1 MiB"), "{stderr}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["check-config", "--config", "/dev/zero"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("larger than 16 MiB"),
        "{stderr}"
    );
}

/// A `RUST_LOG` that does not parse (`alertscaler=debgu`) is said once at start, naming the variable
/// and the problem; the service runs on at the default level (a log typo must not stop an
/// autoscaler), and the effective configuration on stdout stays parsable.
#[test]
fn a_malformed_rust_log_is_said_on_stderr_and_the_default_level_applies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[policy]\nscale_down = \"ce\"\n").unwrap();
    let run = |rust_log: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
            .args(["check-config", "--config"])
            .arg(&file)
            .env("RUST_LOG", rust_log)
            .output()
            .unwrap()
    };
    for bad in ["alertscaler=debgu", "info,[unclosed"] {
        let out = run(bad);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{bad}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{bad}: not one line:\n{stderr}");
        assert!(lines[0].contains("RUST_LOG"), "{stderr}");
        assert!(lines[0].contains(bad), "{stderr}");
        assert!(
            lines[0].contains("info"),
            "the default is not named: {stderr}"
        );
        assert!(stdout.parse::<toml::Table>().is_ok(), "{stdout}");
    }
    for good in ["alertscaler=debug", "warn"] {
        let out = run(good);
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{good}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
