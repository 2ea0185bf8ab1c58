//! What the scaling rules read from a Deployment: its replicas and its scaling labels.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;

/// Prefix of the scaling keys that are also read from annotations.
const SCALE_PREFIX: &str = "com.openfaas.scale.";

/// Replicas as Kubernetes defaults them: an absent `spec.replicas` means 1.
pub(super) fn replicas(d: &Deployment) -> u32 {
    let r = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    u32::try_from(r).unwrap_or(0)
}

/// The labels the scaling rules are read from, lowest precedence first:
/// `com.openfaas.scale.*` annotations of the Deployment, then those of the pod template, then the
/// Deployment's labels, then the pod template's labels (where faas-netes puts a function's labels,
/// and what OpenFaaS itself reports). A later source overrides an earlier one key by key.
pub(crate) fn scaling_labels(d: &Deployment) -> BTreeMap<String, String> {
    let template = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    let scale_annotations = |a: Option<&BTreeMap<String, String>>| {
        a.into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(SCALE_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let mut merged = BTreeMap::new();
    merged.extend(scale_annotations(d.metadata.annotations.as_ref()));
    merged.extend(scale_annotations(
        template.and_then(|t| t.annotations.as_ref()),
    ));
    merged.extend(d.metadata.labels.clone().unwrap_or_default());
    merged.extend(template.and_then(|t| t.labels.clone()).unwrap_or_default());
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scaling_labels_precedence_template_labels_then_labels_then_annotations() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {
                "name": "echo",
                "labels": { "faas_function": "echo", "com.openfaas.scale.max": "8", "com.openfaas.scale.min": "2" },
                "annotations": {
                    "com.openfaas.scale.max": "1", "com.openfaas.scale.factor": "30",
                    "com.openfaas.scale.zero": "true", "kubectl.kubernetes.io/last-applied-configuration": "{}"
                },
            },
            "spec": {
                "selector": {},
                "template": { "metadata": {
                    "labels": { "com.openfaas.scale.max": "6" },
                    "annotations": { "com.openfaas.scale.factor": "40" },
                } },
            },
        }))
        .unwrap();
        let l = scaling_labels(&d);
        let get = |k: &str| l.get(k).map(String::as_str);
        assert_eq!(
            get("com.openfaas.scale.max"),
            Some("6"),
            "template label wins"
        );
        assert_eq!(get("com.openfaas.scale.min"), Some("2"), "Deployment label");
        assert_eq!(
            get("com.openfaas.scale.factor"),
            Some("40"),
            "template annotation over Deployment's"
        );
        assert_eq!(
            get("com.openfaas.scale.zero"),
            Some("true"),
            "Deployment annotation"
        );
        assert_eq!(get("faas_function"), Some("echo"));
        assert!(!l.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert_eq!(replicas(&d), 1, "absent spec.replicas defaults to 1");
    }
}
