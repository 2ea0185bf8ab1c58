//! Dry run (`dry_run = true`) on the backends that talk to a platform: the decision path runs and
//! the ledger is written (so an HA copy is still a duplicate), but no replica count is ever sent —
//! no Deployment PATCH on Kubernetes, no scale call on OpenFaaS, and no intent a restart would
//! complete as a scale.

use alertscaler::backend::Backend;
use alertscaler::backend::openfaas::state_file;
use alertscaler::policy::Why;
use alertscaler::service::{Outcome, Report, Service, Settings};
use axum::http::Method;
use chrono::TimeDelta;

use crate::support::kube::apiserver::{CONFIGMAPS, FakeApiserver};
use crate::support::kube::{self as kube, echo, echo_id, firing, has_pending};
use crate::support::openfaas::env::{self as openfaas, Env, figlet, labelled};
use crate::support::openfaas::mock;

/// The one function's decision: a hold, why `dry_run`, saying it would scale `from` → `to`.
fn assert_would_scale(report: &Report, from: u32, to: u32) {
    assert_eq!(report.functions.len(), 1, "{report:?}");
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.why, f.from, f.to),
        (Outcome::Unchanged, Some(Why::DryRun), None, None),
        "{f:?}"
    );
    let said = format!("dry run: would scale {from} → {to} (");
    assert!(f.reason.starts_with(&said), "{}", f.reason);
}

fn assert_duplicate(report: &Report) {
    let f = &report.functions[0];
    assert_eq!(
        (f.outcome, f.why),
        (Outcome::Unchanged, Some(Why::Duplicate)),
        "{f:?}"
    );
}

#[tokio::test]
async fn kubernetes_writes_the_ledger_and_never_patches_the_deployment() {
    let fake = FakeApiserver::start().await;
    echo(&fake);
    let mut config = kube::config(&["openfaas-fn"]);
    config.dry_run = true;
    let service = kube::receiver(&fake, &config);
    let report = service
        .handle(&firing("echo.openfaas-fn"), kube::now())
        .await;
    // echo: min 1, max 10, factor 20 → a step of 2.
    assert_would_scale(&report, 1, 3);
    assert_eq!(fake.replicas("openfaas-fn", "echo"), Some(1));
    let deployment_writes = fake
        .seen()
        .into_iter()
        .filter(|s| s.method != Method::GET && s.resource == "deployments")
        .count();
    assert_eq!(deployment_writes, 0, "{:?}", fake.seen());
    assert!(kube::stored_ledger(&fake, "openfaas-fn", "echo").is_some());
    assert!(
        !has_pending(&fake, "openfaas-fn", "echo"),
        "no intent to scale"
    );
    // The HA peer, its own client and backend on the same cluster: a duplicate.
    let peer = kube::receiver(&fake, &config);
    let copy = peer
        .handle(
            &firing("echo.openfaas-fn"),
            kube::now() + TimeDelta::seconds(2),
        )
        .await;
    assert_duplicate(&copy);
    let state_writes = fake
        .seen()
        .iter()
        .filter(|s| s.method != Method::GET && s.resource == CONFIGMAPS)
        .count();
    assert_eq!(state_writes, 1, "the duplicate writes nothing");
    let read = kube::backend(&fake, &config)
        .read(&echo_id())
        .await
        .unwrap();
    assert_eq!(read.replicas, 1);
}

#[tokio::test]
async fn openfaas_writes_the_ledger_and_never_calls_scale_even_after_a_restart() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.dry_run = true;
    let service = env.service(env.backend());
    let report = service.handle(&openfaas::firing(), openfaas::t0()).await;
    // figlet: max 10, factor 50 → a step of 5.
    assert_would_scale(&report, 1, 6);
    let copy = service
        .handle(&openfaas::firing(), openfaas::t0() + TimeDelta::seconds(3))
        .await;
    assert_duplicate(&copy);
    let slots = state_file::load(&env.state_path()).unwrap();
    let slot = &slots[&figlet()];
    assert!(slot.pending.is_none(), "no intent a restart would complete");
    assert!(slot.entry.ledger.firing.contains_key("6a65bd8dfb3af9ad"));
    // A restart reads the state file: nothing to complete, nothing sent.
    drop(service);
    let restarted = Service::new(env.backend(), Settings::from_config(&env.config));
    let state = restarted.backend().read(&figlet()).await.unwrap();
    assert_eq!((state.replicas, state.settled), (1, None));
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (1, 0));
}

/// `serve --dry-run`: the start-up line and `/readyz` say so, and a notification moves nothing
/// (the `decided` line, at info, says what it would have done). `check-config --dry-run` shows it.
#[test]
fn the_serve_flag_turns_dry_run_on_and_says_so() {
    use crate::support::doubles::webhook;
    use crate::support::procs::{Served, raw_get, raw_post};
    let dir = tempfile::tempdir().unwrap();
    let file = crate::support::procs::echo_config(dir.path());
    let mut served = Served::start_flags(&file, &["--dry-run"]);
    let logged = std::time::Duration::from_secs(30);
    assert!(
        served.serving.contains(r#""dry_run":true"#),
        "{}",
        served.serving
    );
    let ready = raw_get(served.addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""dry_run":true"#), "{ready}");
    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    let answer = raw_post(served.addr, "/system/alert", &body);
    assert!(answer.contains(r#""why":"dry_run""#), "{answer}");
    let decided = served.wait_for("decided", logged);
    assert_eq!(decided["level"], "INFO", "{decided}");
    assert_eq!(decided["fields"]["outcome"], "dry_run", "{decided}");
    let decisions = raw_get(served.addr, "/decisions");
    assert!(
        decisions.contains("dry run: would scale 1 → 5"),
        "{decisions}"
    );
    drop(served);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["check-config", "--dry-run", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("dry_run = true"),
        "{shown}"
    );
}

/// Without the flag the start-up line says dry run is off.
#[test]
fn without_the_flag_the_start_up_line_says_dry_run_is_off() {
    use crate::support::procs::Served;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n").unwrap();
    let served = Served::start_flags(&file, &[]);
    assert!(
        served.serving.contains(r#""dry_run":false"#),
        "{}",
        served.serving
    );
    let ready = crate::support::procs::raw_get(served.addr, "/readyz");
    assert!(ready.contains(r#""dry_run":false"#), "{ready}");
}
