//! The `alertscaler` binary: parse the command line, set up logging, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use alertscaler::backend::Backend;
use alertscaler::backend::memory::MemoryBackend;
use alertscaler::config::{BackendKind, Config};
use alertscaler::server;
use alertscaler::sim;

#[derive(Parser)]
#[command(
    version,
    about = "Autoscale OpenFaaS functions from AlertManager webhooks"
)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook receiver.
    Serve {
        /// TOML configuration file (defaults < file < ALERTSCALER_* environment).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Replaces the built-in default of `listen` (127.0.0.1:8080); the file and the environment
        /// still override it. The container image passes 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        default_listen: Option<SocketAddr>,
        /// OpenFaaS backend: if the state file is corrupt or unreadable, move it aside and start with
        /// an EMPTY ledger instead of refusing to start (duplicates may then step once more).
        #[arg(long)]
        fresh_state: bool,
        /// Decide and record as usual but write no replica count (as `dry_run = true`; the flag
        /// can only turn it on).
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the effective configuration (secrets redacted) or the error that makes it invalid.
    CheckConfig {
        /// TOML configuration file (defaults < file < ALERTSCALER_* environment).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// As for `serve`.
        #[arg(long, value_name = "ADDR")]
        default_listen: Option<SocketAddr>,
        /// As for `serve`.
        #[arg(long)]
        dry_run: bool,
    },
    /// Replay a load scenario through simulated Prometheus and AlertManager and the real decision code;
    /// compare policies (table on stdout; summary.md, summary.json, CSV and SVG in --out). Decision logs are
    /// silenced.
    Simulate {
        /// Scenario file (TOML), e.g. fixtures/scenarios/cpu-bound-75ms.toml.
        #[arg(long)]
        scenario: PathBuf,
        /// Policy preset to run (repeatable): ce, step, step-ce-down, latency, proportional, capacity,
        /// capacity-zero, kpa. Default: the scenario's list, else all.
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Directory for summary.md, summary.json, <policy>.csv and <function>.svg.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the random arrivals and loop phases (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn main() -> std::process::ExitCode {
    // Before the runtime starts its worker threads (see `one_heap`).
    alertscaler::memory::one_heap();
    let done = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run()));
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with its causes (`{:#}`), not the `Debug` form `main` returning the error
            // would print: that adds a `Caused by:` block and, with RUST_BACKTRACE set, a stack dump.
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("could not install the ring TLS provider"))?;
    // Flushes the log writer thread when main returns.
    let _log = init_tracing(cli.log_format);
    match cli.command {
        Command::CheckConfig {
            config,
            default_listen,
            dry_run,
        } => {
            let mut config = Config::load_with_default_listen(config.as_deref(), default_listen)?;
            config.dry_run |= dry_run;
            server::check_files(&config).await?;
            emit(&config.to_redacted_toml())
        }
        Command::Serve {
            config,
            default_listen,
            fresh_state,
            dry_run,
        } => {
            let mut config = Config::load_with_default_listen(config.as_deref(), default_listen)?;
            config.dry_run |= dry_run;
            server::check_files(&config).await?;
            let backend: Arc<dyn Backend> = match config.backend {
                // Moved into the backend, not copied: a large function table is held once.
                BackendKind::Memory => Arc::new(MemoryBackend::from_specs(std::mem::take(
                    &mut config.memory.functions,
                ))),
                _ => server::backend_with(&config, fresh_state).await?,
            };
            let state = server::state(&config, backend)?;
            // Loading freed more than the process keeps using: give it back to the OS.
            alertscaler::memory::release_free_memory();
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let bound = listener.local_addr().unwrap_or(config.listen);
            // Signal handlers first: a SIGTERM right after "serving" must not be lost.
            let shutdown = server::shutdown_signal();
            tracing::info!(listen = %bound, backend = ?config.backend, tls = config.tls.is_some(), dry_run = config.dry_run, "alertscaler serving");
            let options = server::ServeOptions::from_config(&config);
            server::serve_with(listener, state, shutdown, options).await
        }
        Command::Simulate {
            scenario,
            policies,
            out,
            seed,
        } => {
            // The simulator drives the service on its own single-threaded runtime with simulated time, so it
            // runs on a plain thread, outside this runtime, with the per-decision logs silenced.
            std::thread::spawn(move || {
                let quiet = tracing::subscriber::NoSubscriber::default();
                tracing::subscriber::with_default(quiet, || {
                    simulate(&scenario, &policies, out.as_deref(), seed)
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the simulation thread panicked"))?
        }
    }
}

fn simulate(
    scenario: &std::path::Path,
    policies: &[String],
    out: Option<&std::path::Path>,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    let options = sim::Options {
        seed,
        policies: policies.to_vec(),
    };
    // Before anything is read or simulated: a bad --out must not cost a (possibly long) run.
    if let Some(dir) = out {
        sim::report::prepare(dir).context("--out")?;
    }
    let started = std::time::Instant::now();
    let result = sim::run_file(scenario, &options)
        .with_context(|| format!("simulating {}", scenario.display()))?;
    let wall = started.elapsed();
    // The files first: a reader that stops reading the table (`| head`) must not cost them.
    let written = out
        .map(|dir| sim::report::write(&result, dir).map(|files| (dir, files.len())))
        .transpose()?;
    let mut text = format!("{}\n", sim::report::summary(&result));
    for run in &result.runs {
        text += &format!(
            "{}: {} functions × {} s simulated in {:.2} s wall time\n",
            run.policy.name,
            result.functions.len(),
            result.scenario.duration_secs,
            run.wall.as_secs_f64()
        );
    }
    text += &format!("total wall time {:.2} s\n", wall.as_secs_f64());
    if let Some((dir, files)) = written {
        text += &format!("wrote {files} files to {}\n", dir.display());
    }
    emit(&text)
}

/// Print to stdout. A reader that closed the pipe early (`alertscaler simulate … | head`) ends the output,
/// not the process with a panic, as `println!` would.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to standard output"))
        }
        _ => Ok(()),
    }
}

/// Logging set up; the guard flushes queued lines when `main` returns.
fn init_tracing(format: LogFormat) -> alertscaler::logging::FlushGuard {
    alertscaler::logging::init(matches!(format, LogFormat::Json))
}
