//! Request handling of the fake apiserver: routing by path, Status error bodies, scripted faults,
//! create, RFC 7386 merge patches, the resourceVersion precondition, label-selector lists (full or
//! metadata-only) and the faas-netes CE controller after Deployment writes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};

use super::validation;
use super::wire::{merge, selector_matches, url_pairs};
use super::{Action, CONFIGMAPS, DEPLOYMENTS, Key, LEASES, Seen, Shared};

pub(super) fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

/// (apiVersion, kind, RBAC resource) of a resource.
fn meta(resource: &str) -> (&'static str, &'static str, &'static str) {
    match resource {
        CONFIGMAPS => ("v1", "ConfigMap", "configmaps"),
        LEASES => (
            "coordination.k8s.io/v1",
            "Lease",
            "leases.coordination.k8s.io",
        ),
        _ => ("apps/v1", "Deployment", "deployments.apps"),
    }
}

fn scripted_status(
    code: u16,
    method: &Method,
    resource: &str,
    ns: &str,
    name: Option<&str>,
) -> Response {
    let verb = match (method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        _ => "other",
    };
    let rbac = meta(resource).2;
    let what = name.map_or(rbac.to_owned(), |n| format!("{rbac} {n:?}"));
    match code {
        403 => status(
            403,
            "Forbidden",
            format!(
                "{what} is forbidden: User \"system:serviceaccount:openfaas:alertscaler\" cannot {verb} \
             resource \"{resource}\" in the namespace \"{ns}\""
            ),
        ),
        404 => status(404, "NotFound", format!("{what} not found")),
        409 => status(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {what}: scripted"),
        ),
        429 => status(
            429,
            "TooManyRequests",
            "too many requests, please try again later".into(),
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
        504 => status(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted".into(),
        ),
        other => status(other, "Unknown", format!("scripted status {other}")),
    }
}

/// What the scripted fault (if any) leaves to do after the request is served.
enum After {
    Nothing,
    Delay(std::time::Duration),
}

async fn run_fault(
    inner: &Shared,
    method: &Method,
    key: &Key,
    item: bool,
) -> Result<After, Response> {
    let (resource, ns, name) = key;
    let action = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fault) = guard.faults.iter_mut().find(|f| {
            f.resource == resource
                && f.method.as_ref().is_none_or(|m| m == method)
                && f.remaining != Some(0)
        }) else {
            return Ok(After::Nothing);
        };
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        fault.action.clone()
    };
    let name = item.then_some(name.as_str());
    match action {
        Action::Status(code) => return Err(scripted_status(code, method, resource, ns, name)),
        Action::Deny(code, message) => {
            let reason = match code {
                400 => "BadRequest",
                422 => "Invalid",
                _ => "Forbidden",
            };
            return Err(status(code, reason, message));
        }
        Action::Delay(d) => tokio::time::sleep(d).await,
        Action::CommitThenDelay(d) => return Ok(After::Delay(d)),
        Action::Gate(barrier) => {
            barrier.wait().await;
        }
        Action::Interfere(change) => {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut object) = guard.objects.remove(key) {
                change(&mut object);
                guard.bump(&mut object);
                guard.objects.insert(key.clone(), object);
            }
        }
    }
    Ok(After::Nothing)
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `(resource, namespace, name)` of a path this fake serves.
fn route(path: &str) -> Option<(&'static str, String, Option<String>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (resource, ns, rest) = match segments.as_slice() {
        [
            "apis",
            "apps",
            "v1",
            "namespaces",
            ns,
            "deployments",
            rest @ ..,
        ] => (DEPLOYMENTS, ns, rest),
        ["api", "v1", "namespaces", ns, "configmaps", rest @ ..] => (CONFIGMAPS, ns, rest),
        [
            "apis",
            "coordination.k8s.io",
            "v1",
            "namespaces",
            ns,
            "leases",
            rest @ ..,
        ] => (LEASES, ns, rest),
        _ => return None,
    };
    match rest {
        [] => Some((resource, (*ns).to_owned(), None)),
        [name] => Some((resource, (*ns).to_owned(), Some((*name).to_owned()))),
        _ => None,
    }
}

pub(super) async fn serve(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((resource, ns, name)) = route(uri.path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    };
    let query = uri.query().unwrap_or_default().to_owned();
    inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .seen
        .push(Seen {
            method: method.clone(),
            resource: resource.into(),
            path: uri.path().into(),
            query: query.clone(),
            content_type: header(&headers, header::CONTENT_TYPE),
            accept: header(&headers, header::ACCEPT),
            user_agent: header(&headers, header::USER_AGENT),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    let key = (resource.to_owned(), ns, name.clone().unwrap_or_default());
    let after = match run_fault(&inner, &method, &key, name.is_some()).await {
        Ok(after) => after,
        Err(response) => return response,
    };
    let response = match (name.is_some(), method.as_str()) {
        (false, "GET") => list(&inner, &key, &query, &header(&headers, header::ACCEPT)),
        (false, "POST") => create(&inner, &key, &body),
        (true, "GET" | "PATCH" | "PUT") => item(&inner, &method, &key, &headers, &body),
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        ),
    };
    if let After::Delay(d) = after {
        tokio::time::sleep(d).await;
    }
    response
}

fn list(inner: &Shared, key: &Key, query: &str, accept: &str) -> Response {
    let (resource, ns, _) = key;
    let params: BTreeMap<String, String> = url_pairs(query);
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let metadata_only = accept.contains("as=PartialObjectMetadataList");
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let items: Vec<Value> = guard
        .objects
        .iter()
        .filter(|((r, n, _), o)| r == resource && n == ns && selector_matches(&selector, &o["metadata"]["labels"]))
        .map(|(_, o)| {
            if metadata_only {
                return json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"] });
            }
            // Items of a typed list carry no kind/apiVersion, as the real apiserver sends them.
            let mut o = o.clone();
            if let Some(map) = o.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            o
        })
        .take(limit)
        .collect();
    let (api_version, kind, _) = meta(resource);
    let (api_version, kind) = if metadata_only {
        ("meta.k8s.io/v1", "PartialObjectMetadataList".to_owned())
    } else {
        (api_version, format!("{kind}List"))
    };
    let body = json!({
        "kind": kind, "apiVersion": api_version,
        "metadata": { "resourceVersion": guard.next_rv.to_string() },
        "items": items,
    });
    axum::Json(body).into_response()
}

fn create(inner: &Shared, key: &Key, body: &Bytes) -> Response {
    let (resource, ns, _) = key;
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "body is not JSON".into());
    };
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(422, "Invalid", "metadata.name: Required value".into());
    };
    let (api_version, kind, rbac) = meta(resource);
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    object["metadata"]["namespace"] = json!(ns);
    if let Err(e) = validate(resource, &object) {
        return status(422, "Invalid", format!("{kind} {name:?} is invalid: {e}"));
    }
    if let Some(refused) = refuse_invalid(resource, &name, &object) {
        return refused;
    }
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = (resource.clone(), ns.clone(), name.clone());
    if guard.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            format!("{rbac} {name:?} already exists"),
        );
    }
    guard.bump(&mut object);
    guard.objects.insert(key, object.clone());
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

fn validate(resource: &str, object: &Value) -> Result<(), String> {
    let v = object.clone();
    match resource {
        CONFIGMAPS => serde_json::from_value::<ConfigMap>(v).map(|_| ()),
        LEASES => serde_json::from_value::<Lease>(v).map(|_| ()),
        _ => serde_json::from_value::<Deployment>(v).map(|_| ()),
    }
    .map_err(|e| e.to_string())
}

/// The apiserver's metadata validation: 422 Invalid naming every refused field, or `None`.
fn refuse_invalid(resource: &str, name: &str, object: &Value) -> Option<Response> {
    let errs = validation::check(resource, object);
    if errs.is_empty() {
        return None;
    }
    let (api_version, kind, _) = meta(resource);
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Some(validation::invalid(kind, group, name, &errs))
}

fn item(inner: &Shared, method: &Method, key: &Key, headers: &HeaderMap, body: &Bytes) -> Response {
    let (resource, ns, name) = key;
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let Some(current) = guard.objects.get(key).cloned() else {
        return scripted_status(404, method, resource, ns, Some(name));
    };
    let mut next = match method.as_str() {
        "GET" => return axum::Json(current).into_response(),
        "PATCH" => {
            let content_type = header(headers, header::CONTENT_TYPE);
            if content_type != "application/merge-patch+json" {
                return status(
                    415,
                    "UnsupportedMediaType",
                    format!("the fake does not support {content_type:?}"),
                );
            }
            let Ok(patch) = serde_json::from_slice::<Value>(body) else {
                return status(400, "BadRequest", "patch body is not JSON".into());
            };
            let mut next = current.clone();
            merge(&mut next, &patch);
            next
        }
        _ => match serde_json::from_slice::<Value>(body) {
            Ok(next) => next,
            Err(_) => return status(400, "BadRequest", "body is not JSON".into()),
        },
    };
    // The resourceVersion the writer sent (patch or full object) is a precondition.
    let sent = &next["metadata"]["resourceVersion"];
    if !sent.is_null() && sent != &current["metadata"]["resourceVersion"] {
        let rbac = meta(resource).2;
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {rbac} {name:?}: the object has been modified; \
             please apply your changes to the latest version and try again"
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
    if let Err(e) = validate(resource, &next) {
        return status(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: {e}", meta(resource).1),
        );
    }
    if let Some(refused) = refuse_invalid(resource, name, &next) {
        return refused;
    }
    // No change: no new version (the apiserver's no-op short-cut).
    let mut unchanged = next.clone();
    unchanged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    if unchanged == current {
        return axum::Json(current).into_response();
    }
    guard.bump(&mut next);
    guard.objects.insert(key.clone(), next.clone());
    if resource == DEPLOYMENTS {
        guard.clamp(key);
        guard.observe(key);
    }
    axum::Json(next).into_response()
}
