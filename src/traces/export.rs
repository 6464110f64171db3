//! The span exporter: a request's finished spans are appended to a bounded
//! buffer under a short lock (one lock a request, no wake-up unless the
//! buffer was empty), and one task sends what gathered in batches, so a
//! request never waits on the collector; when the buffer is full, spans
//! are dropped and counted.

use super::{OtelSettings, Protocol, SpanData, otlp, otlp_wire};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Spans the buffer holds before new ones are dropped (a tenth of a second
/// of ten spans a request at 50,000 requests a second).
const QUEUE_SPANS: usize = 65_536;
/// The capacity an emptied buffer keeps (a tenth of a second of ten spans
/// a request at 16,000 requests a second).
const KEPT_SPANS: usize = 16_384;
/// Spans sent in one export request at most.
const BATCH_SPANS: usize = 2_048;
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
    spans: Mutex<Vec<SpanData>>,
    /// Told when spans arrive in an empty buffer, and when the exporter goes.
    arrived: Notify,
    closed: AtomicBool,
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
        let mut spans = spans.into_iter();
        let was_empty = {
            let mut pending = self.pending.spans.lock();
            let was_empty = pending.is_empty();
            let room = QUEUE_SPANS.saturating_sub(pending.len());
            pending.extend(spans.by_ref().take(room));
            was_empty
        };
        let refused = spans.count() as u64;
        if refused > 0 {
            let before = self.dropped.fetch_add(refused, Ordering::Relaxed);
            if (before + refused).ilog2() != before.checked_ilog2().unwrap_or(u32::MAX) {
                tracing::warn!(
                    dropped = before + refused,
                    "trace export queue full: spans dropped"
                );
            }
        }
        if was_empty {
            self.pending.arrived.notify_one();
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
    let mut spare: Vec<SpanData> = Vec::new();
    loop {
        pending.arrived.notified().await;
        let closed = pending.closed.load(Ordering::Acquire);
        if !closed {
            tokio::time::sleep(GATHER).await;
        }
        let mut gathered = std::mem::replace(&mut *pending.spans.lock(), spare);
        for batch in gathered.chunks(BATCH_SPANS) {
            export(&settings, &mut sink, batch, &mut failures).await;
        }
        if closed {
            return;
        }
        gathered.clear();
        // A burst's buffer is not kept for ever.
        gathered.shrink_to(KEPT_SPANS);
        spare = gathered;
    }
}

/// Sends one batch; a failure is logged (rarely) and the batch dropped.
async fn export(settings: &OtelSettings, sink: &mut Sink, batch: &[SpanData], failures: &mut u64) {
    let result = match sink {
        Sink::Http(client) => client
            .post(&settings.endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(otlp_wire::encode_request(&settings.service_name, batch))
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
        Sink::Grpc(Some(client)) => client
            .export(otlp::request(&settings.service_name, batch))
            .await
            .map(|_| ())
            .map_err(|status| status.to_string()),
        Sink::Grpc(None) => Err(format!("`{}` is not a gRPC endpoint", settings.endpoint)),
    };
    if let Err(error) = result {
        *failures += 1;
        // Said once, then every hundredth time: a collector that is down
        // must not flood the log.
        if *failures % 100 == 1 {
            tracing::warn!(%error, failures, spans = batch.len(), "trace export failed");
        }
    }
}
