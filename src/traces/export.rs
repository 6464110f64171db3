//! The span exporter: a request's finished spans are written to protobuf on
//! its own thread (while they are still in its cache, and freed where they
//! were made) and the bytes appended to a bounded buffer under a short lock
//! (one lock a request, no wake-up unless the buffer was empty); one task
//! sends what gathered in batches, each the gathered bytes as they are
//! inside a few headers, so a request never waits on the collector; when
//! the buffer is full, spans are dropped and counted.

use super::{OtelSettings, Protocol, SpanData, otlp_wire};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use parking_lot::Mutex;
use prost::Message;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Span bytes the buffer holds before new spans are dropped (a tenth of a
/// second of 50,000 requests a second, each about 1.5 KB of spans).
const QUEUE_BYTES: usize = 8 << 20;
/// The capacity an emptied buffer keeps.
const KEPT_BYTES: usize = 4 << 20;
/// Span bytes sent in one export request at most (a request's spans are
/// never split across two).
const BATCH_BYTES: usize = 1 << 20;
/// The most a thread's scratch buffer keeps between requests.
const SCRATCH_KEPT: usize = 64 << 10;
/// How long the exporter gathers spans after the first: one wake-up for
/// many spans rather than one per span.
const GATHER: Duration = Duration::from_millis(100);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Exporter {
    settings: OtelSettings,
    pending: Arc<Pending>,
    /// Set once the export task runs (on the first span, inside a runtime).
    started: OnceLock<()>,
    dropped: AtomicU64,
}

/// Spans waiting for the export task.
#[derive(Default)]
struct Pending {
    spans: Mutex<Written>,
    /// Told when spans arrive in an empty buffer, and when the exporter goes.
    arrived: Notify,
    closed: AtomicBool,
}

/// Spans as protobuf (`ScopeSpans.spans` fields), a request's after another.
#[derive(Default)]
struct Written {
    bytes: Vec<u8>,
    /// Where each request's spans end in `bytes`: batches are cut there.
    ends: Vec<usize>,
}

impl Written {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// `bytes` cut at request ends into pieces of at most `BATCH_BYTES`
    /// (or one request's, when that alone is more).
    fn batches(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        let mut ends = self.ends.iter().copied().peekable();
        std::iter::from_fn(move || {
            let mut end = ends.next()?;
            while let Some(&next) = ends.peek() {
                if next - start > BATCH_BYTES {
                    break;
                }
                end = next;
                ends.next();
            }
            let batch = &self.bytes[start..end];
            start = end;
            Some(batch)
        })
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        // A burst's buffer is not kept for ever.
        self.bytes.shrink_to(KEPT_BYTES);
        self.ends.shrink_to(KEPT_BYTES / 1024);
    }
}

thread_local! {
    /// Where a request's spans are written before they go into the buffer
    /// (so the lock is held for one copy, not for the writing).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // The task sends what is left, then ends.
        self.pending.closed.store(true, Ordering::Release);
        self.pending.arrived.notify_one();
    }
}

impl Exporter {
    pub fn new(settings: &OtelSettings) -> Self {
        Self {
            settings: settings.clone(),
            pending: Arc::default(),
            started: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    pub fn sample_ratio(&self) -> f64 {
        self.settings.sample_ratio
    }

    /// Spans dropped because the buffer was full or no runtime ran.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues finished spans; never waits.
    pub fn send(&self, spans: impl IntoIterator<Item = SpanData>) {
        if !self.settings.enabled {
            return;
        }
        if self.started.get().is_none() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            };
            self.started.get_or_init(|| {
                runtime.spawn(run(self.settings.clone(), self.pending.clone()));
            });
        }
        // Whether the buffer was empty before (the task is to be told), or
        // how many spans were refused because it was full.
        let queued: Result<bool, u64> = SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            let mut count = 0u64;
            for span in spans {
                otlp_wire::put_span_field(&span, scratch);
                count += 1;
            }
            if count == 0 {
                return Ok(false);
            }
            let queued = {
                let mut pending = self.pending.spans.lock();
                if pending.bytes.len() + scratch.len() > QUEUE_BYTES {
                    Err(count)
                } else {
                    let was_empty = pending.is_empty();
                    pending.bytes.extend_from_slice(scratch);
                    let end = pending.bytes.len();
                    pending.ends.push(end);
                    Ok(was_empty)
                }
            };
            if scratch.capacity() > SCRATCH_KEPT {
                scratch.clear();
                scratch.shrink_to(SCRATCH_KEPT);
            }
            queued
        });
        match queued {
            Ok(true) => self.pending.arrived.notify_one(),
            Ok(false) => {}
            Err(refused) => {
                let before = self.dropped.fetch_add(refused, Ordering::Relaxed);
                if (before + refused).ilog2() != before.checked_ilog2().unwrap_or(u32::MAX) {
                    tracing::warn!(
                        dropped = before + refused,
                        "trace export queue full: spans dropped"
                    );
                }
            }
        }
    }
}

/// Where batches go.
enum Sink {
    Http(reqwest::Client),
    Grpc(Option<TraceServiceClient<tonic::transport::Channel>>),
}

async fn run(settings: OtelSettings, pending: Arc<Pending>) {
    let mut sink = match settings.protocol {
        Protocol::Http => Sink::Http(
            reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
                .unwrap_or_default(),
        ),
        Protocol::Grpc => Sink::Grpc(
            tonic::transport::Endpoint::from_shared(settings.endpoint.clone())
                .ok()
                .map(|endpoint| {
                    TraceServiceClient::new(endpoint.timeout(EXPORT_TIMEOUT).connect_lazy())
                }),
        ),
    };
    let mut failures = 0u64;
    // The buffer requests append to and the one being sent trade places, so
    // each keeps its capacity: requests do not grow a fresh buffer (and
    // copy it as it grows) every time the exporter wakes.
    let mut spare = Written::default();
    loop {
        pending.arrived.notified().await;
        let closed = pending.closed.load(Ordering::Acquire);
        if !closed {
            tokio::time::sleep(GATHER).await;
        }
        let mut gathered = std::mem::replace(&mut *pending.spans.lock(), spare);
        for batch in gathered.batches() {
            export(&settings, &mut sink, batch, &mut failures).await;
        }
        if closed {
            return;
        }
        gathered.clear();
        spare = gathered;
    }
}

/// Sends one batch of written spans; a failure is logged (rarely) and the
/// batch dropped.
async fn export(settings: &OtelSettings, sink: &mut Sink, spans: &[u8], failures: &mut u64) {
    let body = otlp_wire::encode_request(&settings.service_name, spans);
    let result = match sink {
        Sink::Http(client) => client
            .post(&settings.endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await
            .map_err(|error| error.to_string())
            .and_then(|response| {
                response
                    .status()
                    .is_success()
                    .then_some(())
                    .ok_or_else(|| format!("the collector answered {}", response.status()))
            }),
        // The gRPC client takes the message, not its bytes: read back from
        // the same bytes the HTTP path sends.
        Sink::Grpc(Some(client)) => match ExportTraceServiceRequest::decode(body.as_slice()) {
            Ok(request) => client
                .export(request)
                .await
                .map(|_| ())
                .map_err(|status| status.to_string()),
            Err(error) => Err(format!("the spans did not read back: {error}")),
        },
        Sink::Grpc(None) => Err(format!("`{}` is not a gRPC endpoint", settings.endpoint)),
    };
    if let Err(error) = result {
        *failures += 1;
        // Said once, then every hundredth time: a collector that is down
        // must not flood the log.
        if *failures % 100 == 1 {
            tracing::warn!(%error, failures, bytes = spans.len(), "trace export failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_at_request_ends_within_the_bound() {
        let mut written = Written::default();
        for (request, size) in [10, BATCH_BYTES - 20, 15, BATCH_BYTES + 5, 3, 4]
            .into_iter()
            .enumerate()
        {
            written
                .bytes
                .extend(std::iter::repeat_n(request as u8, size));
            written.ends.push(written.bytes.len());
        }
        let batches: Vec<&[u8]> = written.batches().collect();
        assert_eq!(batches.concat(), written.bytes, "every byte once, in order");
        let sizes: Vec<usize> = batches.iter().map(|batch| batch.len()).collect();
        // A request alone over the bound goes whole, in a batch of its own.
        assert_eq!(sizes, [BATCH_BYTES - 10, 15, BATCH_BYTES + 5, 7]);
        assert_eq!(Written::default().batches().count(), 0);
    }
}
