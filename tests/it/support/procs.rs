//! Real processes for end-to-end tests: free ports, readiness, and a guard that always stops them.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed and reaped when dropped, also when the test panics.
pub struct Proc {
    pub name: &'static str,
    child: Child,
}

impl Proc {
    /// Start `program` with `args`; stdout and stderr go to `log_dir/name.log`.
    pub fn start(name: &'static str, program: &str, args: &[String], log_dir: &Path) -> Self {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program}: {e} (is it installed? run .ci/run)")
            });
        Self { name, child }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (bind to :0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `url` until it answers 2xx, or panic after `timeout` with the process log.
pub async fn wait_ready(proc: &mut Proc, url: &str, timeout: Duration, log_dir: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        if !proc.alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log =
        std::fs::read_to_string(log_dir.join(format!("{}.log", proc.name))).unwrap_or_default();
    panic!("{} not ready at {url}; log:\n{log}", proc.name);
}
