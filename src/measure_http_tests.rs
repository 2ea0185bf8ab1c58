//! How the load source talks HTTP to Prometheus: credentials and a path prefix from the URL, and
//! answers that are slow or too large, against an in-process fake on 127.0.0.1:0.

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

/// What the fake saw: the `Authorization` header of each request, and the bytes of body it sent.
#[derive(Default)]
struct Seen {
    authorization: Mutex<Vec<Option<String>>>,
    sent: AtomicUsize,
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
        seen.authorization.lock().unwrap().push(auth);
        let q = params.get("query").cloned().unwrap_or_default();
        let start = r#"{"status":"success","data":{"resultType":"vector","result":["#;
        let stream = match q.split(' ').next().unwrap_or_default() {
            "slow" => futures_util::stream::once(async move { Bytes::from(start) })
                .chain(futures_util::stream::pending())
                .boxed(),
            "endless" => {
                let sample = Bytes::from_static(br#"{"metric":{},"value":[1,"2"]},"#);
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = PrometheusConfig {
        url: Some(url.into()),
        query_timeout_ms: timeout_ms,
        queries: [("Rate".to_string(), "{name}".to_string())].into(),
        ..Default::default()
    };
    config.validate().unwrap();
    LoadSource::from_config(&config).unwrap()
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
