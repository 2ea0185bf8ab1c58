//! Admission and the phase watchdog of the listener, in virtual time.

use super::*;

fn registry(max_connections: usize) -> Registry {
    Registry {
        limits: ConnectionLimits {
            max_connections,
            ..ConnectionLimits::default()
        },
        next: AtomicU64::new(0),
        open: Mutex::new(HashMap::new()),
    }
}

fn admitted(a: Admission) -> (u64, Arc<Tracker>, bool) {
    match a {
        Admission::Admitted {
            id,
            tracker,
            evicted,
        } => (id, tracker, evicted),
        Admission::Refused => panic!("refused"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_registry_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
    let r = registry(2);
    let (_, oldest, evicted) = admitted(r.admit(Instant::now()));
    assert!(!evicted);
    tokio::time::advance(Duration::from_secs(1)).await;
    let (_, newer, _) = admitted(r.admit(Instant::now()));
    let _busy = Busy::start(newer.clone());
    let (_, third, evicted) = admitted(r.admit(Instant::now()));
    assert!(evicted, "room made by an eviction");
    // The oldest was told to go (a stored permit: it is seen even if nobody waits yet).
    tokio::time::timeout(Duration::from_millis(1), oldest.evict.notified())
        .await
        .expect("the oldest idle connection was evicted");
    let _busy_too = Busy::start(third);
    assert!(matches!(r.admit(Instant::now()), Admission::Refused));
}

#[tokio::test(start_paused = true)]
async fn a_connection_expires_when_its_phase_deadline_passes() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    };
    let t = Tracker {
        phase: Mutex::new(Phase::Idle(Instant::now())),
        evict: Notify::new(),
    };
    let started = Instant::now();
    // Bytes arrive after 5 s: the header clock (2 s) replaces the idle one (30 s).
    let expiry = tokio::join!(t.expired(&limits), async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        t.set(|p| p.on_bytes(Instant::now()));
    })
    .0;
    assert_eq!(expiry, Expiry::Head);
    assert_eq!(started.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn a_request_starts_when_the_first_bytes_of_its_head_arrived() {
    let t = Arc::new(Tracker {
        phase: Mutex::new(Phase::Idle(Instant::now())),
        evict: Notify::new(),
    });
    tokio::time::advance(Duration::from_secs(1)).await;
    let head = Instant::now();
    t.set(|p| p.on_bytes(head));
    tokio::time::advance(Duration::from_secs(2)).await;
    let (busy, started) = Busy::start(t.clone());
    assert_eq!(started, head, "the head's bytes, not the handler call");
    assert_eq!(t.phase(), Phase::Busy);
    drop(busy);
    // A head read together with the previous request: no bytes were timed, so it starts now.
    tokio::time::advance(Duration::from_secs(4)).await;
    let (_busy, started) = Busy::start(t.clone());
    assert_eq!(started, Instant::now());
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_tells_of_eviction_and_shutdown_once_then_of_the_deadline() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    };
    let t = Arc::new(Tracker {
        phase: Mutex::new(Phase::Idle(Instant::now())),
        evict: Notify::new(),
    });
    let (stop_tx, stop) = watch::channel(false);
    let (tell, mut told) = tokio::sync::mpsc::channel(1);
    let started = Instant::now();
    let _watchdog = AbortOnDrop(tokio::spawn(watchdog(t.clone(), limits, stop, tell)));
    t.evict.notify_one();
    assert!(matches!(told.recv().await, Some(Signal::Leave)));
    stop_tx.send(true).unwrap();
    assert!(matches!(told.recv().await, Some(Signal::Leave)));
    // Shutdown is told once; then only the idle deadline (30 s) is left, and the watchdog ends.
    assert!(matches!(
        told.recv().await,
        Some(Signal::Expired(Expiry::Idle))
    ));
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert!(told.recv().await.is_none());
}
