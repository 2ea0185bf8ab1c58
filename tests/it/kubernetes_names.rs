//! Names the apiserver limits: the fake refuses what a real apiserver refuses (422 `Invalid` with
//! `details.causes`), and Deployments named over 63 characters (label values) or close to 253
//! (object names) are scaled with their state recorded.

use crate::support::kube as support;

use serde_json::{Value, json};

use support::FN_NS;
use support::apiserver::{CONFIGMAPS, FakeApiserver, function_deployment};

async fn send(
    fake: &FakeApiserver,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let content_type = if method == reqwest::Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    // reqwest is built without a default TLS provider; plain HTTP still asks for one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .request(method, format!("http://{}{path}", fake.addr))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn configmap(name: &str, labels: Value, annotations: Value) -> Value {
    json!({ "metadata": { "name": name, "labels": labels, "annotations": annotations }, "data": {} })
}

/// The refusal is shaped as the real apiserver's: a Status, reason Invalid, 422, the fields in
/// `details.causes`.
fn assert_invalid(code: u16, body: &Value, kind: &str, name: &str, field: &str, says: &str) {
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["reason"], "Invalid", "{body}");
    assert_eq!(body["code"], 422, "{body}");
    assert_eq!(body["details"]["kind"], kind, "{body}");
    assert_eq!(body["details"]["name"], name, "{body}");
    let causes = body["details"]["causes"].as_array().expect("causes");
    assert!(
        causes.iter().any(|c| c["field"] == field
            && c["reason"] == "FieldValueInvalid"
            && c["message"].as_str().unwrap().contains(says)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("is invalid") && message.contains(field),
        "{message}"
    );
}

#[tokio::test]
async fn the_fake_apiserver_refuses_invalid_names_labels_and_annotations_with_422_invalid() {
    let fake = FakeApiserver::start().await;
    let path = format!("/api/v1/namespaces/{FN_NS}/configmaps");
    let long_value = "v".repeat(64);
    let long_name = "n".repeat(254);
    let cases = [
        (
            configmap("ok", json!({ "f": long_value }), json!({})),
            "metadata.labels",
            "must be no more than 63 characters",
        ),
        (
            configmap("ok", json!({ "f": "-starts-with-dash" }), json!({})),
            "metadata.labels",
            "a valid label must be",
        ),
        (
            configmap("ok", json!({ "bad key!": "v" }), json!({})),
            "metadata.labels",
            "name part must consist",
        ),
        (
            configmap("ok", json!({ "Upper.Prefix/k": "v" }), json!({})),
            "metadata.labels",
            "prefix part a lowercase RFC 1123",
        ),
        (
            configmap("ok", json!({}), json!({ "/k": "v" })),
            "metadata.annotations",
            "prefix part must be non-empty",
        ),
        (
            configmap(&long_name, json!({}), json!({})),
            "metadata.name",
            "must be no more than 253 characters",
        ),
        (
            configmap("Upper_case", json!({}), json!({})),
            "metadata.name",
            "a lowercase RFC 1123 subdomain",
        ),
        (
            configmap("a.-b", json!({}), json!({})),
            "metadata.name",
            "a lowercase RFC 1123 subdomain",
        ),
    ];
    for (object, field, says) in cases {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let (code, body) = send(&fake, reqwest::Method::POST, &path, object).await;
        assert_invalid(code, &body, "ConfigMap", &name, field, says);
        assert!(
            fake.get_on(CONFIGMAPS, FN_NS, &name).is_none(),
            "{name} was stored"
        );
    }
    // At the limits, everything is accepted.
    let at_limits = configmap(
        &format!("{}.b", "a".repeat(251)),
        json!({ format!("{}/{}", "p".repeat(253), "k".repeat(63)): "v".repeat(63), "empty": "" }),
        json!({ "x/y_z.1": "any value, of any length" }),
    );
    let (code, body) = send(&fake, reqwest::Method::POST, &path, at_limits).await;
    assert_eq!(code, 201, "{body}");
    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
    let before = fake.get_on(CONFIGMAPS, FN_NS, &name).unwrap();
    // An update is validated as well, and a refused one changes nothing.
    let patch = json!({ "metadata": { "labels": { "f": long_value } } });
    let (code, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("{path}/{name}"),
        patch,
    )
    .await;
    assert_invalid(
        code,
        &body,
        "ConfigMap",
        &name,
        "metadata.labels",
        "no more than 63",
    );
    assert_eq!(fake.get_on(CONFIGMAPS, FN_NS, &name), Some(before));
    // A Deployment's group is named, and its pod template's labels are checked too.
    fake.put(function_deployment("echo", FN_NS, Some(1), &[]));
    let patch =
        json!({ "spec": { "template": { "metadata": { "labels": { "f": long_value } } } } });
    let (code, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/apis/apps/v1/namespaces/{FN_NS}/deployments/echo"),
        patch,
    )
    .await;
    assert_invalid(
        code,
        &body,
        "Deployment",
        "echo",
        "spec.template.metadata.labels",
        "no more than 63",
    );
    assert_eq!(body["details"]["group"], "apps", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment.apps \"echo\" is invalid: "),
        "{body}"
    );
}
