//! An idle function whose min is above 1, under the capacity pack: `FunctionOverProvisioned` keeps
//! firing at min and its follow-ups write nothing; `FunctionIdle` puts it to sleep, and only an up
//! alert wakes it.

use super::*;

/// An idle function under the capacity pack with min 2 and `zero=true`, at 2, Prometheus reading
/// desired 0: `FunctionOverProvisioned` fires at 0 and keeps firing (it compares max(desired, 1)
/// = 1 with 2 replicas), followed up; the pack answers "at min".
async fn idle_at_min_two() -> (Service, Arc<Counting>) {
    let sleepy = [
        ("com.openfaas.scale.min", "2"),
        ("com.openfaas.scale.zero", "true"),
    ];
    let settings = Settings::from_config(&Config::default());
    let (svc, backend, _desired) = measured_with(&sleepy, 2, 0, settings).await;
    let r = svc.handle(&over("firing", 0), t(0)).await;
    assert_eq!(r.functions[0].why, Some(Why::AtMin), "{r:?}");
    (svc, backend)
}

/// `FunctionOverProvisioned` fires for good on an idle function whose min is above 1, and is followed
/// up every 5 s: each follow-up decides "at min" and moves nothing, and must write nothing either
/// (on Kubernetes every write is a state ConfigMap update: one per such function every 5 s, forever).
#[tokio::test]
async fn follow_ups_of_an_idle_function_at_min_write_nothing() {
    let (svc, backend) = idle_at_min_two().await;
    let version = || async { backend.inner.read(&id()).await.unwrap().version };
    let before = version().await;
    for at in (5..120).step_by(5) {
        svc.follow_up(t(at)).await;
    }
    assert_eq!(backend.replicas(&id()), Some(2));
    assert_eq!(
        version().await,
        before,
        "follow-ups wrote the function's state"
    );
}

/// `FunctionIdle` puts it to sleep, at the latest once the stabilization window has passed,
/// while the follow-ups (every 5 s) and settle passes (every 15 s) go on.
#[tokio::test]
async fn an_idle_function_with_a_min_above_one_sleeps_under_the_capacity_pack() {
    let (svc, backend) = idle_at_min_two().await;
    for at in (5..900).step_by(5) {
        svc.follow_up(t(at)).await;
    }
    let r = svc.handle(&idle(900), t(900)).await;
    for at in (905..1500).step_by(5) {
        if backend.replicas(&id()) == Some(0) {
            break;
        }
        svc.follow_up(t(at)).await;
        if at % 15 == 0 {
            svc.settle(t(at)).await.unwrap();
        }
    }
    assert_eq!(backend.replicas(&id()), Some(0), "FunctionIdle: {r:?}");
}

/// With a zero-duration of 30m the pack's `FunctionIdle` (window 15m) first says `idle_too_short`,
/// and one of its repeats puts the function to sleep once it has been idle for 30m. AlertManager
/// repeats both alerts every 30 s (the shipped route), `FunctionIdle` 5 s after
/// `FunctionOverProvisioned`, whose decisions at min move nothing.
#[tokio::test]
async fn an_idle_function_with_a_min_above_one_sleeps_on_a_later_repeat_of_function_idle() {
    let sleepy = [
        ("com.openfaas.scale.min", "2"),
        ("com.openfaas.scale.zero", "true"),
        ("com.openfaas.scale.zero-duration", "30m"),
    ];
    let settings = Settings::from_config(&Config::default());
    let (svc, backend, _desired) = measured_with(&sleepy, 2, 0, settings).await;
    let mut idle = idle(5);
    idle.alerts[0]
        .annotations
        .insert("window".into(), "15m".into());
    let mut seen = Vec::new();
    for at in (0..1200).step_by(30) {
        svc.handle(&over("firing", 0), t(at)).await;
        let r = svc.handle(&idle, t(at + 5)).await;
        seen.push((at + 5, r.functions[0].why));
        if backend.replicas(&id()) == Some(0) {
            break;
        }
    }
    assert_eq!(backend.replicas(&id()), Some(0), "FunctionIdle: {seen:?}");
}

/// Asleep, `FunctionOverProvisioned` still fires for its `keep_firing_for` (30 s): neither its
/// follow-ups nor AlertManager's repeat wake the function (an up alert does), nor its resolution.
#[tokio::test]
async fn an_over_provisioned_alert_never_wakes_a_sleeping_function() {
    let (svc, backend) = idle_at_min_two().await;
    svc.handle(&idle(30), t(30)).await;
    assert_eq!(backend.replicas(&id()), Some(0));
    for at in (35..60).step_by(5) {
        let reports = svc.follow_up(t(at)).await;
        assert_eq!(
            backend.replicas(&id()),
            Some(0),
            "follow-up at {at}: {reports:?}"
        );
    }
    for (status, at) in [("firing", 60), ("resolved", 65)] {
        let r = svc.handle(&over(status, 0), t(at)).await;
        assert_eq!(backend.replicas(&id()), Some(0), "{status}: {r:?}");
    }
    // An up alert wakes it.
    svc.handle(&under("firing", 70), t(70)).await;
    assert_eq!(backend.replicas(&id()), Some(2));
}
