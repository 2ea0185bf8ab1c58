//! Tests of the gateway's refusal messages.

use reqwest::StatusCode;

use super::refusals::{refusal, scale_refused};
use crate::error::BackendError;
use crate::id::FunctionId;

fn figlet() -> FunctionId {
    FunctionId::parse("figlet.openfaas-fn", "openfaas-fn").unwrap()
}

fn message(replicas: u32, body: &str) -> String {
    match scale_refused(&figlet(), replicas, body.as_bytes()) {
        BackendError::Ineligible(m) => m,
        other => panic!("not ineligible: {other:?}"),
    }
}

#[test]
fn a_refused_scale_to_0_names_faasd_and_carries_the_body() {
    let m = message(0, "replicas must be greater than 0\n");
    assert!(
        m.contains("scale to 0 (400: replicas must be greater than 0)"),
        "{m}"
    );
    assert!(
        m.contains("faasd rejects 0") && m.contains("scale_to_zero = false"),
        "{m}"
    );
}

#[test]
fn a_refused_read_names_ce_s_namespace_only_outside_it() {
    let refused = |id: &str| match refusal(
        &FunctionId::parse(id, "openfaas-fn").unwrap(),
        StatusCode::BAD_REQUEST,
        b"bad request\n",
    ) {
        BackendError::Ineligible(m) => m,
        other => panic!("not ineligible: {other:?}"),
    };
    let m = refused("figlet.dev");
    assert!(
        m.contains("(400: bad request); OpenFaaS CE serves only the openfaas-fn namespace"),
        "{m}"
    );
    let m = refused("figlet.openfaas-fn");
    assert!(m.ends_with("(400: bad request)"), "{m}");
}

#[test]
fn a_refused_scale_to_another_count_carries_only_the_gateways_words() {
    for (replicas, body, words) in [
        (3, "  quota exceeded\r\n", "(400: quota exceeded)"),
        (1, "", "(400: (empty body))"),
    ] {
        let m = message(replicas, body);
        assert!(m.contains(&format!("scale to {replicas} {words}")), "{m}");
        assert!(!m.contains("faasd") && !m.contains("scale_to_zero"), "{m}");
    }
    let long = "é".repeat(5000);
    let m = message(7, &long);
    assert_eq!(m.matches('é').count(), 200, "{m}");
    assert!(m.ends_with("…)"), "{m}");
}
