//! A stand-in for the OpenFaaS gateway's metrics: the test sets each function's request rate and
//! latency, and `/metrics` exports `gateway_function_invocation_total` and the
//! `gateway_functions_seconds` histogram as the gateway does, integrated over time; and, for the
//! functions whose replicas the test reports, the `gateway_service_count` gauge.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// Handle to drive the simulated gateway.
#[derive(Clone, Default)]
pub struct Gateway {
    series: Arc<Mutex<BTreeMap<String, Series>>>,
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
        let mut all = self.series.lock().unwrap();
        let mut out = String::new();
        out.push_str("# TYPE gateway_function_invocation_total counter\n");
        for (f, s) in all.iter_mut() {
            s.advance(now);
            let _ = writeln!(
                out,
                "gateway_function_invocation_total{{code=\"200\",function_name=\"{f}\"}} {}",
                s.total
            );
        }
        out.push_str("# TYPE gateway_functions_seconds histogram\n");
        for (f, s) in all.iter() {
            let labels = format!("code=\"200\",function_name=\"{f}\"");
            for (count, le) in s.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "gateway_functions_seconds_bucket{{{labels},le=\"{le}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "gateway_functions_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.total
            );
            let _ = writeln!(out, "gateway_functions_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(
                out,
                "gateway_functions_seconds_count{{{labels}}} {}",
                s.total
            );
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
