//! Slow, idle and too many clients against the real binary: the `[connections]` limits.
//!
//! File descriptors: the 1 000-connection test needs about 1 000 sockets in this process and as
//! many in the child. It raises this process's soft open-file limit to 4 096 (bounded by the hard
//! limit, which it asserts is high enough) before starting the child, which inherits it; the
//! child itself would also raise or fit its limit (`server::fit_open_file_limit`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::doubles::webhook;
use crate::support::procs::{Served, raise_open_file_limit, raw_post};

/// Idle connections the lock-out test holds open, as in issue 14's reproduction.
const IDLE: usize = 1000;

fn serve(dir: &Path, connections: &str) -> Served {
    let file = dir.join("c.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[[memory.functions]]\nname = \"echo\"\n[connections]\n{connections}"
    );
    std::fs::write(&file, text).unwrap();
    Served::start(&file, &[])
}

/// POST a firing notification on a new connection; returns the status line.
fn post_webhook(addr: SocketAddr) -> String {
    let body = webhook("firing", "echo.openfaas-fn", "6a65bd8dfb3af9ad").to_string();
    let response = raw_post(addr, "/system/alert", &body);
    response.lines().next().unwrap_or_default().to_owned()
}

/// Whether the server closed `s`: waits up to `within` for EOF (or a reset).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read: {e}"),
    }
}

/// Whether `s` is still open right now (no EOF queued).
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let open = matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

#[test]
fn a_thousand_idle_connections_do_not_lock_out_alertmanager() {
    let limit = raise_open_file_limit(4096);
    assert!(
        limit >= 2 * IDLE as u64 + 256,
        "open-file limit {limit} too low for {IDLE} connections on each side; raise `ulimit -Hn`"
    );
    let dir = tempfile::tempdir().unwrap();
    // Timeouts far beyond the test's duration: only the connection cap acts here.
    let mut served = serve(
        dir.path(),
        &format!(
            "max_connections = {IDLE}\nheader_read_timeout_secs = 300\nidle_timeout_secs = 600\n"
        ),
    );
    // Half send nothing, half start a request head and stall (issue 14's slow client); the server
    // accepts in connection order, so the first one is the longest idle.
    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|i| {
            let mut s = TcpStream::connect(served.addr).unwrap();
            if i >= IDLE / 2 {
                s.write_all(b"POST /system/alert HTTP/1.1\r\n").unwrap();
            }
            s
        })
        .collect();

    assert_eq!(post_webhook(served.addr), "HTTP/1.1 200 OK");
    served.wait_for("decided", Duration::from_secs(30));
    // Room was made by closing the longest-idle connection; the newest stalled one is untouched.
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(30)),
        "the oldest idle connection was evicted"
    );
    assert!(still_open(idle.last_mut().unwrap()));
    assert!(still_open(&mut idle[IDLE / 2]));
}

#[test]
fn a_stalled_request_head_is_closed_within_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(
        dir.path(),
        "header_read_timeout_secs = 1\nidle_timeout_secs = 120\n",
    );
    let mut waiting = TcpStream::connect(served.addr).unwrap();
    let mut stalled = TcpStream::connect(served.addr).unwrap();
    let sent = Instant::now();
    stalled
        .write_all(b"POST /system/alert HTTP/1.1\r\n")
        .unwrap();
    // Generous upper bound (a loaded CI machine); the lower bound is exact: the server's clock
    // starts when it reads the bytes, after `sent`.
    assert!(closed_within(&mut stalled, Duration::from_secs(20)));
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(20),
        "closed after {took:?}"
    );
    // A connection that sent nothing is governed by the (longer) idle timeout, and a complete
    // request is still served.
    assert!(still_open(&mut waiting));
    assert_eq!(post_webhook(served.addr), "HTTP/1.1 200 OK");
}

#[test]
fn a_declared_body_over_the_limit_is_413_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A request timeout far beyond the read below: only the declared length can answer in time.
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nrequest_timeout_secs = 600\n[[memory.functions]]\nname = \"echo\"\n",
    )
    .unwrap();
    let served = Served::start(&file, &[]);
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.write_all(
        b"POST /system/alert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = [0u8; 256];
    let n = s
        .read(&mut answer)
        .expect("an answer before the body is sent");
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

/// README: a request that is not valid HTTP/1.1 is refused by the HTTP server with a bare 400, 414
/// or 431 and no body.
#[test]
fn a_request_that_is_not_valid_http_gets_a_bare_400_414_or_431() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), "");
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(65 * 1024));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    for (request, status) in [
        (
            "POST /system/alert HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
                .to_owned(),
            "400",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_owned(),
            "400",
        ),
        (long_target, "414"),
        (many_headers, "431"),
    ] {
        let mut s = TcpStream::connect(served.addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = Vec::new();
        // The server closes the connection after a refusal; a reset after the answer is fine.
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let what = &request[..request.len().min(60)];
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{what:?}: {answer}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(body.is_empty(), "{what:?}: a body: {body:?}");
        assert!(
            !head.to_ascii_lowercase().contains("content-type"),
            "{what:?}: {head}"
        );
    }
}
