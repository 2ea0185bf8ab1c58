//! The simulated Prometheus's query API, for the decision-time reads of the capacity policy
//! (`LoadSource::desired`: `max(alertscaler:function_desired_replicas{function_name="…"})`, with the
//! time of its sample).
//!
//! alertscaler's `LoadSource` is an HTTP client, so the simulator answers it over loopback: a small server on
//! `127.0.0.1:0`, on the run's own runtime, answering from the values the simulated rule evaluation last
//! recorded (as Prometheus answers from its last rule evaluation). Nothing but that one series is served; any
//! other query gets an empty vector, so the service falls back to the alert's annotation as it would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::SimError;

/// `alertscaler:function_desired_replicas` by `function_name`, as last recorded.
pub type Recorded = Arc<Mutex<BTreeMap<String, f64>>>;

/// The function a `…{function_name="name.namespace"}` query asks for.
fn function_of(query: &str) -> Option<&str> {
    let start = query.find("function_name=\"")? + "function_name=\"".len();
    let len = query[start..].find('"')?;
    Some(&query[start..start + len])
}

async fn answer(
    State(recorded): State<Recorded>,
    Query(params): Query<BTreeMap<String, String>>,
) -> axum::Json<Value> {
    let query = params.get("query").map_or("", String::as_str);
    let value = query
        .contains(crate::measure::DESIRED_SERIES)
        .then(|| function_of(query))
        .flatten()
        .and_then(|f| recorded.lock().ok()?.get(f).copied());
    // The simulated rules record at every evaluation: the count is always fresh.
    match value {
        Some(v) => axum::Json(crate::measure::desired_answer(v, 0.0, 0.0)),
        None => {
            axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": []}}))
        }
    }
}

/// Start the server on `runtime`; returns its base URL.
pub fn serve(runtime: &tokio::runtime::Runtime, recorded: Recorded) -> Result<String, SimError> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| SimError::Runtime(format!("cannot listen on loopback: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| SimError::Runtime(e.to_string()))?;
    let app = Router::new()
        .route("/api/v1/query", get(answer))
        .with_state(recorded);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_is_read_from_the_query() {
        let q = crate::measure::desired_query(&crate::id::FunctionId {
            name: "f".into(),
            namespace: "openfaas-fn".into(),
        });
        assert_eq!(function_of(&q), Some("f.openfaas-fn"));
        assert_eq!(function_of("up"), None);
    }
}
