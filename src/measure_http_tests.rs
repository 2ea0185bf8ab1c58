//! How the load source talks HTTP to Prometheus: credentials (in the URL, a bearer token file that
//! rotates, a basic-auth password file), a path prefix, and answers that are slow, too large or
//! 401, against an in-process fake on 127.0.0.1:0.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::*;

/// What the fake saw: the `Authorization` header of each request, and the bytes of body it sent;
/// and the header it requires (`None`: any), as an auth proxy in front of Prometheus would.
#[derive(Default)]
struct Seen {
    authorization: Mutex<Vec<Option<String>>>,
    sent: AtomicUsize,
    requires: Mutex<Option<(String, u16)>>,
}

impl Seen {
    /// Answer `status` to a request without `Authorization: header`.
    fn require(&self, header: &str, status: u16) {
        *self.requires.lock().unwrap() = Some((header.to_owned(), status));
    }
    fn last(&self) -> Option<String> {
        self.authorization.lock().unwrap().last().cloned().flatten()
    }
}

/// A fake Prometheus served under `prefix`: answers by the query's first word.
/// `slow` sends the start of a JSON answer and then nothing; `endless` sends an answer that never ends,
/// counting what it sent; anything else is a one-sample vector of 2.
async fn fake(prefix: &str) -> (String, Arc<Seen>, JoinHandle<()>) {
    async fn query(
        State(seen): State<Arc<Seen>>,
        headers: HeaderMap,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Response {
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        seen.authorization.lock().unwrap().push(auth.clone());
        let required = seen.requires.lock().unwrap().clone();
        if let Some((_, status)) = required.filter(|(r, _)| auth.as_ref() != Some(r)) {
            // What kube-rbac-proxy and oauth2-proxy answer: a status and a line of text.
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            return (status, "Unauthorized\n").into_response();
        }
        let q = params.get("query").cloned().unwrap_or_default();
        let start = r#"{"status":"success","data":{"resultType":"vector","result":["#;
        let stream = match q.split(' ').next().unwrap_or_default() {
            "slow" => futures_util::stream::once(async move { Bytes::from(start) })
                .chain(futures_util::stream::pending())
                .boxed(),
            "endless" => {
                // Samples in chunks of 256: 1 MiB in ~140 chunks, not ~35 000 (a debug build on a
                // loaded machine took longer than the query timeout to send those).
                let sample = Bytes::from(br#"{"metric":{},"value":[1,"2"]},"#.repeat(256));
                futures_util::stream::once(async move { Bytes::from(start) })
                    .chain(futures_util::stream::repeat(sample).map(move |chunk| {
                        seen.sent.fetch_add(chunk.len(), Ordering::Relaxed);
                        chunk
                    }))
                    .boxed()
            }
            _ => {
                let body = format!(r#"{start}{{"metric":{{}},"value":[1,"2"]}}]}}}}"#);
                return body.into_response();
            }
        };
        Body::from_stream(stream.map(Ok::<_, std::convert::Infallible>)).into_response()
    }
    let seen = Arc::<Seen>::default();
    let app = Router::new()
        .route(&format!("{prefix}/api/v1/query"), get(query))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, seen, server)
}

fn source(url: &str, timeout_ms: u64) -> LoadSource {
    source_with(url, timeout_ms, |_| {}).unwrap()
}

/// A load source for `url` with the configuration `edit` leaves (validated), or why it cannot start.
fn source_with(
    url: &str,
    timeout_ms: u64,
    edit: impl FnOnce(&mut PrometheusConfig),
) -> Result<LoadSource, LoadError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = PrometheusConfig {
        url: Some(url.into()),
        query_timeout_ms: timeout_ms,
        queries: [("Rate".to_string(), "{name}".to_string())].into(),
        ..Default::default()
    };
    edit(&mut config);
    config.validate().unwrap();
    LoadSource::from_config(&config)
}

/// A load source sending the bearer token in `file`.
fn bearer_source(addr: &str, file: &std::path::Path) -> LoadSource {
    source_with(&format!("http://{addr}"), 1000, |c| {
        c.bearer_token_file = Some(file.to_owned());
    })
    .unwrap()
}

/// Replace `path`'s content the way the kubelet rotates a projected token: a new file renamed over
/// the old (atomic: a reader sees the old token or the new one, never half of one).
fn rotate(path: &std::path::Path, token: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, format!("{token}\n")).unwrap();
    std::fs::rename(&next, path).unwrap();
}

fn function(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: "openfaas-fn".into(),
    }
}

#[tokio::test]
async fn credentials_and_a_path_prefix_come_from_the_url() {
    let (addr, seen, server) = fake("/prometheus").await;
    let src = source(&format!("http://scraper:s3cret@{addr}/prometheus/"), 1000);
    let load = src.measure("Rate", &function("ok")).await;
    assert_eq!(load.map(|l| l.value), Some(2.0));
    // Basic auth, as `check-config` and docs/operations.md promise: base64("scraper:s3cret").
    let sent = seen.authorization.lock().unwrap().clone();
    assert_eq!(sent, [Some("Basic c2NyYXBlcjpzM2NyZXQ=".to_string())]);
    server.abort();
    // A failure's message (logged) names the server, never the password.
    let _ = server.await;
    let fresh = source(&format!("http://scraper:s3cret@{addr}/prometheus/"), 1000);
    let p = fresh.prometheus.as_ref().unwrap();
    let e = p.fetch("ok").await.unwrap_err().to_string();
    assert!(e.contains(&addr) && !e.contains("s3cret"), "{e}");
}

#[tokio::test]
async fn an_answer_that_stops_half_way_is_a_timeout() {
    let (addr, _seen, server) = fake("").await;
    let src = source(&format!("http://{addr}"), 300);
    let p = src.prometheus.as_ref().unwrap();
    let e = p.fetch("slow").await.unwrap_err();
    assert!(matches!(e, LoadError::Timeout(300)), "{e}");
    assert_eq!(src.measure("Rate", &function("slow")).await, None);
    server.abort();
}

#[tokio::test]
async fn an_answer_too_large_is_refused_without_reading_it_all() {
    let (addr, seen, server) = fake("").await;
    let src = source(&format!("http://{addr}"), 5000);
    let p = src.prometheus.as_ref().unwrap();
    let e = p.fetch("endless").await.unwrap_err();
    assert!(
        matches!(e, LoadError::TooLarge(MAX_ANSWER_BYTES)),
        "{e} after {} bytes",
        seen.sent.load(Ordering::Relaxed)
    );
    assert!(e.to_string().contains("wrap it in sum"), "{e}");
    assert_eq!(src.measure("Rate", &function("endless")).await, None);
    server.abort();
}

#[tokio::test]
async fn a_bearer_token_is_sent_and_a_rotated_one_used_from_the_next_query() {
    let (addr, seen, server) = fake("").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "first-token\n").unwrap();
    seen.require("Bearer first-token", 401);
    let src = bearer_source(&addr, &file);
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    assert_eq!(seen.last().as_deref(), Some("Bearer first-token"));
    // The kubelet's rotation: a new file renamed over the old one.
    rotate(&file, "second-token");
    seen.require("Bearer second-token", 401);
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    assert_eq!(seen.last().as_deref(), Some("Bearer second-token"));
    // Rewritten in place with a token of the same length: the modification time tells (set
    // explicitly, so a coarse file system clock cannot hide the change).
    std::fs::write(&file, "third--token\n").unwrap();
    let later =
        std::fs::metadata(&file).unwrap().modified().unwrap() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    seen.require("Bearer third--token", 401);
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    assert_eq!(seen.last().as_deref(), Some("Bearer third--token"));
    server.abort();
}

#[tokio::test]
async fn a_token_file_that_cannot_be_read_again_keeps_the_last_token_and_warns_once() {
    let (addr, seen, server) = fake("").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "kept-token").unwrap();
    seen.require("Bearer kept-token", 401);
    let src = bearer_source(&addr, &file);
    let logs = crate::testlog::Logs::default();
    let guard = logs.capture();
    std::fs::remove_file(&file).unwrap();
    for _ in 0..3 {
        assert_eq!(
            src.measure("Rate", &function("ok")).await.map(|l| l.value),
            Some(2.0)
        );
        assert_eq!(seen.last().as_deref(), Some("Bearer kept-token"));
    }
    // An empty file (a writer caught half way) is no token either.
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    let text = logs.text();
    let warned = text.matches("keeping the last one read").count();
    assert_eq!(warned, 1, "{text}");
    assert!(text.contains("prometheus.bearer_token_file"), "{text}");
    assert!(!text.contains("kept-token"), "{text}");
    // Readable again: the new token is used, and a later failure is warned about again.
    std::fs::write(&file, "back-token").unwrap();
    seen.require("Bearer back-token", 401);
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    drop(guard);
    let text = logs.text();
    assert_eq!(
        text.matches("keeping the last one read").count(),
        2,
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn refused_credentials_are_named_in_the_error_and_the_annotation_is_used() {
    let (addr, seen, server) = fake("").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "wrong-token").unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "wrong").unwrap();
    let plain = source(&format!("http://{addr}"), 1000);
    let bearer = bearer_source(&addr, &file);
    let basic = source_with(&format!("http://{addr}"), 1000, |c| {
        c.username = Some("scraper".into());
        c.password_file = Some(password.clone());
    })
    .unwrap();
    let in_url = source(&format!("http://scraper:wrong@{addr}"), 1000);
    for status in [401, 403] {
        seen.require("Bearer right-token", status);
        let reason = if status == 401 {
            "401 Unauthorized"
        } else {
            "403 Forbidden"
        };
        for (src, hint) in [
            (&bearer, "check prometheus.bearer_token_file"),
            (
                &basic,
                "check prometheus.username and prometheus.password_file",
            ),
            (&in_url, "check the user:password in prometheus.url"),
            (&plain, "set prometheus.bearer_token_file"),
        ] {
            let p = src.prometheus.as_ref().unwrap();
            let e = p.fetch("ok").await.unwrap_err();
            let text = e.to_string();
            let says = format!("prometheus answered {reason}: ");
            assert!(text.starts_with(&says) && text.contains(hint), "{text}");
            // As any other failed query: the alert's annotation decides.
            assert_eq!(src.measure("Rate", &function("ok")).await, None);
        }
    }
    server.abort();
}

#[tokio::test]
async fn basic_auth_comes_from_the_username_and_the_password_file() {
    let (addr, seen, server) = fake("").await;
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    // base64("scraper:s3cret"), as the URL form sends it.
    seen.require("Basic c2NyYXBlcjpzM2NyZXQ=", 401);
    let src = source_with(&format!("http://{addr}"), 1000, |c| {
        c.username = Some("scraper".into());
        c.password_file = Some(password.clone());
    })
    .unwrap();
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    // The password file follows rotation as the token file does.
    rotate(&password, "n3w");
    seen.require("Basic c2NyYXBlcjpuM3c=", 401);
    assert_eq!(
        src.measure("Rate", &function("ok")).await.map(|l| l.value),
        Some(2.0)
    );
    assert_eq!(seen.last().as_deref(), Some("Basic c2NyYXBlcjpuM3c="));
    server.abort();
}

#[test]
fn a_credentials_file_that_cannot_be_used_stops_start_up_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let large = dir.path().join("large");
    std::fs::write(&large, "a".repeat(crate::auth::SECRET_MAX_BYTES + 1)).unwrap();
    let binary = dir.path().join("binary");
    std::fs::write(&binary, "tök\u{7}en").unwrap();
    let bearer = |path: &std::path::Path| {
        let path = path.to_owned();
        move |c: &mut PrometheusConfig| c.bearer_token_file = Some(path)
    };
    for (path, problem) in [
        (&missing, "cannot read secret file"),
        (&large, "larger than 64 KiB"),
        (&binary, "visible ASCII"),
    ] {
        let e = source_with("http://127.0.0.1:9", 1000, bearer(path))
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()));
        let text = e.to_string();
        assert!(text.contains("prometheus.bearer_token_file"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(problem), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
        assert!(!text.contains("tök"), "{text}");
    }
    let e = source_with("http://127.0.0.1:9", 1000, |c| {
        c.username = Some("scraper".into());
        c.password_file = Some(missing.clone());
    })
    .expect_err("a missing password file was accepted");
    assert!(e.to_string().contains("prometheus.password_file"), "{e}");
}
