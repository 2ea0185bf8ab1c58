//! Benchmark load generator for a stream of DISTINCT notifications (hey can only repeat one body):
//! request i posts a firing alert for function `fn-(i % functions)` with fingerprint i.
//! Prints requests/s and p50/p99 latency in the same shape as `scripts/bench.sh` reads.
//! Usage: `load URL REQUESTS CONCURRENCY FUNCTIONS`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: load URL REQUESTS CONCURRENCY FUNCTIONS"
    );
    let url = args[1].clone();
    let (requests, concurrency, functions): (usize, usize, usize) =
        (args[2].parse()?, args[3].parse()?, args[4].parse()?);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let body = format!(
                    r#"{{"version":"4","status":"firing","receiver":"bench","alerts":[{{"status":"firing","labels":{{"alertname":"Load","function_name":"fn-{}.openfaas-fn"}},"annotations":{{}},"startsAt":"2026-11-24T06:55:10.479Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"{:016x}"}}]}}"#,
                    i % functions,
                    i
                );
                let t = Instant::now();
                let ok = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(t.elapsed());
                failures += usize::from(!ok);
            }
            (latencies, failures)
        }));
    }
    let mut all: Vec<Duration> = Vec::with_capacity(requests);
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64();
    println!(
        "  Requests/sec:\t{:.1}",
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!("  50% in {:.4} secs", pct(0.50));
    println!("  99% in {:.4} secs", pct(0.99));
    println!("  failures: {failures}");
    Ok(())
}
