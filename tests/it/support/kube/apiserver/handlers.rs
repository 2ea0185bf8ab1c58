//! Request handlers of the fake apiserver: routing by method, Status error bodies, scripted
//! faults, RFC 7386 merge patches, the resourceVersion precondition, label-selector lists.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use super::{Action, Seen, Shared};

pub(super) fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn scripted_status(code: u16, method: &Method, ns: &str, name: Option<&str>) -> Response {
    let verb = match (method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        _ => "other",
    };
    let what = name.map_or("deployments.apps".to_owned(), |n| {
        format!("deployments.apps {n:?}")
    });
    match code {
        403 => status(
            403,
            "Forbidden",
            format!(
                "{what} is forbidden: User \"system:serviceaccount:openfaas:alertscaler\" cannot {verb} \
                 resource \"deployments\" in API group \"apps\" in the namespace \"{ns}\""
            ),
        ),
        404 => status(404, "NotFound", format!("{what} not found")),
        409 => status(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {what}: scripted"),
        ),
        500 => status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out".into(),
        ),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request".into(),
        ),
        other => status(other, "Unknown", format!("scripted status {other}")),
    }
}

/// Run the scripted fault for this request, if any; `Some(response)` ends the request.
async fn run_fault(
    inner: &Shared,
    method: &Method,
    ns: &str,
    name: Option<&str>,
) -> Option<Response> {
    let action = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let fault = guard
            .faults
            .iter_mut()
            .find(|f| f.method.as_ref().is_none_or(|m| m == method) && f.remaining != Some(0))?;
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        fault.action.clone()
    };
    match action {
        Action::Status(code) => return Some(scripted_status(code, method, ns, name)),
        Action::Delay(d) => tokio::time::sleep(d).await,
        Action::Gate(barrier) => {
            barrier.wait().await;
        }
        Action::Interfere(change) => {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            let key = (ns.to_owned(), name.unwrap_or_default().to_owned());
            if let Some(mut object) = guard.objects.remove(&key) {
                change(&mut object);
                guard.bump(&mut object);
                guard.objects.insert(key, object);
            }
        }
    }
    None
}

fn record(
    inner: &Shared,
    method: &Method,
    path: String,
    query: &Option<String>,
    headers: &HeaderMap,
) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .seen
        .push(Seen {
            method: method.clone(),
            path,
            query: query.clone().unwrap_or_default(),
            content_type,
        });
}

pub(super) async fn collection(
    State(inner): State<Shared>,
    method: Method,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    record(
        &inner,
        &method,
        format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        &query,
        &headers,
    );
    if let Some(r) = run_fault(&inner, &method, &ns, None).await {
        return r;
    }
    if method != Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        );
    }
    let params: BTreeMap<String, String> = query.as_deref().map(url_pairs).unwrap_or_default();
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let items: Vec<Value> = guard
        .objects
        .iter()
        .filter(|((n, _), d)| n == &ns && selector_matches(&selector, &d["metadata"]["labels"]))
        .map(|(_, d)| {
            let mut d = d.clone();
            // Items of a typed list carry no kind/apiVersion, as the real apiserver sends them.
            if let Some(o) = d.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            d
        })
        .take(limit)
        .collect();
    let body = json!({
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "metadata": { "resourceVersion": guard.next_rv.to_string() },
        "items": items,
    });
    axum::Json(body).into_response()
}

pub(super) async fn item(
    State(inner): State<Shared>,
    method: Method,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(
        &inner,
        &method,
        format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"),
        &query,
        &headers,
    );
    if let Some(r) = run_fault(&inner, &method, &ns, Some(&name)).await {
        return r;
    }
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = (ns.clone(), name.clone());
    let Some(current) = guard.objects.get(&key).cloned() else {
        return scripted_status(404, &method, &ns, Some(&name));
    };
    let current_rv = current["metadata"]["resourceVersion"].clone();
    let mut next = match method.as_str() {
        "GET" => return axum::Json(current).into_response(),
        "PATCH" => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if content_type != "application/merge-patch+json"
                && content_type != "application/strategic-merge-patch+json"
            {
                return status(
                    415,
                    "UnsupportedMediaType",
                    format!("the fake does not support {content_type:?}"),
                );
            }
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "patch body is not JSON".into());
            };
            let mut next = current.clone();
            merge(&mut next, &patch);
            next
        }
        "PUT" => match serde_json::from_slice::<Value>(&body) {
            Ok(next) => next,
            Err(_) => return status(400, "BadRequest", "body is not JSON".into()),
        },
        other => {
            return status(
                405,
                "MethodNotAllowed",
                format!("{other} is not supported here"),
            );
        }
    };
    // The resourceVersion the writer sent (patch or full object) is a precondition.
    let sent_rv = &next["metadata"]["resourceVersion"];
    if !sent_rv.is_null() && sent_rv != &current_rv {
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on deployments.apps {name:?}: the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    if next["metadata"]["name"] != json!(name) || next["metadata"]["namespace"] != json!(ns) {
        return status(
            400,
            "BadRequest",
            "name or namespace does not match the URL".into(),
        );
    }
    if let Err(e) = serde_json::from_value::<Deployment>(next.clone()) {
        return status(
            422,
            "Invalid",
            format!("Deployment.apps {name:?} is invalid: {e}"),
        );
    }
    guard.bump(&mut next);
    guard.objects.insert(key, next.clone());
    axum::Json(next).into_response()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// `a=b&c=d` with percent-decoding of the values the kube client sends (`,`, `=`, `!`).
fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fake's own (independent) reading of an equality-based selector.
fn selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|part| {
            if let Some((k, v)) = part.split_once("!=") {
                label(k) != Some(v)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                label(k) == Some(v)
            } else if let Some(k) = part.strip_prefix('!') {
                label(k).is_none()
            } else {
                label(part).is_some()
            }
        })
}
