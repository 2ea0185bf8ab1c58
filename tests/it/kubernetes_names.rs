//! Names the apiserver limits: the fake refuses what a real apiserver refuses (422 `Invalid` with
//! `details.causes`), and Deployments named over 63 characters (label values) or close to 253
//! (object names) are scaled with their state recorded.

use crate::support::kube as support;

use alertscaler::backend::{Backend, Update};
use alertscaler::id::FunctionId;
use alertscaler::stored::Stored;
use serde_json::{Value, json};

use support::apiserver::{CONFIGMAPS, FakeApiserver, function_deployment};
use support::{FN_NS, backend, config};

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

/// The annotation (and label) naming a state ConfigMap's function.
const FUNCTION_KEY: &str = "alertscaler.openfaas.com/function";

/// A Deployment labelled like a function (faas-netes would label it with its name, which a real
/// apiserver refuses over 63 characters: such a Deployment is made by other tools).
fn long_named(name: &str) -> Value {
    let labels = [("com.openfaas.scale.max", "10")];
    let mut d = function_deployment(name, FN_NS, Some(1), &labels);
    d["metadata"]["labels"]["faas_function"] = json!("long-fn");
    d["spec"]["selector"]["matchLabels"]["faas_function"] = json!("long-fn");
    d["spec"]["template"]["metadata"]["labels"]["faas_function"] = json!("long-fn");
    d
}

fn id(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        namespace: FN_NS.into(),
    }
}

/// A ledger that `list()` reports back (`settling_to`), to tell whose state a listing found.
fn ledger_heading_to(replicas: u32) -> Stored {
    let mut s = Stored::default();
    s.window.pending = Some(replicas);
    s
}

/// Read `name`, then write 3 replicas with a ledger heading to `to`.
async fn scale_to_three(b: &impl Backend, name: &str, to: u32) {
    let state = b.read(&id(name)).await.unwrap();
    assert_eq!((state.replicas, state.stored), (1, None), "{name}");
    let stored = ledger_heading_to(to);
    let update = Update {
        replicas: Some(3),
        stored: &stored,
        version: &state.version,
    };
    let applied = b.apply(&id(name), update).await;
    assert!(applied.is_ok(), "{} characters: {applied:?}", name.len());
}

/// The state ConfigMaps of the function namespace, as the apiserver lists them.
async fn state_configmaps(fake: &FakeApiserver) -> Vec<Value> {
    let path = format!(
        "/api/v1/namespaces/{FN_NS}/configmaps?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dalertscaler"
    );
    let (code, list) = send(fake, reqwest::Method::GET, &path, Value::Null).await;
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// Over 63 characters a name cannot be a label value; over 241, `alertscaler-<name>` is longer than
/// an object name may be; 253 is the longest Deployment name. 70 and 71 differ only past the part
/// a shortened label keeps.
#[tokio::test]
async fn deployments_named_over_63_characters_are_scaled_with_their_state_recorded() {
    let fake = FakeApiserver::start().await;
    let cfg = config(&[FN_NS]);
    let names: Vec<(String, u32)> = [(70, 2), (71, 4), (241, 5), (253, 6)]
        .into_iter()
        .map(|(len, to)| {
            (
                format!("fn-{}", "x".repeat(len - 4)) + &(len % 10).to_string(),
                to,
            )
        })
        .collect();
    let b = backend(&fake, &cfg);
    for (name, to) in &names {
        fake.put(long_named(name));
        scale_to_three(&b, name, *to).await;
        assert_eq!(fake.replicas(FN_NS, name), Some(3), "{}", name.len());
    }
    // A restarted receiver finds each state by the function's name, and the listing gives each
    // function its own ledger (the shortened label values of 70 and 71 do not mix them up).
    let restarted = backend(&fake, &cfg);
    for (name, to) in &names {
        let state = restarted.read(&id(name)).await.unwrap();
        assert_eq!(state.stored, Some(ledger_heading_to(*to)), "{}", name.len());
    }
    let listed = restarted.list().await.unwrap();
    for (name, to) in &names {
        let f = listed.iter().find(|f| &f.name == name).expect("listed");
        assert_eq!(f.settling_to, Some(*to), "{}", name.len());
    }
    // Every ConfigMap names its function in full; its label is a valid, distinct short form.
    let states = state_configmaps(&fake).await;
    assert_eq!(states.len(), names.len());
    let mut labels: Vec<&str> = Vec::new();
    for (name, _) in &names {
        let cm = states
            .iter()
            .find(|cm| cm["metadata"]["annotations"][FUNCTION_KEY] == json!(name))
            .unwrap_or_else(|| panic!("no state names {name}"));
        let label = cm["metadata"]["labels"][FUNCTION_KEY].as_str().unwrap();
        assert!(label.len() <= 63 && !labels.contains(&label), "{label}");
        labels.push(label);
        let cm_name = cm["metadata"]["name"].as_str().unwrap();
        if name.len() <= 241 {
            assert_eq!(cm_name, format!("alertscaler-{name}"));
        } else {
            assert!(
                cm_name.starts_with("alertscaler-fn-xxx") && cm_name.len() <= 253,
                "{cm_name}"
            );
        }
    }
}

/// A state ConfigMap as the previous version wrote it: no annotation, the label is the name.
#[tokio::test]
async fn state_written_by_the_previous_version_is_still_found() {
    let fake = FakeApiserver::start().await;
    support::echo(&fake);
    let ledger = serde_json::to_string(&ledger_heading_to(2)).unwrap();
    fake.put(json!({
        "kind": "ConfigMap",
        "metadata": {
            "name": "alertscaler-echo", "namespace": FN_NS,
            "labels": { "app.kubernetes.io/managed-by": "alertscaler", FUNCTION_KEY: "echo" },
        },
        "data": { "ledger": ledger },
    }));
    let b = backend(&fake, &config(&[FN_NS]));
    let state = b.read(&id("echo")).await.unwrap();
    assert_eq!(state.stored, Some(ledger_heading_to(2)));
    let listed = b.list().await.unwrap();
    assert_eq!(listed[0].settling_to, Some(2), "{listed:?}");
    let stored = ledger_heading_to(4);
    let update = Update {
        replicas: Some(3),
        stored: &stored,
        version: &state.version,
    };
    b.apply(&id("echo"), update).await.unwrap();
    assert_eq!(state_configmaps(&fake).await.len(), 1, "written in place");
    assert_eq!(b.read(&id("echo")).await.unwrap().stored, Some(stored));
}

/// Only a name made to equal another function's shortened one can reach its state object: it is
/// refused, and the other function's state is left alone.
#[tokio::test]
async fn a_name_equal_to_another_functions_shortened_one_does_not_take_its_state() {
    let fake = FakeApiserver::start().await;
    let b = backend(&fake, &config(&[FN_NS]));
    let long = "y".repeat(253);
    fake.put(long_named(&long));
    scale_to_three(&b, &long, 2).await;
    let states = state_configmaps(&fake).await;
    let taken = states[0]["metadata"]["name"].as_str().unwrap();
    let crafted = taken.strip_prefix("alertscaler-").unwrap().to_owned();
    fake.put(long_named(&crafted));
    let err = b.read(&id(&crafted)).await.unwrap_err();
    assert!(
        matches!(&err, alertscaler::error::BackendError::Ineligible(why) if why.contains(&long)),
        "{err}"
    );
    assert_eq!(state_configmaps(&fake).await, states);
    assert_eq!(fake.replicas(FN_NS, &crafted), Some(1));
}

/// An alert naming a Deployment of 70 characters scales it (CE step: ceil(10 × 20 %) = 2), and the
/// same notification again is a duplicate, read from the state ConfigMap.
#[tokio::test]
async fn an_alert_naming_a_deployment_of_70_characters_scales_it_once() {
    let fake = FakeApiserver::start().await;
    let name = format!("fn-{}", "z".repeat(67));
    fake.put(long_named(&name));
    let cfg = config(&[FN_NS]);
    let alert = support::firing(&format!("{name}.{FN_NS}"));
    let report = support::receiver(&fake, &cfg)
        .handle(&alert, support::now())
        .await;
    support::assert_moved(&report, alertscaler::service::Outcome::Scaled, 1, 3);
    assert_eq!(fake.replicas(FN_NS, &name), Some(3));
    let again = support::receiver(&fake, &cfg)
        .handle(&alert, support::now())
        .await;
    assert!(support::is_duplicate(&again), "{again:?}");
    assert_eq!(fake.replicas(FN_NS, &name), Some(3));
}
