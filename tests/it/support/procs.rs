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
        let child = die_with_test(&mut Command::new(program))
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

    /// The process id, e.g. to check from outside that it is gone.
    pub fn id(&self) -> u32 {
        self.child.id()
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

/// Make the child of `command` die (SIGKILL) with the thread that starts it. The drop guards
/// ([`Proc`], [`Served`]) stop children when a test fails by unwinding, but nothing runs when the
/// test binary itself is killed — a CI job's timeout, Ctrl-C, a second panic while unwinding — and
/// a Prometheus, AlertManager or alertscaler would then outlive the run, holding its port and CPU.
/// Linux sends the signal when the *thread* that forked the child ends, so start children on the
/// test's own thread (a `#[tokio::test]` body runs there), never from a spawned task or blocking pool.
pub fn die_with_test(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec; prctl, getppid and _exit are
    // async-signal-safe and it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Killed between fork and prctl: no signal will come, so do not start at all.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    }
}

/// `N` distinct ports that were free a moment ago (bound to :0, read, released), none of them in
/// `taken` (ports chosen before and not bound yet). The N listeners are held at once: two binds to
/// port 0 in a row may return the same port, and two processes told to listen on it collide.
pub fn free_ports<const N: usize>(taken: &[u16]) -> [u16; N] {
    loop {
        let held: Vec<TcpListener> = (0..N)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: [u16; N] = std::array::from_fn(|i| held[i].local_addr().unwrap().port());
        if !ports.iter().any(|p| taken.contains(p)) {
            return ports;
        }
    }
}

/// How long one HTTP request of a real-process test may take: a bound, so that a process that
/// accepts a connection and never answers fails the test instead of hanging it. Far above any answer
/// seen (Prometheus' and AlertManager's APIs and alertscaler answer loopback requests in
/// milliseconds, also on a loaded 2-core machine).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client of real-process tests: every request bounded by [`REQUEST_TIMEOUT`], and never
/// a proxy from the environment (every address is on loopback).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .unwrap()
}

/// Poll `url` until it answers 2xx, or panic after `timeout` with the process log.
pub async fn wait_ready(proc: &mut Proc, url: &str, timeout: Duration, log_dir: &Path) {
    let client = client();
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

/// How long `alertscaler serve` may take to report its address. Generous on purpose: a cold start
/// on a loaded 2-core CI machine takes well under a second, but a test must not fail on a slow
/// moment; a process that exits early fails at once instead of waiting.
pub const STARTUP: Duration = Duration::from_secs(60);

/// A configuration in `dir` that serves the memory backend's function `echo` on a free loopback
/// port (the address is read from the start-up line).
pub fn echo_config(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[[memory.functions]]\nname = \"echo\"\n",
    )
    .unwrap();
    file
}

/// A running `alertscaler serve`: it binds the port its configuration names (use port 0) and the
/// address it reports in its "alertscaler serving" log line is the one tests connect to, so no port
/// is ever freed and re-bound. Log lines are kept for [`Served::wait_for`] and
/// [`Served::wait_line`]; the process is killed and reaped when dropped.
pub struct Served {
    child: Child,
    pub addr: std::net::SocketAddr,
    /// The "alertscaler serving" log line.
    pub serving: String,
    logs: std::sync::mpsc::Receiver<String>,
}

impl Served {
    /// `alertscaler --log-format json serve --config <config>` with `RUST_LOG=info` and `env`.
    pub fn start(config: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        Self::start_with("json", config, env, &[])
    }

    /// As [`Served::start`], with these `serve` flags after the configuration.
    pub fn start_flags(config: &Path, flags: &[&str]) -> Self {
        Self::start_with("json", config, &[], flags)
    }

    /// As [`Served::start`], with text logs (as a terminal user sees them).
    pub fn start_text(config: &Path) -> Self {
        Self::start_with("text", config, &[], &[])
    }

    fn start_with(
        format: &str,
        config: &Path,
        env: &[(&str, &std::ffi::OsStr)],
        flags: &[&str],
    ) -> Self {
        use std::io::BufRead;
        let mut child = die_with_test(&mut Command::new(env!("CARGO_BIN_EXE_alertscaler")))
            .args(["--log-format", format, "serve", "--config"])
            .arg(config)
            .args(flags)
            .env("RUST_LOG", "info")
            // Never the in-cluster Kubernetes configuration of a CI runner.
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the alertscaler binary starts");
        let (tx, logs) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        // Always drained, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut served = Self {
            child,
            addr: ([0, 0, 0, 0], 0).into(),
            serving: String::new(),
            logs,
        };
        let serving = served.wait_line(|l| l.contains("alertscaler serving"), STARTUP);
        let listen = match serde_json::from_str::<serde_json::Value>(&serving) {
            Ok(v) => v["fields"]["listen"].as_str().map(str::to_owned),
            Err(_) => serving
                .split_once("listen=")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned),
        };
        served.addr = listen
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {serving}"));
        served.serving = serving;
        served
    }

    /// The next log line for which `wanted` holds; panics after `timeout` or when the process
    /// exits first.
    pub fn wait_line(&mut self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no such log line within {timeout:?} (exited: {:?})",
                    self.child.try_wait()
                ),
            }
        }
    }

    /// The next JSON log line with this message.
    pub fn wait_for(&mut self, message: &str, timeout: Duration) -> serde_json::Value {
        let line = self.wait_line(
            |l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["fields"]["message"] == message)
            },
            timeout,
        );
        serde_json::from_str(&line).unwrap()
    }

    /// The process, e.g. to signal it or wait for its exit.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raise this process's soft open-file limit to `wanted` (at most the hard limit); children
/// started afterwards inherit it. Returns the soft limit now in force.
pub fn raise_open_file_limit(wanted: u64) -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        if l.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted.min(l.rlim_max),
                rlim_max: l.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l = raised;
            }
        }
    }
    l.rlim_cur
}

/// A blocking HTTP/1.1 POST on a new loopback connection (`Connection: close`); returns the
/// whole response as text.
pub fn raw_post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    raw_request(addr, "POST", path, body)
}

/// As [`raw_post`], a GET.
pub fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    raw_request(addr, "GET", path, "")
}

fn raw_request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
