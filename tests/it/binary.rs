//! The binary end to end: JSON logs with structured decision fields, and SIGTERM → clean exit.

use crate::support::doubles::webhook;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Kills the child if the test fails before it exits.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn json_logs_carry_decision_fields_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[[memory.functions]]\nname = \"echo\"\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_alertscaler"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = guard.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let wait_for = |message: &str| -> Value {
        loop {
            let v = rx.recv_timeout(Duration::from_secs(30)).expect("log line");
            if v["fields"]["message"] == message {
                return v;
            }
        }
    };
    let serving = wait_for("alertscaler serving");
    let addr = serving["fields"]["listen"].as_str().unwrap().to_owned();

    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    let response = http_post(&addr, &body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let decided = wait_for("decided");
    let f = &decided["fields"];
    assert_eq!(f["function"], "echo.openfaas-fn");
    assert_eq!(f["outcome"], "scaled");
    assert_eq!((f["from"].as_u64(), f["to"].as_u64()), (Some(1), Some(5)));
    assert!(
        f["alerts"]
            .as_str()
            .unwrap()
            .contains("APIHighInvocationRate")
    );

    let pid = guard.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("shutdown signal received; finishing in-flight requests");
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// A minimal blocking HTTP/1.1 POST over loopback (no client crate needed in a sync test).
fn http_post(addr: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /system/alert HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
