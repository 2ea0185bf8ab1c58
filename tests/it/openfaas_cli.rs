//! `alertscaler serve` with the OpenFaaS backend: a corrupt state file stops startup with a clear
//! message, and `--fresh-state` starts with an empty ledger and says so in the log.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"version\":1,\"functions\":{\"fig").unwrap();
    let config = dir.path().join("alertscaler.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nbackend = \"openfaas\"\n[openfaas]\ngateway_url = \"http://127.0.0.1:9\"\nstate_file = {:?}\n",
        state.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn serve(config: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alertscaler"));
    cmd.args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn corrupt_state_file_is_a_startup_error_naming_the_flag() {
    let (dir, config) = setup();
    let out = tokio::time::timeout(Duration::from_secs(30), serve(&config, &[]).output())
        .await
        .expect("exits on its own")
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("state.json") && stderr.contains("--fresh-state"),
        "{stderr}"
    );
    assert!(
        dir.path().join("state.json").exists(),
        "never silently reset"
    );
}

#[tokio::test]
async fn fresh_state_starts_empty_and_says_so() {
    let (dir, config) = setup();
    let mut child = serve(&config, &["--fresh-state"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = String::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("alertscaler serving") {
                return true;
            }
        }
        false
    })
    .await;
    child.kill().await.unwrap();
    assert_eq!(found, Ok(true), "{log}");
    assert!(
        log.contains("EMPTY ledger") && log.contains("--fresh-state"),
        "{log}"
    );
    // It was given: the warning does not advise it.
    assert!(!log.contains("start with --fresh-state"), "{log}");
    assert!(dir.path().join("state.json.corrupt").exists(), "{log}");
}
