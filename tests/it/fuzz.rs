//! A mutation fuzz of the webhook through the real router: real payloads mutated structurally
//! (drop, duplicate, retype, truncate, swap fields; hostile strings), sometimes cut or corrupted
//! at a byte. Every case must be answered with a JSON 200 or 400, never panic, and leave every
//! function inside its label bounds.
//!
//! The suite runs a short pass (`FUZZ_CASES`, default 300); `scripts/fuzz.sh` runs
//! ≥ 100 000 cases and prints the summary line this test writes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use alertscaler::backend::memory::MemoryBackend;
use alertscaler::config::Config;
use alertscaler::labels::ScaleLabels;
use alertscaler::service::Settings;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::Value;

use crate::support::mutate::{self, Edit};
use crate::support::{app_with, sample_config};

/// The sample configuration with every function started inside its label bounds.
fn config_in_bounds() -> (Config, Vec<(String, Option<ScaleLabels>)>) {
    let mut config = sample_config();
    let settings = Settings::from_config(&config);
    let mut bounds = Vec::new();
    for f in &mut config.memory.functions {
        let parsed = settings.labels.parse(&f.labels).ok();
        if let Some(l) = &parsed {
            f.replicas = f.replicas.clamp(l.min, l.max);
        }
        bounds.push((f.name.clone(), parsed));
    }
    (config, bounds)
}

#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    panics: u64,
    accepted: u64,
    refused: u64,
}

type Case = ((Value, Vec<Edit>), Option<usize>, Option<(usize, u8)>);

fn case() -> impl Strategy<Value = Case> {
    (
        mutate::mutated(),
        prop::option::weighted(0.2, any::<usize>()),
        prop::option::weighted(0.2, (any::<usize>(), any::<u8>())),
    )
}

/// Post one mutated payload; `Err` describes a broken property.
fn check(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    bounds: &[(String, Option<ScaleLabels>)],
    bytes: Vec<u8>,
    tally: &mut Tally,
) -> Result<(), String> {
    let (app, memory): (_, Arc<MemoryBackend>) = app_with(config.clone());
    let request = Request::post("/system/alert")
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap();
    let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            use tower::ServiceExt;
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        })
    }));
    let Ok((status, body)) = answered else {
        tally.panics += 1;
        return Err("the handler panicked".into());
    };
    match status {
        StatusCode::OK => tally.accepted += 1,
        StatusCode::BAD_REQUEST => tally.refused += 1,
        other => return Err(format!("answered {other}")),
    }
    if serde_json::from_slice::<Value>(&body).is_err() {
        return Err(format!(
            "body is not JSON: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    for (name, labels) in bounds {
        let id = crate::support::doubles::function(name);
        let replicas = memory.replicas(&id).unwrap();
        let start = config
            .memory
            .functions
            .iter()
            .find(|f| &f.name == name)
            .unwrap()
            .replicas;
        let inside = match labels {
            Some(l) => (l.min..=l.max).contains(&replicas) || (l.zero && replicas == 0),
            None => replicas == start,
        };
        if !inside {
            return Err(format!("{name} at {replicas}, labels {labels:?}"));
        }
    }
    Ok(())
}

#[test]
fn mutated_real_payloads_are_answered_and_keep_every_function_in_bounds() {
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (config, bounds) = config_in_bounds();
    let tally = std::cell::RefCell::new(Tally::default());
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&case(), |((base, edits), cut, flip)| {
        let mut tally = tally.borrow_mut();
        tally.cases += 1;
        let doc = mutate::apply(base, &edits);
        let bytes = mutate::damaged(&doc, cut, flip);
        check(&runtime, &config, &bounds, bytes, &mut tally).map_err(TestCaseError::fail)
    });
    let tally = tally.into_inner();
    println!(
        "fuzz: {} cases, {} panics, {} accepted (200), {} refused (400)",
        tally.cases, tally.panics, tally.accepted, tally.refused
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(tally.panics, 0);
    assert!(tally.cases >= u64::from(cases));
    // Both paths were exercised: mutations that still parse and ones that do not.
    assert!(tally.accepted > 0 && tally.refused > 0, "{tally:?}");
}
