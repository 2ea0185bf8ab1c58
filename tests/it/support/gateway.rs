//! A stand-in for the OpenFaaS gateway's metrics. Either the test sets each function's request rate
//! and latency (`set`: counters integrated over time, every request answered), or it hands over the
//! simulator's counters for the function (`set_sample`: the closed loop, where
//! `alertscaler::sim`'s own function model serves the requests). `/metrics` exports
//! `gateway_function_invocation_started`, `gateway_function_invocation_total` and the
//! `gateway_functions_seconds` histogram as the gateway does; and, for the functions whose replicas
//! the test reports, the `gateway_service_count` gauge.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alertscaler::sim::monitor::{NB, Sample};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;

/// The gateway's default histogram buckets (seconds).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone)]
struct Series {
    rate: f64,
    latency: f64,
    total: f64,
    sum: f64,
    buckets: [f64; BUCKETS.len()],
    since: Instant,
}

impl Series {
    /// Account for the requests served at the current rate since the last update.
    fn advance(&mut self, now: Instant) {
        let n = self.rate * now.duration_since(self.since).as_secs_f64();
        self.total += n;
        self.sum += n * self.latency;
        for (count, le) in self.buckets.iter_mut().zip(BUCKETS) {
            if self.latency <= le {
                *count += n;
            }
        }
        self.since = now;
    }
}

/// One function's counters as exported.
struct Counters {
    started: f64,
    ok: f64,
    /// Answered with an error (the simulator's timed-out requests).
    failed: f64,
    sum: f64,
    buckets: [f64; BUCKETS.len()],
}

impl Counters {
    fn count(&self) -> f64 {
        self.ok + self.failed
    }
}

impl From<&Series> for Counters {
    fn from(s: &Series) -> Self {
        Self {
            started: s.total,
            ok: s.total,
            failed: 0.0,
            sum: s.sum,
            buckets: s.buckets,
        }
    }
}

impl From<&Sample> for Counters {
    fn from(s: &Sample) -> Self {
        let mut buckets = [0.0; BUCKETS.len()];
        buckets.copy_from_slice(&s.buckets[..NB - 1]);
        Self {
            started: s.started,
            ok: s.ok,
            failed: (s.buckets[NB - 1] - s.ok).max(0.0),
            sum: s.sum,
            buckets,
        }
    }
}

/// Handle to drive the simulated gateway.
#[derive(Clone, Default)]
pub struct Gateway {
    series: Arc<Mutex<BTreeMap<String, Series>>>,
    samples: Arc<Mutex<BTreeMap<String, Sample>>>,
    replicas: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Gateway {
    /// Set `function` (`name.namespace`) to `rate` requests/s answered in `latency` seconds.
    pub fn set(&self, function: &str, rate: f64, latency: f64) {
        let now = Instant::now();
        let mut all = self.series.lock().unwrap();
        let s = all.entry(function.to_owned()).or_insert(Series {
            rate: 0.0,
            latency,
            total: 0.0,
            sum: 0.0,
            buckets: [0.0; BUCKETS.len()],
            since: now,
        });
        s.advance(now);
        s.rate = rate;
        s.latency = latency;
    }

    /// Export the simulator's counters for `function` (`name.namespace`) from now on.
    pub fn set_sample(&self, function: &str, sample: &Sample) {
        self.samples
            .lock()
            .unwrap()
            .insert(function.to_owned(), *sample);
    }

    /// Export `gateway_service_count{function_name}` = `replicas` from now on (functions never
    /// reported here have no such series, as before a real gateway has listed them).
    pub fn set_replicas(&self, function: &str, replicas: u64) {
        self.replicas
            .lock()
            .unwrap()
            .insert(function.to_owned(), replicas);
    }

    fn render(&self) -> String {
        let now = Instant::now();
        let mut all: Vec<(String, Counters)> = Vec::new();
        for (f, s) in self.series.lock().unwrap().iter_mut() {
            s.advance(now);
            all.push((f.clone(), Counters::from(&*s)));
        }
        for (f, s) in self.samples.lock().unwrap().iter() {
            all.push((f.clone(), Counters::from(s)));
        }
        let mut out = String::new();
        out.push_str("# TYPE gateway_function_invocation_total counter\n");
        for (f, c) in &all {
            let _ = writeln!(
                out,
                "gateway_function_invocation_total{{code=\"200\",function_name=\"{f}\"}} {}",
                c.ok
            );
            if c.failed > 0.0 {
                let _ = writeln!(
                    out,
                    "gateway_function_invocation_total{{code=\"504\",function_name=\"{f}\"}} {}",
                    c.failed
                );
            }
        }
        out.push_str("# TYPE gateway_function_invocation_started counter\n");
        for (f, c) in &all {
            let _ = writeln!(
                out,
                "gateway_function_invocation_started{{function_name=\"{f}\"}} {}",
                c.started
            );
        }
        out.push_str("# TYPE gateway_functions_seconds histogram\n");
        for (f, c) in &all {
            let labels = format!("code=\"200\",function_name=\"{f}\"");
            for (count, le) in c.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "gateway_functions_seconds_bucket{{{labels},le=\"{le}\"}} {count}"
                );
            }
            let count = c.count();
            let _ = writeln!(
                out,
                "gateway_functions_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "gateway_functions_seconds_sum{{{labels}}} {}", c.sum);
            let _ = writeln!(out, "gateway_functions_seconds_count{{{labels}}} {count}");
        }
        let replicas = self.replicas.lock().unwrap();
        if !replicas.is_empty() {
            out.push_str("# TYPE gateway_service_count gauge\n");
        }
        for (f, n) in replicas.iter() {
            let _ = writeln!(out, "gateway_service_count{{function_name=\"{f}\"}} {n}");
        }
        out
    }

    /// Serve `/metrics` on a loopback port; returns the address. The server ends with the runtime.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/metrics",
                get(|State(g): State<Gateway>| async move { g.render() }),
            )
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}
