//! The span exporter: finished spans go through a bounded queue to one
//! task that sends them in batches, so a request never waits on the
//! collector; when the queue is full, spans are dropped and counted.

use super::{OtelSettings, Protocol, SpanData, otlp};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Spans the queue holds before new ones are dropped (a tenth of a second
/// of ten spans a request at 50,000 requests a second).
const QUEUE_SPANS: usize = 65_536;
/// Spans sent in one export request at most.
const BATCH_SPANS: usize = 2_048;
/// How long the exporter gathers spans after the first: one wake-up for
/// many spans rather than one per span.
const GATHER: Duration = Duration::from_millis(100);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Exporter {
    settings: OtelSettings,
    queue: OnceLock<mpsc::Sender<SpanData>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    pub fn new(settings: &OtelSettings) -> Self {
        Self {
            settings: settings.clone(),
            queue: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    pub fn sample_ratio(&self) -> f64 {
        self.settings.sample_ratio
    }

    /// Spans dropped because the queue was full or no runtime ran.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues finished spans; never waits.
    pub fn send(&self, spans: impl IntoIterator<Item = SpanData>) {
        if !self.settings.enabled {
            return;
        }
        let queue = match self.queue.get() {
            Some(queue) => queue,
            None => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                self.queue.get_or_init(|| {
                    let (queue, spans) = mpsc::channel(QUEUE_SPANS);
                    runtime.spawn(run(self.settings.clone(), spans));
                    queue
                })
            }
        };
        for span in spans {
            if queue.try_send(span).is_err() {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "trace export queue full: spans dropped");
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

async fn run(settings: OtelSettings, mut spans: mpsc::Receiver<SpanData>) {
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
    while let Some(first) = spans.recv().await {
        tokio::time::sleep(GATHER).await;
        let mut gathered = vec![first];
        while let Ok(span) = spans.try_recv() {
            gathered.push(span);
        }
        for batch in gathered.chunks(BATCH_SPANS) {
            export(&settings, &mut sink, batch, &mut failures).await;
        }
    }
}

/// Sends one batch; a failure is logged (rarely) and the batch dropped.
async fn export(settings: &OtelSettings, sink: &mut Sink, batch: &[SpanData], failures: &mut u64) {
    let request = otlp::request(&settings.service_name, batch);
    let result = match sink {
        Sink::Http(client) => client
            .post(&settings.endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(request.encode_to_vec())
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
            .export(request)
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
