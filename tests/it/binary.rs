//! The binary end to end: JSON logs with structured decision fields, and SIGTERM → clean exit.

use std::process::Command;
use std::time::Duration;

use crate::support::doubles::webhook;
use crate::support::procs::{Served, raw_post};

#[test]
fn json_logs_carry_decision_fields_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::support::procs::echo_config(dir.path());
    let mut served = Served::start(&file, &[]);
    let logged = Duration::from_secs(30);

    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    let response = raw_post(served.addr, "/system/alert", &body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let decided = served.wait_for("decided", logged);
    let f = &decided["fields"];
    assert_eq!(f["function"], "echo.openfaas-fn");
    assert_eq!(f["outcome"], "scaled");
    assert_eq!((f["from"].as_u64(), f["to"].as_u64()), (Some(1), Some(5)));
    // A JSON array a log processor can read, not the text of one.
    assert_eq!(f["alerts"], serde_json::json!(["APIHighInvocationRate"]));

    let pid = served.child().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    served.wait_for(
        "shutdown signal received; finishing in-flight requests",
        logged,
    );
    let status = served.child().wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_output_not_in_a_panic() {
    // `alertscaler simulate … | head`: the reader is gone before the table is printed. The pipe's read
    // end is closed right after the spawn, long before the simulation has anything to print.
    let dir = tempfile::tempdir().unwrap();
    let scenario = crate::simulate::write(dir.path(), "s.toml", crate::simulate::TIMING);
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["simulate", "--policy", "capacity", "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{}: {stderr}", done.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The files do not depend on anyone reading the table.
    assert!(out.join("summary.json").is_file());
}
