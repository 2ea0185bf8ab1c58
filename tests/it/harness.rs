//! The harness's own process hygiene: a real process a test starts (Prometheus, AlertManager, the
//! alertscaler binary) never outlives the test binary, whether a test fails by panicking or the
//! whole binary is killed (a CI job's timeout, Ctrl-C), which no drop guard survives.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::procs::Proc;

/// How the helper below ends once its child runs (the environment variable `HARNESS_HELPER_END`).
const END: &str = "HARNESS_HELPER_END";
/// What precedes the child's pid in the helper's output.
const PID: &str = "harness helper's child:";

/// Run by [`no_child_outlives_a_failed_or_killed_test_binary`] in a test binary of its own: starts
/// a long-running child as the real-process tests do, prints its pid, then panics or hangs (to be
/// killed) as `HARNESS_HELPER_END` says.
#[test]
#[ignore = "a helper, run (and killed) by no_child_outlives_a_failed_or_killed_test_binary"]
fn helper_starts_a_child_then_fails() {
    // Run by hand (`--ignored`), it has nothing to show and must not hang.
    let Ok(end) = std::env::var(END) else { return };
    let dir = tempfile::tempdir().unwrap();
    let child = Proc::start("sleep", "sleep", &["600".into()], dir.path());
    println!("{PID} {}", child.id());
    match end.as_str() {
        "panic" => panic!("a failing real-process test"),
        _ => std::thread::sleep(Duration::from_secs(600)), // killed long before
    }
}

/// Whether `pid` is gone: no such process, or a zombie waiting for its new parent to reap it.
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) state …": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// The helper in a new test binary ending as `end`; returns its child's pid.
fn run_helper(end: &str) -> u32 {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "harness::helper_starts_a_child_then_fails"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(END, end)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // libtest may print the test's name first on the same line.
            if let Some((_, pid)) = line.rsplit_once(PID) {
                let _ = tx.send(pid.trim().parse::<u32>().unwrap());
            }
        }
    });
    // Generous: one process start on a loaded machine.
    let pid = rx.recv_timeout(Duration::from_secs(30));
    if end == "kill" {
        let _ = helper.kill(); // SIGKILL: no unwinding, no drop guard
    }
    let _ = helper.wait();
    pid.unwrap_or_else(|e| panic!("the helper reported no child ({end}): {e}"))
}

#[test]
fn no_child_outlives_a_failed_or_killed_test_binary() {
    for end in ["panic", "kill"] {
        let pid = run_helper(end);
        // The kernel signals the child as its parent exits; reaping may take a moment on a loaded
        // machine, never 10 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !gone(pid) {
            // SAFETY: kill(2) on the pid the helper reported, to leave nothing behind.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("the child {pid} outlived its test binary ({end})");
        }
    }
}
