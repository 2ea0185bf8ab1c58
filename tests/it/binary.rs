//! The binary end to end: JSON logs with structured decision fields, and SIGTERM → clean exit.

use std::process::Command;
use std::time::Duration;

use crate::support::doubles::webhook;
use crate::support::procs::{Served, raw_post};

#[test]
fn json_logs_carry_decision_fields_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[[memory.functions]]\nname = \"echo\"\n",
    )
    .unwrap();
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
    assert!(
        f["alerts"]
            .as_str()
            .unwrap()
            .contains("APIHighInvocationRate")
    );

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
