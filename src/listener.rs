//! The accept loop: HTTP/1.1 (optionally over TLS) with the connection limits of
//! [`crate::connections`], the peer address for the handlers, and graceful shutdown.
//!
//! Each connection runs in its own task beside a watchdog. The task closes the connection when its
//! phase's deadline passes, when the listener evicts it to make room, or at shutdown; a connection
//! inside a handler is instead asked to finish its request and close (hyper's graceful shutdown).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::connections::{ConnectionLimits, Expiry, Phase, pick_victim};
use crate::http::deadline::DeadlineFuture;

mod tracked;
mod watchdog;
use tracked::Tracked;
use watchdog::{AbortOnDrop, Signal, watchdog};

/// One open connection as the listener and its watchdog see it.
struct Tracker {
    phase: Mutex<Phase>,
    /// Told when the listener evicts this connection.
    evict: Notify,
}

impl Tracker {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Move to the next phase. Nobody is woken: the watchdog reads the phase when its timer
    /// fires (a wake-up and a timer per phase change were a measurable share of each request).
    fn set(&self, phase: impl FnOnce(Phase) -> Phase) {
        let mut p = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        *p = phase(*p);
    }

    /// Resolves when the phase's deadline has passed (never while busy). Without being told of
    /// phase changes, the watchdog looks again at least every header read timeout: a head that
    /// starts meanwhile is then still caught exactly at its deadline (its clock starts after the
    /// last look), and a later deadline (idle again after a request) only means one more look.
    async fn expired(&self, limits: &ConnectionLimits) -> Expiry {
        loop {
            let now = Instant::now();
            let look_again = now + limits.header_read_timeout.max(Duration::from_millis(1));
            match self.phase().deadline(limits) {
                Some((at, why)) if at <= now => return why,
                Some((at, _)) => tokio::time::sleep_until(at.min(look_again)).await,
                None => tokio::time::sleep_until(look_again).await,
            }
        }
    }
}

/// Marks a connection busy while a request is in the handler; idle again when dropped.
struct Busy(Arc<Tracker>);

impl Busy {
    /// Mark the connection busy; also returns when its request started: when the first bytes of
    /// its head arrived (already timed for the head's deadline), or now if they came in with the
    /// previous request.
    fn start(tracker: Arc<Tracker>) -> (Self, Instant) {
        let mut head = None;
        tracker.set(|phase| {
            if let Phase::Head(since) = phase {
                head = Some(since);
            }
            Phase::Busy
        });
        (Self(tracker), head.unwrap_or_else(Instant::now))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set(|_| Phase::Idle(Instant::now()));
    }
}

/// The open connections, bounded by `max_connections`.
struct Registry {
    limits: ConnectionLimits,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Tracker>>>,
}

/// The answer to a new connection.
enum Admission {
    /// Admitted; `evicted` says whether an idle connection was closed to make room.
    Admitted {
        id: u64,
        tracker: Arc<Tracker>,
        evicted: bool,
    },
    /// Full of busy connections.
    Refused,
}

impl Registry {
    fn admit(&self, now: Instant) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        if open.len() >= self.limits.max_connections {
            let Some(victim) = pick_victim(open.iter().map(|(id, t)| (*id, t.phase()))) else {
                return Admission::Refused;
            };
            if let Some(t) = open.remove(&victim) {
                t.evict.notify_one();
            }
            evicted = true;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker {
            phase: Mutex::new(Phase::Idle(now)),
            evict: Notify::new(),
        });
        open.insert(id, tracker.clone());
        Admission::Admitted {
            id,
            tracker,
            evicted,
        }
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Takes a connection out of the registry when its task ends (also when aborted).
struct Registered(Arc<Registry>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// What the listener does to every request before the router sees it.
#[derive(Debug, Clone, Copy)]
pub struct PerRequest {
    /// A request still in the router after this is answered 503.
    pub timeout: Duration,
    /// Hand the handlers the peer's address (`ConnectInfo`). Only authentication reads it (its
    /// per-source limit on failures), and the insert costs each request an extension map.
    pub peer_address: bool,
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    app: Router,
    per_request: PerRequest,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
}

/// Serve `app` on `listener` until `shutdown` completes; then stop accepting, close idle
/// connections, let requests in handlers finish within `grace`, and return.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    per_request: PerRequest,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) {
    let registry = Arc::new(Registry {
        limits,
        next: AtomicU64::new(0),
        open: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop) = watch::channel(false);
    let shared = Shared {
        app,
        per_request,
        tls,
        limits,
        stop,
    };
    let mut tasks = JoinSet::new();
    let (mut full, mut failing) = (LogThrottle::default(), LogThrottle::default());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match registry.admit(Instant::now()) {
                    Admission::Admitted { id, tracker, evicted } => {
                        if evicted && let Some(n) = full.tick() {
                            tracing::warn!(max = limits.max_connections, evicted = n, "connection limit reached: closed the longest-idle connections");
                        }
                        let registered = Registered(registry.clone(), id);
                        tasks.spawn(connection(tcp, peer, tracker, registered, shared.clone()));
                    }
                    Admission::Refused => {
                        if let Some(n) = full.tick() {
                            tracing::warn!(max = limits.max_connections, refused = n, "connection limit reached and every connection is busy: refusing new ones");
                        }
                    }
                },
                // Out of file descriptors, or the peer gave up during accept: wait, then go on.
                Err(e) => {
                    if let Some(n) = failing.tick() {
                        tracing::warn!(error = %e, times = n, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown grace period over: closing connections with requests still in progress"
        );
        tasks.shutdown().await;
    }
}

/// One connection: TLS handshake if configured, then HTTP/1.1 until closed.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tracker: Arc<Tracker>,
    _registered: Registered,
    shared: Shared,
) {
    let _ = tcp.set_nodelay(true);
    let io = Tracked {
        inner: tcp,
        tracker: tracker.clone(),
    };
    match shared.tls.clone() {
        None => http(io, peer, tracker, shared).await,
        Some(acceptor) => {
            let mut stop = shared.stop.clone();
            let handshake = tokio::select! {
                tls = acceptor.accept(io) => tls,
                why = tracker.expired(&shared.limits) => return closed(peer, why),
                () = tracker.evict.notified() => return,
                _ = stop.wait_for(|s| *s) => return,
            };
            match handshake {
                Ok(tls) => {
                    // The handshake's bytes started a head; now the connection waits for its first
                    // request, as a plain one does (idle timeout), until that request's bytes come.
                    tracker.set(|_| Phase::Idle(Instant::now()));
                    http(tls, peer, tracker, shared).await
                }
                Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            }
        }
    }
}

/// Serve HTTP/1.1 on `io` under the watchdog, eviction and shutdown.
async fn http<S>(io: S, peer: SocketAddr, tracker: Arc<Tracker>, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let (app, tracker) = (shared.app.clone(), tracker.clone());
        let per_request = shared.per_request;
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let (busy, started) = Busy::start(tracker.clone());
            if per_request.peer_address {
                request.extensions_mut().insert(ConnectInfo(peer));
            }
            let app = app.clone();
            let response = app.oneshot(request.map(axum::body::Body::new));
            // The deadline counts from the request's first bytes, whose time is already known.
            let response = DeadlineFuture::starting_at(response, started, per_request.timeout);
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        // Our own watchdog times heads; hyper's timer would also cut idle keep-alive connections.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    // The watchdog runs in its own task and speaks only when something happened: polled beside the
    // connection, its timer, eviction and shutdown futures were polled on every wake-up of the
    // connection (about 1 % of a duplicate's CPU), where the channel's receiver costs a few atomics.
    let (tell, mut told) = tokio::sync::mpsc::channel(1);
    let _watchdog = AbortOnDrop(tokio::spawn(watchdog(
        tracker.clone(),
        shared.limits,
        shared.stop.clone(),
        tell,
    )));
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            signal = told.recv() => match signal {
                Some(Signal::Expired(why)) => return closed(peer, why),
                // Evicted, or the server stops: close now if idle, else finish the request first.
                Some(Signal::Leave) => {
                    if tracker.phase() != Phase::Busy {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                }
                // The watchdog is gone (it cannot end before an expiry): do not serve unwatched.
                None => return,
            },
        }
    }
}

fn closed(peer: SocketAddr, why: Expiry) {
    match why {
        Expiry::Idle => tracing::debug!(%peer, "closed an idle connection (idle_timeout_secs)"),
        Expiry::Head => tracing::debug!(
            %peer,
            "closed a connection whose request head was not complete in time (header_read_timeout_secs)"
        ),
    }
}

/// Logs a recurring condition at most once per 10 s, with how often it happened meanwhile.
#[derive(Default)]
struct LogThrottle {
    last: Option<Instant>,
    count: u64,
}

impl LogThrottle {
    fn tick(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
