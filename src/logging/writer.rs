//! A log writer that does not cost the decision path: each formatted line is handed to a writer
//! thread through a bounded channel, so a handler never waits on `write(2)` to stdout (a slow
//! terminal or a full pipe). The thread writes what has gathered in one buffered write every few
//! milliseconds, so that a line costs its sender no wake-up of the thread. When the channel is full (stdout stalled), lines are dropped and counted
//! rather than blocking decisions; the count is logged once output flows again.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines buffered between the handlers and the writer thread before lines are dropped: enough for
/// bursts (the thread drains thousands of lines per millisecond into a file or pipe), small enough
/// (~0.5 MB of ~200-byte lines) that a stalled stdout does not grow the process.
pub const DEFAULT_CAPACITY: usize = 2048;

enum Message {
    Line(Vec<u8>),
    /// Write everything sent so far, then answer.
    Flush(SyncSender<()>),
}

/// A [`MakeWriter`] for `tracing_subscriber` whose writes never block on the output.
#[derive(Clone)]
pub struct NonBlocking {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// Flushes the writer thread when dropped: keep it alive for as long as the program logs.
pub struct FlushGuard {
    sender: SyncSender<Message>,
}

impl NonBlocking {
    /// Start the writer thread writing to `out`.
    pub fn new<W: Write + Send + 'static>(out: W, capacity: usize) -> (Self, FlushGuard) {
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        // If the thread cannot be spawned, the receiver is dropped and every line counts as lost:
        // logging must never stop the service.
        let _ = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(receiver, out, &counter));
        let guard = FlushGuard {
            sender: sender.clone(),
        };
        (Self { sender, dropped }, guard)
    }

    /// Lines dropped so far because the output could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_lines<W: Write>(receiver: Receiver<Message>, out: W, dropped: &AtomicU64) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut reported = 0;
    while let Ok(message) = receiver.recv() {
        let mut next = Some(message);
        // Drain what is queued into the buffer, then flush once.
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    note_dropped(&mut out, dropped, &mut reported);
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        note_dropped(&mut out, dropped, &mut reported);
        let _ = out.flush();
        // Let lines gather for a moment before the next batch: a writer thread that waits in
        // `recv` has to be woken (a futex call and a context switch) by every line a decision
        // sends, which on two cores costs more than formatting the line.
        std::thread::sleep(BATCH_PAUSE);
    }
    let _ = out.flush();
}

/// Say how many lines were dropped since the last time, if any.
fn note_dropped<W: Write>(out: &mut W, dropped: &AtomicU64, reported: &mut u64) {
    let lost = dropped.load(Ordering::Relaxed);
    if lost != *reported {
        let _ = writeln!(
            out,
            "log output stalled: {} lines dropped",
            lost - *reported
        );
        *reported = lost;
    }
}

/// How long lines gather between two batches (the most a line waits before it is written).
const BATCH_PAUSE: Duration = Duration::from_millis(5);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.sender.send(Message::Flush(done)).is_ok() {
            // Bounded: a stalled stdout must not keep the process from exiting.
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(2)) {
                eprintln!("log output did not drain within 2 s");
            }
        }
    }
}

/// One formatted event: collected, then sent as one line when dropped.
pub struct LineWriter {
    line: Vec<u8>,
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        match self.sender.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            line: Vec::new(),
            sender: self.sender.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A `Write` that appends to a shared buffer, optionally blocking until released.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_once_flushed() {
        let out = Shared::default();
        let (writer, guard) = NonBlocking::new(out.clone(), 1024);
        for i in 0..100 {
            let mut w = writer.make_writer();
            write!(w, "line ").unwrap();
            writeln!(w, "{i}").unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(writer.dropped(), 0);
    }

    /// An output that blocks every write until the test opens the gate, and says when it
    /// first blocked.
    struct Stalled {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
        entered: SyncSender<()>,
        out: Shared,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.try_send(());
            let (open, cv) = &*self.gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.out.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_lines_instead_of_blocking_the_caller() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (entered, blocked) = mpsc::sync_channel(1);
        let out = Shared::default();
        let stalled = Stalled {
            gate: gate.clone(),
            entered,
            out: out.clone(),
        };
        let (writer, guard) = NonBlocking::new(stalled, 4);
        writeln!(writer.make_writer(), "first").unwrap();
        // The writer thread is now stuck writing "first": the channel takes 4 lines, the rest
        // are dropped, and none of these calls waits.
        blocked.recv().unwrap();
        for i in 0..50 {
            writeln!(writer.make_writer(), "{i}").unwrap();
        }
        assert_eq!(writer.dropped(), 46);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("first\n0\n1\n2\n3\n"), "{text}");
        assert!(text.contains("46 lines dropped"), "{text}");
    }
}
