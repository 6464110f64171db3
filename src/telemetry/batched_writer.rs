//! Log lines gathered in memory and written by one thread in batches. A
//! line costs its writer a short lock and a copy, never a wake-up: the
//! thread writes what gathered every `WRITE_EVERY`, or as soon as
//! `WRITE_AT` bytes wait. (A channel to a writer thread, as
//! `tracing-appender` has, wakes that thread for nearly every line on a
//! busy gateway: one request line each, several microseconds of the
//! kernel's time apiece.) When `MAX_WAITING` bytes wait, new lines are
//! dropped and counted, and the count is written once there is room.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long a line may wait before it is written.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// Bytes that make the thread write at once.
const WRITE_AT: usize = 256 * 1024;
/// Bytes that may wait; lines beyond are dropped.
const MAX_WAITING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    /// Told when `WRITE_AT` bytes wait, and at close.
    full: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A panic while holding the lock leaves only bytes: keep them.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the formatter writes lines (`tracing_subscriber`'s `MakeWriter`).
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes what waits and stops the thread when dropped.
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.full.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the thread that writes to `out`.
pub fn start(out: impl Write + Send + 'static) -> std::io::Result<(BatchedWriter, WriterGuard)> {
    let shared = Arc::new(Shared::default());
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("switchboard-log".into())
        .spawn(move || write_until_closed(&writer, out))?;
    Ok((
        BatchedWriter {
            shared: shared.clone(),
        },
        WriterGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_until_closed(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let closed = {
            let mut waiting = shared.lock();
            if !waiting.closed && waiting.bytes.len() < WRITE_AT {
                waiting = shared
                    .full
                    .wait_timeout(waiting, WRITE_EVERY)
                    .map(|(waiting, _)| waiting)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            std::mem::swap(&mut waiting.bytes, &mut spare);
            waiting.closed
        };
        // Nowhere to report a failed write to: the log is that place.
        let _ = out.write_all(&spare);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "switchboard: {dropped} log lines dropped (the log writer fell behind)"
            );
        }
        let _ = out.flush();
        spare.clear();
        // What one burst grew is not kept for ever.
        spare.shrink_to(WRITE_AT * 2);
        if closed {
            return;
        }
    }
}

impl BatchedWriter {
    /// Appends one formatted line (or several); drops it whole when the
    /// writer is too far behind.
    fn append(&self, line: &[u8]) {
        let mut waiting = self.shared.lock();
        if waiting.bytes.len() + line.len() > MAX_WAITING {
            drop(waiting);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        waiting.bytes.extend_from_slice(line);
        let ready = waiting.bytes.len() >= WRITE_AT;
        drop(waiting);
        if ready {
            self.shared.full.notify_one();
        }
    }
}

// Written through a shared reference: a line costs no count on the
// shared state, which every thread would otherwise touch twice.
impl Write for &BatchedWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = &'a BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_all_are_written_at_close() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        (&writer)
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..500).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_line_is_written_without_more_lines_to_push_it() {
        let out = Captured::default();
        let (writer, _guard) = start(out.clone()).unwrap();
        (&writer).write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().unwrap().as_slice() != b"alone\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was not written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn lines_beyond_the_bound_are_dropped_and_counted() {
        let shared = Arc::new(Shared::default());
        let writer = BatchedWriter {
            shared: shared.clone(),
        };
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..10 {
            writer.append(&line);
        }
        assert_eq!(shared.lock().bytes.len(), MAX_WAITING);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 2);
        // The writer reports the count with what it writes.
        shared.lock().closed = true;
        let out = Captured::default();
        write_until_closed(&shared, out.clone());
        let written = out.0.lock().unwrap();
        assert!(
            written.ends_with(b"switchboard: 2 log lines dropped (the log writer fell behind)\n")
        );
    }
}
