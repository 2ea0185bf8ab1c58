//! The OpenFaaS backend's durable ledger: restarts, unknown outcomes, crashes while writing and
//! corrupt state files, against the in-process provider API.

use crate::support::openfaas::{env, mock};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alertscaler::backend::Backend;
use alertscaler::backend::openfaas::OpenFaasBackend;
use alertscaler::backend::openfaas::state_file;
use alertscaler::service::Outcome;
use chrono::TimeDelta;
use env::*;

#[tokio::test]
async fn duplicate_after_restart_is_not_applied_twice() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);

    // A new process on the same state file: the retried notification is a duplicate.
    let report = env
        .service(env.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (6, 1));

    // Control: without the state file the same notification would step again.
    let mut other = Env::new(&gw);
    other.config.openfaas.state_file = other.dir.path().join("elsewhere.json");
    let report = other
        .service(other.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_scaled(&report, 6, 10);
}

#[tokio::test]
async fn an_unknown_outcome_that_a_read_shows_landed_counts_as_applied() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 300;
    // The gateway scales, but answers too late: every attempt times out.
    gw.with(|g| g.scale_delay_after_apply = Some(Duration::from_millis(3000)));
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert_scaled(&report, 1, 6);
    let slot = state_file::load(&env.state_path()).unwrap()[&figlet()].clone();
    assert!(
        slot.pending.is_none() && slot.entry.ledger.last_up.is_some(),
        "{slot:?}"
    );

    gw.with(|g| g.scale_delay_after_apply = None);
    let report = env
        .service(env.backend())
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&report, Outcome::Unchanged);
    assert_eq!(gw.replicas("figlet"), 6, "no second step");
    let scales = gw.with(|g| g.scales.clone());
    assert!(
        scales.iter().all(|s| s["replicas"] == 6),
        "retries repeat the same absolute count: {scales:?}"
    );
}

/// The issue's sequence: retries = 0, the provider answers 502 and applies the scale a moment
/// later. The retried notification completes the same target; it never steps again.
#[tokio::test]
async fn a_scale_that_lands_late_steps_once() {
    for land_before_retry in [true, false] {
        let gw = mock::start(&[("figlet", labelled(1))]).await;
        let mut env = Env::new(&gw);
        env.config.openfaas.retries = 0;
        let backend = env.backend();
        let service = env.service(backend.clone());
        gw.with(|g| g.apply_late = Some(Duration::from_secs(30)));
        let report = service.handle(&firing(), t0()).await;
        assert!(report.has_errors(), "{report:?}");
        let reason = assert_outcome(&report, Outcome::Error);
        assert!(reason.contains("sends 6 again"), "{reason}");
        assert_eq!(reason.matches("unavailable").count(), 1, "{reason}");
        assert_eq!(gw.replicas("figlet"), 1, "not landed yet");
        assert_eq!(backend.slot(&figlet()).unwrap().pending.unwrap().to, 6);

        gw.with(|g| g.apply_late = None);
        if land_before_retry {
            gw.with(|g| g.land_all_late());
        }
        // The retry settles the earlier scale (it had landed, or is sent again) and reports it as
        // the move, once; the notification itself is a duplicate of the episode.
        let report = service
            .handle(&firing(), t0() + TimeDelta::seconds(3))
            .await;
        assert_scaled(&report, 1, 6);
        let how = if land_before_retry {
            "had landed"
        } else {
            "was sent again"
        };
        let reason = &report.functions[0].reason;
        assert!(
            reason.contains(how) && reason.contains("then duplicate"),
            "{reason}"
        );
        gw.with(|g| g.land_all_late());
        assert_eq!(
            gw.replicas("figlet"),
            6,
            "land_before_retry={land_before_retry}"
        );
        let applied: Vec<u64> = gw.with(|g| g.applied.iter().map(|a| a.1).collect());
        assert!(
            applied.iter().all(|&r| r == 6),
            "one step only: {applied:?}"
        );
        assert!(backend.slot(&figlet()).unwrap().pending.is_none());
    }
}

#[tokio::test]
async fn a_scale_that_failed_after_applying_is_reported_as_applied() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 0;
    let service = env.service(env.backend());
    gw.with(|g| g.fail_scales_after_apply = 1);
    assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);
    let again = service
        .handle(&firing(), t0() + TimeDelta::seconds(1))
        .await;
    assert_outcome(&again, Outcome::Unchanged);
    assert_eq!(gw.with(|g| g.scales.len()), 1);
}

/// figlet at 1 replica behind a gateway answering the next scale calls as `script` says (apply?,
/// status), with one retry per call.
async fn scripted(
    script: &[(bool, u16)],
) -> (
    mock::Running,
    Env,
    Arc<OpenFaasBackend>,
    alertscaler::service::Service,
) {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 1;
    let backend = env.backend();
    let service = env.service(backend.clone());
    let script = script
        .iter()
        .map(|&(apply, code)| (apply, code, String::new()));
    gw.with(|g| g.scale_script = script.collect());
    (gw, env, backend, service)
}

#[tokio::test]
async fn a_refusal_after_an_attempt_that_may_have_acted_leaves_the_outcome_unknown() {
    // The first attempt is applied but answered 502; the retry meets a rate limiter (429). The
    // 429 says nothing about the first attempt: the retried notification must not step again.
    let (gw, _env, _backend, service) = scripted(&[(true, 502), (false, 429)]).await;
    service.handle(&firing(), t0()).await;
    let again = service
        .handle(&firing(), t0() + TimeDelta::seconds(1))
        .await;
    assert_eq!(
        gw.replicas("figlet"),
        6,
        "one episode steps once: {again:?}"
    );
    let applied: Vec<u64> = gw.with(|g| g.applied.iter().map(|a| a.1).collect());
    assert_eq!(applied, [6], "one step only");
    // A refusal at the first attempt (not retried) is definite: nothing is pending, and the
    // retried notification steps.
    let (_gw, _env, backend, service) = scripted(&[(false, 429)]).await;
    assert_outcome(&service.handle(&firing(), t0()).await, Outcome::Error);
    assert!(backend.slot(&figlet()).is_none_or(|s| s.pending.is_none()));
    assert_scaled(
        &service
            .handle(&firing(), t0() + TimeDelta::seconds(1))
            .await,
        1,
        6,
    );
}

#[tokio::test]
async fn a_deleted_function_leaves_the_state_file() {
    let gw = mock::start(&[("figlet", labelled(1)), ("echo", labelled(1))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let service = env.service(backend.clone());
    assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);
    gw.with(|g| g.functions.remove("figlet")); // faas-cli remove figlet
    let refused = service
        .handle(&firing(), t0() + TimeDelta::seconds(60))
        .await;
    assert_outcome(&refused, Outcome::Refused);
    let on_disk = state_file::load(&env.state_path()).unwrap();
    assert!(!on_disk.contains_key(&figlet()), "{on_disk:?}");
    assert_eq!(backend.slot(&figlet()), None);
    // Created again: a new function with an empty ledger, which the same alert steps.
    gw.with(|g| {
        g.functions.insert("figlet".into(), labelled(1));
    });
    assert_scaled(
        &service
            .handle(&firing(), t0() + TimeDelta::seconds(120))
            .await,
        1,
        6,
    );
}

#[tokio::test]
async fn a_crash_before_the_call_is_completed_with_the_same_target() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 300;
    env.config.openfaas.retries = 0;
    // The request dies before the gateway acts: same state on disk as a crash after the intent.
    gw.with(|g| g.scale_hang_without_apply = Some(Duration::from_millis(3000)));
    let report = env.service(env.backend()).handle(&firing(), t0()).await;
    assert_outcome(&report, Outcome::Error);
    let pending = state_file::load(&env.state_path()).unwrap()[&figlet()]
        .pending
        .clone()
        .expect("intent written before the call");
    assert_eq!((pending.from, pending.to), (1, 6));
    assert_eq!(gw.replicas("figlet"), 1);

    // A new process: the re-sent notification completes the intent (sends 6 again) and is held.
    gw.with(|g| g.scale_hang_without_apply = None);
    let service = env.service(env.backend());
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_scaled(&report, 1, 6);
    assert_eq!(gw.replicas("figlet"), 6);
    // The move is in the audit and the metrics, as any other.
    let last = service.audit().recent(Some(1));
    assert_eq!(
        (last[0].report.outcome, last[0].report.to),
        (Outcome::Scaled, Some(6))
    );
    let scales = gw.with(|g| g.scales.clone());
    assert!(scales.iter().all(|s| s["replicas"] == 6), "{scales:?}");
    assert!(
        state_file::load(&env.state_path()).unwrap()[&figlet()]
            .pending
            .is_none()
    );
}

/// An intent left by a crash (1 → 6, max 10) is completed after the function was redeployed with
/// max 3 (or pinned): the count sent again must be one the labels allow now, and the report says
/// what was sent.
#[tokio::test]
async fn an_intent_completed_after_max_was_lowered_stays_within_the_labels() {
    for (min, max, want) in [(None, "3", 3), (Some("2"), "2", 2)] {
        let (gw, env) = an_intent_left_by_a_crash().await;

        // faas-cli deploy --label com.openfaas.scale.max=3 (or min = max = 2), then a restart.
        gw.with(|g| {
            g.scale_hang_without_apply = None;
            let f = g.functions.get_mut("figlet").unwrap();
            f.labels.insert("com.openfaas.scale.max".into(), max.into());
            if let Some(min) = min {
                f.labels.insert("com.openfaas.scale.min".into(), min.into());
            }
        });
        let report = env
            .service(env.backend())
            .handle(&firing(), t0() + TimeDelta::seconds(5))
            .await;
        let sent: Vec<u64> = gw.with(|g| {
            g.scales
                .iter()
                .skip(1)
                .map(|s| s["replicas"].as_u64().unwrap())
                .collect()
        });
        assert!(
            sent.iter().all(|&r| r <= want),
            "max {max}: sent {sent:?}: {report:?}"
        );
        assert_eq!(gw.replicas("figlet"), want, "{report:?}");
        let f = only(&report);
        assert_eq!(
            f.to.map(u64::from),
            Some(want),
            "reported as the count sent: {report:?}"
        );
    }
}

/// figlet at 1 and an intent 1 → 6 left on disk: the gateway took the scale call and never
/// answered (as if alertscaler had crashed during it), so the notification failed.
async fn an_intent_left_by_a_crash() -> (mock::Running, Env) {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.request_timeout_ms = 300;
    env.config.openfaas.retries = 0;
    gw.with(|g| g.scale_hang_without_apply = Some(Duration::from_millis(3000)));
    assert_outcome(
        &env.service(env.backend()).handle(&firing(), t0()).await,
        Outcome::Error,
    );
    assert_eq!(gw.replicas("figlet"), 1, "the crash left the intent 1 → 6");
    (gw, env)
}

/// An intent left by a crash (1 → 6) whose function's labels no longer parse when it is completed
/// (a redeploy set `com.openfaas.scale.max=abc`): labels that do not parse allow no write, so
/// nothing is sent again; the intent is settled (its ledger stands: the call's outcome is unknown,
/// so the episode is never stepped afresh) and the notification is refused naming the label, as
/// any decision on those labels is, and recorded so.
#[tokio::test]
async fn an_intent_whose_labels_no_longer_parse_is_settled_without_a_scale() {
    let (gw, env) = an_intent_left_by_a_crash().await;

    gw.with(|g| {
        g.scale_hang_without_apply = None;
        let f = g.functions.get_mut("figlet").unwrap();
        f.labels
            .insert("com.openfaas.scale.max".into(), "abc".into());
    });
    let service = env.service(env.backend());
    for later in [5, 10] {
        let report = service
            .handle(&firing(), t0() + TimeDelta::seconds(later))
            .await;
        let reason = assert_outcome(&report, Outcome::Refused);
        assert!(
            reason.contains("com.openfaas.scale.max") && reason.contains("abc"),
            "{reason}"
        );
        assert_eq!(
            (gw.replicas("figlet"), gw.with(|g| g.scales.len())),
            (1, 1),
            "nothing sent again: {report:?}"
        );
        let last = service.audit().recent(Some(1));
        assert_eq!(
            (last[0].report.outcome, last[0].report.to),
            (Outcome::Refused, None)
        );
    }
    let slot = state_file::load(&env.state_path()).unwrap()[&figlet()].clone();
    assert!(
        slot.pending.is_none() && slot.entry.ledger.last_up.is_some(),
        "settled, its ledger kept: {slot:?}"
    );
}

/// Two processes on one state file (a second `serve` started by hand, a rolling update sharing the
/// volume): each rewrites the whole file from its own memory, so one's save drops the intents and
/// ledgers the other wrote, and a restart steps those episodes again. The second must not start.
#[tokio::test]
async fn a_second_process_on_the_same_state_file_is_refused() {
    let gw = mock::start(&[("figlet", labelled(1)), ("echo", labelled(1))]).await;
    let env = Env::new(&gw);
    let first = env.service(env.backend());
    let second = OpenFaasBackend::new(&env.config, false);
    if let Ok(second) = second {
        assert_scaled(&first.handle(&firing(), t0()).await, 1, 6);
        let second = env.service(Arc::new(second));
        let echo = webhook("firing", "echo.openfaas-fn");
        assert_scaled(&second.handle(&echo, t0()).await, 1, 6);
        let on_disk = state_file::load(&env.state_path()).unwrap();
        panic!(
            "two processes opened one state file; figlet's ledger on disk after the second's save: {:?}",
            on_disk.get(&figlet())
        );
    }
    let err = second.unwrap_err().to_string();
    assert!(
        err.contains("state.json") && err.contains("another alertscaler"),
        "{err}"
    );
    drop(first);
    env.backend(); // the first one stopped: a restart opens it
}

#[cfg(unix)]
#[tokio::test]
async fn the_state_file_is_replaced_never_written_in_place() {
    use std::os::unix::fs::MetadataExt;
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    let service = env.service(env.backend());
    assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);

    // A hard link keeps the old inode: an in-place write would change what it shows.
    let link = env.dir.path().join("old-link.json");
    std::fs::hard_link(&path, &link).unwrap();
    let old = std::fs::read(&link).unwrap();
    let report = service
        .handle(
            &webhook("resolved", "figlet.openfaas-fn"),
            t0() + TimeDelta::seconds(60),
        )
        .await;
    assert_scaled(&report, 6, 1);
    assert_eq!(std::fs::read(&link).unwrap(), old, "old file untouched");
    assert_ne!(
        std::fs::metadata(&link).unwrap().ino(),
        std::fs::metadata(&path).unwrap().ino()
    );
    assert!(
        state_file::load(&path).unwrap()[&figlet()]
            .entry
            .ledger
            .last_down
            .is_some()
    );
}

#[tokio::test]
async fn a_crash_while_writing_leaves_the_real_file_loadable() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    assert_scaled(
        &env.service(env.backend()).handle(&firing(), t0()).await,
        1,
        6,
    );
    let good = std::fs::read(&path).unwrap();

    // Half a temp file, as a crash in the middle of a save leaves it: ignored on load.
    let temp = state_file::temp_path(&path);
    std::fs::write(&temp, &good[..good.len() / 2]).unwrap();
    let backend = env.backend();
    assert!(
        backend
            .slot(&figlet())
            .unwrap()
            .entry
            .ledger
            .last_up
            .is_some()
    );

    // A save that cannot complete (the temp path is unusable) fails before any scale call and
    // leaves the real file byte for byte as it was.
    std::fs::remove_file(&temp).unwrap();
    std::fs::create_dir(&temp).unwrap();
    let report = env
        .service(backend.clone())
        .handle(&firing(), t0() + TimeDelta::seconds(60))
        .await;
    assert!(assert_outcome(&report, Outcome::Error).contains("state file"));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!((gw.replicas("figlet"), gw.with(|g| g.scales.len())), (6, 1));

    // Once the directory is usable again the same notification proceeds (memory was not changed).
    std::fs::remove_dir(&temp).unwrap();
    let report = env
        .service(backend)
        .handle(&firing(), t0() + TimeDelta::seconds(60))
        .await;
    assert_scaled(&report, 6, 10);
}

#[tokio::test]
async fn a_corrupt_state_file_stops_startup_unless_fresh_state() {
    let gw = mock::start(&[]).await;
    let env = Env::new(&gw);
    let path = env.state_path();
    std::fs::write(
        &path,
        b"{\"version\":1,\"functions\":{\"figlet.openfaas-fn\":{\"coun",
    )
    .unwrap();
    let err = OpenFaasBackend::new(&env.config, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("--fresh-state"),
        "{err}"
    );
    let err = alertscaler::server::backend(&env.config)
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("--fresh-state"));

    let backend = OpenFaasBackend::new(&env.config, true).unwrap();
    assert!(backend.slot(&figlet()).is_none(), "empty ledger");
    assert!(!path.exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".corrupt"))
        .collect();
    assert_eq!(aside.len(), 1, "corrupt file kept for inspection");
}

#[tokio::test]
async fn a_state_file_that_names_a_directory_is_refused_and_never_moved_aside() {
    // Fails on main: `state_file = "/var/lib/alertscaler"` (the directory of the worked example
    // instead of a file in it) passes check-config; serve refuses it with "fix its permissions, or
    // start with --fresh-state", and `serve --fresh-state` renames the whole directory, with
    // whatever it holds, to `<dir>.corrupt` and starts with an empty ledger.
    let gw = mock::start(&[]).await;
    let mut env = Env::new(&gw);
    let dir = env.dir.path().join("alertscaler");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("other.txt"), b"not ours").unwrap();
    env.config.openfaas.state_file = dir.clone();
    let fresh = OpenFaasBackend::new(&env.config, true);
    assert!(
        dir.join("other.txt").exists(),
        "the directory was moved aside"
    );
    assert!(
        fresh.is_err(),
        "a directory is not a state file, even with --fresh-state"
    );
    let err = OpenFaasBackend::new(&env.config, false)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("--fresh-state"), "{err}");
}

#[tokio::test]
async fn an_intent_on_a_function_that_vanished_is_dropped_and_refused() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let mut env = Env::new(&gw);
    env.config.openfaas.retries = 0;
    let backend = env.backend();
    let service = env.service(backend.clone());
    gw.with(|g| g.fail_scales = 1);
    assert_outcome(&service.handle(&firing(), t0()).await, Outcome::Error);
    assert!(backend.slot(&figlet()).unwrap().pending.is_some());

    gw.with(|g| g.functions.clear());
    let report = service
        .handle(&firing(), t0() + TimeDelta::seconds(3))
        .await;
    assert!(assert_outcome(&report, Outcome::Refused).contains("no such function"));
    // Not rolled back into a slot that would stay forever: the gone function's slot is dropped.
    assert_eq!(backend.slot(&figlet()), None);
    assert!(
        !state_file::load(&env.state_path())
            .unwrap()
            .contains_key(&figlet())
    );
    assert_eq!(
        gw.with(|g| g.scales.len()),
        1,
        "never re-sent to a function that is gone"
    );
}

#[tokio::test]
async fn a_ledger_counter_at_its_largest_wraps_instead_of_panicking() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let state = format!(
        r#"{{"version":1,"functions":{{"figlet.openfaas-fn":{{"counter":{},"entry":{{}}}}}}}}"#,
        u64::MAX
    );
    std::fs::write(env.state_path(), state).unwrap();
    let service = env.service(env.backend());
    assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);
    let counter = state_file::load(&env.state_path()).unwrap()[&figlet()].counter;
    assert!(counter < 3, "wrapped: {counter}");
}

/// The scale call lands and answers 2xx, but clearing the intent in the state file fails (only
/// logged): the apply reports the move 1 → 6, and the next read, which finds the intent and sees
/// 6, clears it without reporting the same move again.
#[tokio::test]
async fn a_move_whose_intent_could_not_be_cleared_is_reported_once() {
    let gw = mock::start(&[("figlet", labelled(1))]).await;
    let env = Env::new(&gw);
    let backend = env.backend();
    let service = env.service(backend.clone());
    // The scale lands at once; its answer comes 400 ms later (within the 1 s timeout).
    gw.with(|g| g.scale_delay_after_apply = Some(Duration::from_millis(400)));
    let first = tokio::spawn({
        let service = service.clone();
        async move { service.handle(&firing(), t0()).await }
    });
    // While the scale call is in flight (the intent is saved), make the next save fail.
    for _ in 0..400 {
        if gw.replicas("figlet") == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let temp = state_file::temp_path(&env.state_path());
    std::fs::create_dir(&temp).unwrap();
    let first = first.await.unwrap();
    assert_scaled(&first, 1, 6);
    assert!(
        backend.slot(&figlet()).unwrap().pending.is_some(),
        "the clear failed"
    );
    std::fs::remove_dir(&temp).unwrap();
    gw.with(|g| g.scale_delay_after_apply = None);

    let again = service
        .handle(&firing(), t0() + TimeDelta::seconds(5))
        .await;
    assert_outcome(&again, Outcome::Unchanged);
    assert!(backend.slot(&figlet()).unwrap().pending.is_none());
    assert_eq!(gw.with(|g| g.scales.len()), 1, "no second scale call");
    let scaled = service
        .audit()
        .recent(None)
        .iter()
        .filter(|r| r.report.outcome == Outcome::Scaled)
        .count();
    assert_eq!(scaled, 1, "one move, reported once");
}

/// docs/openfaas.md: a function the gateway answers 404 for has its ledger dropped "on any read:
/// a notification, the settle pass …", so the state file does not grow with deleted functions.
/// A deleted function is missing from the listing the settle pass starts from: the listing itself
/// must confirm it gone (a 404) and drop it, with or without the gateway's Prometheus.
#[tokio::test]
async fn a_deleted_function_leaves_the_state_file_at_the_next_listing() {
    for no_prometheus in [false, true] {
        let gw = mock::start(&[("figlet", labelled(1)), ("echo", labelled(1))]).await;
        let env = Env::new(&gw);
        let backend = env.backend();
        let service = env.service(backend.clone());
        assert_scaled(&service.handle(&firing(), t0()).await, 1, 6);
        gw.with(|g| {
            g.functions.remove("figlet"); // faas-cli remove figlet; no notification follows
            g.no_prometheus = no_prometheus;
        });
        let reads = gw.with(|g| g.reads);
        backend.list().await.unwrap();
        let on_disk = state_file::load(&env.state_path()).unwrap();
        assert!(
            !on_disk.contains_key(&figlet()),
            "{no_prometheus}: {on_disk:?}"
        );
        assert_eq!(backend.slot(&figlet()), None);
        assert_eq!(gw.with(|g| g.reads) - reads, 1, "one read confirms it gone");
        backend.list().await.unwrap_or_default();
        assert_eq!(gw.with(|g| g.reads) - reads, 1, "and it is not read again");
    }
}
