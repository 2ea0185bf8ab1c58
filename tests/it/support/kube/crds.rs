//! The two Prometheus Operator custom resources deploy/ ships, typed after their published schema
//! (monitoring.coreos.com/v1 `PrometheusRule` and `ServiceMonitor`, prometheus-operator's CRDs).
//! k8s-openapi has no CRD types, so these mirror the schema's fields — only the ones an object of
//! ours may use; decoded with [`super::manifests::strict`], any other field is an error, as the
//! apiserver's structural-schema pruning would silently drop it. Required fields are not `Option`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

/// `monitoring.coreos.com/v1` `PrometheusRule`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PrometheusRuleSpec,
}

/// `spec` of a PrometheusRule.
#[derive(Debug, Deserialize)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

/// `spec.groups[]`: the rule file's group.
#[derive(Debug, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// `spec.groups[].rules[]`: exactly one of `alert` and `record`; `expr` is int-or-string.
#[derive(Debug, Deserialize)]
pub struct Rule {
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: IntOrString,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub keep_firing_for: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `monitoring.coreos.com/v1` `ServiceMonitor`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ServiceMonitorSpec,
}

/// `spec` of a ServiceMonitor (`selector` and `endpoints` are required).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<Endpoint>,
    pub namespace_selector: Option<NamespaceSelector>,
    pub job_label: Option<String>,
}

/// `spec.namespaceSelector`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    pub match_names: Option<Vec<String>>,
}

/// `spec.endpoints[]`: `port` names a Service port.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
}

/// The schema's `Duration` pattern:
/// `^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`.
pub fn is_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let units = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut next = 0; // units must appear in this order, each at most once
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        // "ms" before "m" so "5ms" is not read as "5m" + "s".
        let Some(unit) = ["ms", "y", "w", "d", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        let at = units.iter().position(|u| *u == unit).unwrap();
        if at < next {
            return false;
        }
        next = at + 1;
        rest = &rest[unit.len()..];
    }
    !s.is_empty()
}
