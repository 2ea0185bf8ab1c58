//! What a real OpenFaaS CE 0.27 gateway and its providers do (docs/openfaas.md lists each with its
//! source), against the in-process gateway that imitates them, and what alertscaler does about it:
//! the 1–5 clamp, CE 0.27's step, min 0, a 400 to a scale, a listing without Prometheus, a
//! function that vanished (faas-netes 500, faasd 404), whitespace in secret files, and a state
//! directory that is gone.

use crate::support::openfaas::{env, mock};

use alertscaler::backend::openfaas::OpenFaasBackend;
use alertscaler::backend::{Backend, Update};
use alertscaler::config::Platform;
use alertscaler::error::BackendError;
use alertscaler::service::Outcome;
use chrono::TimeDelta;
use env::*;
use mock::{Function, Provider};

fn echo(replicas: u64) -> Function {
    let mut f = labelled(replicas);
    f.labels
        .insert("com.openfaas.scale.max".into(), "20".into());
    f.labels
        .insert("com.openfaas.scale.factor".into(), "20".into());
    f
}

#[tokio::test]
async fn a_clamped_scale_is_reported_with_the_count_the_gateway_set() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    gw.with(|g| g.ce_clamp = true);
    let env = Env::new(&gw);
    let service = env.service(env.backend());
    let report = service.handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 5);
    let reason = &only(&report).reason;
    assert!(
        reason.contains("asked 6, the gateway set 5: OpenFaaS CE allows 1 to 5 replicas"),
        "{reason}"
    );
    let recorded = service.audit().recent(Some(10));
    assert_eq!(
        recorded.last().unwrap().report.to,
        Some(5),
        "the audit records what was set"
    );
}

/// The same clamp when the scale is completed later (its first call failed with a 500): the
/// retried notification sends 6 again, the gateway sets 5, and the report says 5, not 6.
#[tokio::test]
async fn a_clamped_scale_sent_again_is_reported_with_the_count_the_gateway_set() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    gw.with(|g| {
        g.ce_clamp = true;
        g.fail_scales = 1;
    });
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 0;
    let service = env.service(env.backend());
    assert_outcome(&service.handle(&firing(), t0()).await, Outcome::Error);
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(3))
        .await;
    assert_eq!(gw.replicas("figlet"), 5);
    assert_scaled(&report, 1, 5);
    let reason = &only(&report).reason;
    assert!(reason.contains("the gateway set 5"), "{reason}");
    let recorded = service.audit().recent(Some(10));
    assert_eq!(recorded.last().unwrap().report.to, Some(5));
}

#[tokio::test]
async fn on_the_ce_platform_policies_plan_within_five_and_step_like_ce_0_27() {
    let gw = mock::start(&[("figlet", echo(1))]).await;
    gw.with(|g| g.ce_clamp = true);
    let mut env = Env::new(&gw);
    env.config.platform = Platform::openfaas_ce();
    env.config.validate().unwrap();
    let service = env.service(env.backend());
    // echo-fn on a CE 0.27.14 gateway (max 20, factor 20): 1 → 2 → 3 → 4 → 5, then held at 5.
    let mut seen = vec![gw.replicas("figlet")];
    for i in 0..5 {
        let report = service
            .handle(&firing(), t0() + TimeDelta::seconds(25 * i))
            .await;
        seen.push(gw.replicas("figlet"));
        if i == 4 {
            let reason = assert_outcome(&report, Outcome::Unchanged);
            assert!(
                reason.contains("label max 20 capped to 5: OpenFaaS CE allows at most 5 replicas"),
                "{reason}"
            );
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 5]);
    let asked: Vec<u64> = gw.with(|g| {
        g.scales
            .iter()
            .map(|s| s["replicas"].as_u64().unwrap())
            .collect()
    });
    assert_eq!(
        asked,
        [2, 3, 4, 5],
        "never a count the gateway would rewrite"
    );

    // min 0 on a platform that cannot scale to zero: refused, saying what to do.
    gw.with(|g| {
        let f = g.functions.get_mut("figlet").unwrap();
        f.labels.insert("com.openfaas.scale.min".into(), "0".into());
        f.labels
            .insert("com.openfaas.scale.zero".into(), "true".into());
    });
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(200))
        .await;
    let reason = assert_outcome(&report, Outcome::Refused);
    assert!(
        reason.contains("does not scale to zero") && reason.contains("to 1 or more"),
        "{reason}"
    );
}

#[tokio::test]
async fn min_zero_scales_to_zero_where_the_platform_allows_it() {
    let mut f = labelled(3);
    f.labels.insert("com.openfaas.scale.min".into(), "0".into());
    let gw = mock::start(&[("figlet", f)]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let service = env.service(backend.clone());
    // faasd (the mock's default) refuses 0 with 400: refused, nothing changed, no retry.
    let report = service
        .handle(&webhook("resolved", "figlet.openfaas-fn"), t0())
        .await;
    let reason = assert_outcome(&report, Outcome::Refused);
    assert!(
        reason.contains("scale to 0")
            && reason.contains("(400: replicas must be greater than 0)")
            && reason.contains("faasd rejects 0"),
        "{reason}"
    );
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (3, 1));
    // A CE gateway rewrites 0 to 1: reported as set, saying so.
    gw.with(|g| g.ce_clamp = true);
    let report = service
        .handle(
            &webhook("resolved", "figlet.openfaas-fn"),
            t0() + TimeDelta::seconds(1),
        )
        .await;
    assert_scaled(&report, 3, 1);
    assert!(
        only(&report).reason.contains("asked 0, the gateway set 1"),
        "{report:?}"
    );
}

/// A 400 to a scale of another count than 0 is not faasd's refusal of 0: the reason carries the
/// gateway's own words, trimmed and cut to a bounded length, and nothing else is claimed.
#[tokio::test]
async fn a_refused_scale_carries_the_gateways_words_and_names_faasd_only_for_0() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let service = env.service(env.backend());
    let quota = "  \n replicas exceed the namespace quota\n";
    gw.with(|g| g.scale_script.push_back((false, 400, quota.into())));
    let reason = assert_outcome(&service.handle(&firing(), t0()).await, Outcome::Refused);
    assert!(
        reason.contains("scale to 6 (400: replicas exceed the namespace quota)"),
        "{reason}"
    );
    assert!(
        !reason.contains("faasd") && !reason.contains("scale_to_zero"),
        "{reason}"
    );
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (1, 1));

    // A long body is cut, not carried whole into the report, the log and the audit.
    let long = format!("quota {}", "Z".repeat(10_000));
    gw.with(|g| g.scale_script.push_back((false, 400, long)));
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(1))
        .await;
    let reason = assert_outcome(&report, Outcome::Refused);
    let kept = reason.matches('Z').count();
    assert!(
        (100..=200).contains(&kept) && reason.contains("quota ZZZ") && reason.contains('…'),
        "{kept} of the body's 10000: {reason}"
    );
    assert!(!reason.contains("faasd"), "{reason}");
}

#[tokio::test]
async fn listing_without_prometheus_is_a_clear_error_then_falls_back_to_known_functions() {
    let gw = mock::start(&[("figlet", labelled(1)), ("other", labelled(2))]).await;
    gw.with(|g| g.no_prometheus = true);
    let env = Env::new(&gw);
    let backend = env.backend();
    let err = backend.list().await.unwrap_err().to_string();
    assert!(
        err.contains("cannot list functions through the gateway") && err.contains("Prometheus"),
        "{err}"
    );

    let state = alertscaler::server::state(&env.config, backend.clone()).unwrap();
    let (status, body) = get(state, "/system/functions").await;
    assert_eq!(status, 503);
    assert!(body.contains("Prometheus"), "{body}");

    // Once the state file knows figlet, the settle and refresh loops still reach it.
    let report = env.service(backend.clone()).handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);
    let list = backend.list().await.unwrap();
    let names: Vec<(&str, u32)> = list.iter().map(|f| (f.name.as_str(), f.replicas)).collect();
    assert_eq!(
        names,
        [("figlet", 6)],
        "read one by one, unknown functions left out"
    );

    gw.with(|g| g.no_prometheus = false);
    assert_eq!(backend.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_function_that_vanished_is_refused_after_a_read_shows_it_gone() {
    for (provider, posts) in [(Provider::FaasNetes, 3), (Provider::Faasd, 1)] {
        let gw = mock::start(&[("figlet", labelled(1))]).await;
        gw.with(|g| g.provider = provider);
        let env = Env::new(&gw);
        let backend = env.backend();
        let read = backend.read(&figlet()).await.unwrap();
        gw.with(|g| g.functions.clear());
        let entry = alertscaler::stored::Stored {
            ledger: alertscaler::ledger::Entry {
                last_up: Some(t0()),
                ..Default::default()
            },
            ..Default::default()
        };
        let update = Update {
            replicas: Some(6),
            stored: &entry,
            version: &read.version,
        };
        // The re-read before the scale already finds it gone: refused without a POST.
        let err = backend.apply(&figlet(), update).await.unwrap_err();
        assert!(matches!(err, BackendError::NotFound(_)), "{err}");
        assert_eq!(gw.with(|g| g.scales.len()), 0);

        // Gone between that re-read and the scale call (a read answers, the scale does not).
        gw.with(|g| {
            g.functions.insert("figlet".into(), labelled(1));
        });
        let read = backend.read(&figlet()).await.unwrap();
        gw.with(|g| g.vanish_on_scale = true);
        let update = Update {
            replicas: Some(6),
            stored: &entry,
            version: &read.version,
        };
        let err = backend.apply(&figlet(), update).await.unwrap_err();
        assert!(
            matches!(err, BackendError::NotFound(_)),
            "{provider:?}: {err}"
        );
        assert_eq!(gw.with(|g| g.scales.len()), posts, "{provider:?}: bounded");
        // The intent is not rolled back into a slot of its own: the gone function's is dropped.
        assert_eq!(backend.slot(&figlet()), None, "{provider:?}");
    }
}

#[tokio::test]
async fn secret_files_are_trimmed_like_the_gateway_does() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let file = env.config.openfaas.password_file.clone().unwrap();
    std::fs::write(&file, format!("  {} \r\n", mock::PASSWORD)).unwrap();
    assert_eq!(env.backend().read(&figlet()).await.unwrap().replicas, 1);
    std::fs::write(&file, " \t\n").unwrap();
    let err = OpenFaasBackend::new(&env.config, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("openfaas.password_file") && err.contains("whitespace"),
        "{err}"
    );
}

#[tokio::test]
async fn readyz_fails_while_the_state_directory_is_not_writable() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    let dir = env.dir.path().join("missing");
    env.config.openfaas.state_file = dir.join("state.json");
    let backend = env.backend();
    let err = backend.ready().await.unwrap_err().to_string();
    assert!(
        err.contains("not writable") && err.contains("missing"),
        "{err}"
    );
    let state = alertscaler::server::state(&env.config, backend.clone()).unwrap();
    let (status, body) = get(state, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("not writable"), "{body}");
    std::fs::create_dir(&dir).unwrap();
    backend.ready().await.unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(leftovers.is_empty(), "the probe file is removed");
}

async fn get(state: alertscaler::http::AppState, path: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::get(path)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = alertscaler::http::router(state)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
