//! The apiserver's validation of object names, labels and annotations, written from apimachinery's
//! rules (`pkg/util/validation`, `ValidateObjectMeta`, `ValidateLabels`), independently of the
//! backend's own code: names are DNS-1123 subdomains (at most 253 characters), label and annotation
//! keys are qualified names, label values at most 63 characters of `[-A-Za-z0-9_.]`, alphanumeric at
//! both ends. A refusal is 422 `Invalid` with `details.causes`, as the real apiserver answers it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{CONFIGMAPS, LEASES};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', \
regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  \
or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', \
and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', \
regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// Total size of an object's annotations (keys and values).
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// One refused field, as `field.Invalid(path, value, detail)`.
pub(super) struct FieldError {
    field: String,
    value: String,
    detail: String,
}

impl FieldError {
    fn new(field: &str, value: &str, detail: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            value: value.to_owned(),
            detail: detail.into(),
        }
    }

    /// `Invalid value: "v": detail` (a cause's message).
    fn body(&self) -> String {
        format!("Invalid value: {:?}: {}", self.value, self.detail)
    }
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `[A-Za-z0-9]` at both ends, `extra` allowed in between; non-empty.
fn shaped(s: &str, alnum: fn(u8) -> bool, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|c| alnum(*c) || extra.contains(c))
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `IsDNS1123Subdomain`: the messages, none when valid.
fn subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len(253));
    }
    if !s.split('.').all(|part| shaped(part, lower_alnum, b"-")) {
        errs.push(SUBDOMAIN_MSG.to_owned());
    }
    errs
}

/// `IsValidLabelValue`.
fn label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len(63));
    }
    if !v.is_empty() && !shaped(v, |c| c.is_ascii_alphanumeric(), b"-_.") {
        errs.push(LABEL_VALUE_MSG.to_owned());
    }
    errs
}

/// `IsQualifiedName`: `[prefix/]name`.
fn qualified_name(k: &str) -> Vec<String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let mut errs = Vec::new();
    match prefix {
        Some("") => errs.push("prefix part must be non-empty".to_owned()),
        Some(p) => errs.extend(subdomain(p).into_iter().map(|m| format!("prefix part {m}"))),
        None => {}
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > 63 {
            errs.push(format!("name part {}", max_len(63)));
        }
        if !shaped(name, |c| c.is_ascii_alphanumeric(), b"-_.") {
            errs.push(NAME_PART_MSG.to_owned());
        }
    }
    errs
}

fn map(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn labels(field: &str, value: &Value, errs: &mut Vec<FieldError>) {
    for (k, v) in map(value) {
        errs.extend(
            qualified_name(&k)
                .into_iter()
                .map(|m| FieldError::new(field, &k, m)),
        );
        errs.extend(
            label_value(&v)
                .into_iter()
                .map(|m| FieldError::new(field, &v, m)),
        );
    }
}

fn annotations(field: &str, value: &Value, errs: &mut Vec<FieldError>) {
    let mut total = 0;
    for (k, v) in map(value) {
        let lower = k.to_ascii_lowercase();
        errs.extend(
            qualified_name(&lower)
                .into_iter()
                .map(|m| FieldError::new(field, &k, m)),
        );
        total += k.len() + v.len();
    }
    if total > ANNOTATIONS_MAX_BYTES {
        let detail = format!("may not be more than {ANNOTATIONS_MAX_BYTES} bytes");
        errs.push(FieldError::new(field, "", detail));
    }
}

/// Every problem with `object`'s metadata (and, for a Deployment, its selector and pod template).
pub(super) fn check(resource: &str, object: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    errs.extend(
        subdomain(name)
            .into_iter()
            .map(|m| FieldError::new("metadata.name", name, m)),
    );
    labels("metadata.labels", &meta["labels"], &mut errs);
    annotations("metadata.annotations", &meta["annotations"], &mut errs);
    if resource != CONFIGMAPS && resource != LEASES {
        let spec = &object["spec"];
        labels(
            "spec.selector.matchLabels",
            &spec["selector"]["matchLabels"],
            &mut errs,
        );
        let template = &spec["template"]["metadata"];
        labels(
            "spec.template.metadata.labels",
            &template["labels"],
            &mut errs,
        );
        let field = "spec.template.metadata.annotations";
        annotations(field, &template["annotations"], &mut errs);
    }
    errs
}

/// The errors as one message: `field: Invalid value: …`, several in `[…, …]`.
pub(super) fn aggregate(errs: &[FieldError]) -> String {
    let lines: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e.field, e.body()))
        .collect();
    match lines.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// `errors.NewInvalid`: 422, reason `Invalid`, a cause per field error, the message aggregating them.
pub(super) fn invalid(kind: &str, group: &str, name: &str, errs: &[FieldError]) -> Response {
    let aggregate = aggregate(errs);
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({ "reason": "FieldValueInvalid", "message": e.body(), "field": e.field }))
        .collect();
    let mut details = json!({ "name": name, "kind": kind, "causes": causes });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{qualified} {name:?} is invalid: {aggregate}"),
        "reason": "Invalid", "details": details, "code": 422,
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}
