//! Triggers racing on one function: each holds the first trigger's write open inside the backend,
//! starts the second, and checks that the second reads only after the write landed (the function's
//! lock covers read → decide → write), then what both decided. Without the lock the versions would
//! still catch a stale write, as a conflict and a re-read; these pin that one process never gets
//! that far.

use std::future::Future;
use std::time::Duration;

use super::*;

/// Run `first` until its write is held open in `backend`, then `second`; `second` must not read
/// the function before `first`'s write is released. Returns both results.
async fn while_writing<A, B>(
    backend: &Counting,
    first: impl Future<Output = A> + Send + 'static,
    second: impl Future<Output = B> + Send + 'static,
) -> (A, B)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let held = backend.hold_next_write();
    let first = tokio::spawn(first);
    let writing = tokio::time::timeout(Duration::from_secs(10), held.entered.notified()).await;
    assert!(writing.is_ok(), "the first trigger never wrote");
    let reads = backend.reads();
    let second = tokio::spawn(second);
    // The second trigger runs as far as it can (a current-thread runtime: it runs when this task
    // yields). It reads on its first poll unless it waits for the function's lock.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        backend.reads(),
        reads,
        "the second trigger read the function while the first was writing it"
    );
    held.release.notify_one();
    (first.await.unwrap(), second.await.unwrap())
}

fn rate(status: &str, starts: i64) -> Webhook {
    webhook(status, "APIHighInvocationRate", &[], "10", starts)
}

/// At 5 after a step from 1, its resolution held by the window until 301.
async fn held_at_five() -> (Service, Arc<Counting>) {
    let (svc, backend) = service(&[], 1);
    svc.handle(&rate("firing", 0), t(1)).await;
    let r = svc.handle(&rate("resolved", 0), t(10)).await;
    assert_eq!(r.functions[0].why, Some(Why::Stabilizing), "{r:?}");
    (svc, backend)
}

#[tokio::test]
async fn a_notification_during_the_settle_pass_scale_down_decides_on_what_it_wrote() {
    let (svc, backend) = held_at_five().await;
    let (settle, fresh) = (svc.clone(), svc.clone());
    let (settled, notified) = while_writing(
        &backend,
        async move { settle.settle(t(320)).await.unwrap() },
        async move { fresh.handle(&rate("firing", 315), t(321)).await },
    )
    .await;
    assert_eq!((settled[0].from, settled[0].to), (Some(5), Some(1)));
    // The new episode steps from where the scale-down left it, read once.
    let f = &notified.functions[0];
    assert_eq!((f.from, f.to), (Some(1), Some(5)), "{f:?}");
    assert_eq!(backend.replicas(&id()), Some(5));
}

#[tokio::test]
async fn a_settle_pass_during_a_fresh_scale_up_does_not_finish_the_old_scale_down() {
    let (svc, backend) = held_at_five().await;
    let (fresh, settle) = (svc.clone(), svc.clone());
    let (notified, settled) = while_writing(
        &backend,
        async move { fresh.handle(&rate("firing", 315), t(320)).await },
        async move { settle.settle(t(320)).await.unwrap() },
    )
    .await;
    let f = &notified.functions[0];
    assert_eq!((f.from, f.to), (Some(5), Some(9)), "{f:?}");
    assert!(settled.is_empty(), "{settled:?}");
    assert_eq!(backend.replicas(&id()), Some(9));
}

/// Min 2, `zero=true`: at 6 after a step, `FunctionIdle` at 120 holds its sleep until 400.
async fn held_sleep() -> (Service, Arc<Counting>) {
    let (svc, backend) = service(&[(MIN, "2"), (ZERO, "true")], 2);
    svc.handle(&rate("firing", 0), t(1)).await;
    svc.handle(&rate("resolved", 0), t(100)).await;
    let held = svc.handle(&idle(120), t(120)).await;
    assert_eq!(held.functions[0].why, Some(Why::Stabilizing), "{held:?}");
    (svc, backend)
}

#[tokio::test]
async fn the_settle_pass_and_a_repeat_of_function_idle_finish_a_held_sleep_once() {
    // The settle pass first; AlertManager's repeat of FunctionIdle meanwhile.
    let (svc, backend) = held_sleep().await;
    let (settle, repeat) = (svc.clone(), svc.clone());
    let (settled, notified) = while_writing(
        &backend,
        async move { settle.settle(t(400)).await.unwrap() },
        async move { repeat.handle(&idle(120), t(401)).await },
    )
    .await;
    assert_eq!((settled[0].from, settled[0].to), (Some(6), Some(0)));
    let f = &notified.functions[0];
    assert_ne!(f.outcome, Outcome::Scaled, "{f:?}");
    assert_eq!(backend.replicas(&id()), Some(0));

    // The repeat first; the settle pass meanwhile.
    let (svc, backend) = held_sleep().await;
    let (settle, repeat) = (svc.clone(), svc.clone());
    let (notified, settled) = while_writing(
        &backend,
        async move { repeat.handle(&idle(120), t(400)).await },
        async move { settle.settle(t(400)).await.unwrap() },
    )
    .await;
    let f = &notified.functions[0];
    assert_eq!((f.from, f.to), (Some(6), Some(0)), "{f:?}");
    assert!(settled.is_empty(), "{settled:?}");
    assert_eq!(backend.replicas(&id()), Some(0));
}

/// Capacity (target 5), stepped 1 → 4 by `FunctionUnderProvisioned` at 10 and followed up;
/// Prometheus now says 7.
async fn followed_at_four() -> (Service, Arc<Counting>, Webhook) {
    let (svc, backend, desired) = measured(&[("com.openfaas.scale.target", "5")], 4).await;
    let fire = under("firing", 0);
    let r = svc.handle(&fire, t(10)).await;
    assert_eq!(r.functions[0].to, Some(4), "{r:?}");
    desired.store(7, SeqCst);
    (svc, backend, fire)
}

#[tokio::test]
async fn a_notification_during_a_follow_up_write_is_held_on_what_it_wrote() {
    let (svc, backend, fire) = followed_at_four().await;
    let (follow, copy) = (svc.clone(), svc.clone());
    // An HA peer's copy of the firing alert arrives while the follow-up writes 4 → 7.
    let (followed, notified) = while_writing(
        &backend,
        async move { follow.follow_up(t(15)).await },
        async move { copy.handle(&fire, t(16)).await },
    )
    .await;
    assert_eq!((followed[0].from, followed[0].to), (Some(4), Some(7)));
    let f = &notified.functions[0];
    assert_eq!(f.outcome, Outcome::Unchanged, "{f:?}");
    assert_eq!(backend.replicas(&id()), Some(7));
}

#[tokio::test]
async fn a_follow_up_during_the_resolution_write_stops_following() {
    let (svc, backend, _) = followed_at_four().await;
    let (resolve, follow) = (svc.clone(), svc.clone());
    // The alert resolves while a follow-up pass that listed the function waits: the resolution
    // right-sizes to what Prometheus says (7), and the follow-up finds no alert firing any more.
    let (resolved, followed) = while_writing(
        &backend,
        async move { resolve.handle(&under("resolved", 0), t(15)).await },
        async move { follow.follow_up(t(15)).await },
    )
    .await;
    let f = &resolved.functions[0];
    assert_eq!((f.from, f.to), (Some(4), Some(7)), "{f:?}");
    assert!(followed.is_empty(), "{followed:?}");
    assert_eq!(backend.replicas(&id()), Some(7));
    assert!(svc.followed_functions().is_empty());
}

/// A follow-up pass reads its clock once, then may wait for the function's lock while a
/// notification steps it: the move it then makes is stamped with its earlier clock, and must not
/// move the function's "last scaled up" back, or the next episode's cooldown would count from
/// before the notification's step.
#[tokio::test]
async fn a_follow_up_that_read_its_clock_early_keeps_the_cooldown_of_a_newer_step() {
    let (svc, backend, desired) = measured(&[("com.openfaas.scale.target", "5")], 4).await;
    svc.handle(&under("firing", 0), t(10)).await;
    assert_eq!(backend.replicas(&id()), Some(4));
    // Another up alert steps at 100 (step policy: + 4).
    let r = svc.handle(&rate("firing", 95), t(100)).await;
    assert_eq!(r.functions[0].to, Some(8), "{r:?}");
    // The pass that read 98 and waited: Prometheus says 12 now.
    desired.store(12, SeqCst);
    let followed = svc.follow_up(t(98)).await;
    assert_eq!(followed[0].to, Some(12), "{followed:?}");
    // A third alert's new episode 19 s after the step at 100: within the 20 s cooldown.
    let third = webhook("firing", "AnotherRate", &[], "10", 118);
    let r = svc.handle(&third, t(119)).await;
    assert_eq!(r.functions[0].why, Some(Why::Cooldown), "{r:?}");
    assert_eq!(backend.replicas(&id()), Some(12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notifications_for_one_function_never_conflict_with_each_other() {
    let (svc, backend) = service(&[("com.openfaas.scale.max", "100")], 1);
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (svc, barrier) = (svc.clone(), barrier.clone());
            tokio::spawn(async move {
                // 50 distinct episodes (one per alert name), all at once.
                let hook = webhook("firing", &format!("Rate{i}"), &[], "10", i);
                barrier.wait().await;
                svc.handle(&hook, t(100)).await
            })
        })
        .collect();
    let mut scaled = 0;
    for task in tasks {
        let report = task.await.unwrap();
        let f = &report.functions[0];
        assert_ne!(f.outcome, Outcome::Error, "{f:?}");
        scaled += usize::from(f.outcome == Outcome::Scaled);
    }
    // The first episode steps; the others arrive within the cooldown and are held, one at a time.
    assert_eq!(scaled, 1);
    assert_eq!(backend.replicas(&id()), Some(21));
}
