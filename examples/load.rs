//! Benchmark load generator for a stream of DISTINCT notifications (hey can only repeat one body),
//! where every request makes alertscaler decide and write.
//!
//! Request i concerns function `fn-(i % FUNCTIONS)` and its episode `e = START + i / FUNCTIONS`:
//! an even episode fires, the odd one after it resolves it (same fingerprint per function, a new
//! `startsAt` per pair), so every request makes alertscaler read, decide and write: a firing scales
//! up when the function's cooldown allows (else the new episode is recorded as a cooldown hold),
//! a resolution scales back to min with `policy.scale_down = "ce"`. Runs for SECONDS, then prints
//! requests/s and p50/p99 latency in the shape `scripts/bench.sh` reads, the number of requests
//! and failures (transport errors and non-2xx answers), and the episode the next round should
//! start at. SECONDS = 0 sends exactly one request per function instead.
//! Usage: `load URL SECONDS CONCURRENCY FUNCTIONS [START]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5 || args.len() == 6,
        "usage: load URL SECONDS CONCURRENCY FUNCTIONS [START]"
    );
    let url = args[1].clone();
    let (seconds, concurrency, functions): (f64, usize, usize) =
        (args[2].parse()?, args[3].parse()?, args[4].parse()?);
    let start: usize = args.get(5).map_or(Ok(0), |s| s.parse())?;
    anyhow::ensure!(
        functions > 0 && concurrency > 0,
        "FUNCTIONS and CONCURRENCY must be > 0"
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    // SECONDS = 0: exactly one request per function (the memory measurement's "one alert each").
    let once = seconds == 0.0;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let done = if once {
                    i >= functions
                } else {
                    Instant::now() >= deadline
                };
                if done {
                    break;
                }
                let body = notification(i % functions, start + i / functions);
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
    let mut all: Vec<Duration> = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(!all.is_empty(), "no request completed");
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64();
    let issued = all.len();
    // The next round starts at a fresh, even (firing) episode for every function.
    let next_start = (start + issued / functions + 2) & !1;
    println!(
        "  Requests/sec:\t{:.1}",
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!("  50% in {:.4} secs", pct(0.50));
    println!("  99% in {:.4} secs", pct(0.99));
    println!("  requests: {}", all.len());
    println!("  failures: {failures}");
    println!("  next start: {next_start}");
    Ok(())
}

/// Episode `episode` of function `function`: even fires, odd resolves the one before it.
fn notification(function: usize, episode: usize) -> String {
    let status = if episode.is_multiple_of(2) {
        "firing"
    } else {
        "resolved"
    };
    // One series per function (a fixed fingerprint); each firing/resolved pair starts anew.
    let starts_at = 1_795_000_000 + (episode / 2) as i64;
    let starts_at = chrono::DateTime::from_timestamp(starts_at, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        r#"{{"version":"4","status":"{status}","receiver":"bench","alerts":[{{"status":"{status}","labels":{{"alertname":"Load","function_name":"fn-{function}.openfaas-fn"}},"annotations":{{}},"startsAt":"{starts_at}","endsAt":"0001-01-01T00:00:00Z","fingerprint":"{function:016x}"}}]}}"#
    )
}
