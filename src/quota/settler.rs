//! Settles leave the request path: a request hands its settle to this queue
//! and returns; one background task sends whatever has queued up as one
//! script call (one round trip), as soon as the previous call is back. Under
//! load a batch holds many settles; when idle, a settle goes out alone, at
//! once. A batch that fails is retried with backoff, growing with what
//! queues behind it; every settle keeps its id, so a retried batch never
//! counts one twice. A settle that never lands (the process was killed) is
//! covered by the hold's expiry in Redis.

use super::redis_store::{PendingSettle, RedisQuotaStore};
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Settles per script call; more wait for the next call.
const MAX_BATCH: usize = 256;
/// A settle is retried this long (its marker in Redis lives an hour).
const GIVE_UP_AFTER: Duration = Duration::from_secs(50 * 60);

pub struct Settler {
    store: Arc<RedisQuotaStore>,
    errors: Counter,
    queue: std::sync::OnceLock<mpsc::UnboundedSender<(Instant, PendingSettle)>>,
    /// Queued and not yet landed (or given up).
    pending: Arc<AtomicUsize>,
}

impl Settler {
    pub fn new(store: Arc<RedisQuotaStore>, errors: Counter) -> Self {
        Self {
            store,
            errors,
            queue: std::sync::OnceLock::new(),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Queue a settle; returns at once. The task starts with the first settle,
    /// on the runtime that serves requests.
    pub fn push(&self, settle: PendingSettle) {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(
                self.store.clone(),
                receiver,
                self.pending.clone(),
                self.errors.clone(),
            ));
            sender
        });
        self.pending.fetch_add(1, Ordering::SeqCst);
        if queue.send((Instant::now(), settle)).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("the quota settler stopped; a settle was dropped");
        }
    }

    /// Settles queued and not yet landed.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until every queued settle has landed, or `within` has passed;
    /// `true` when none is left. Used at shutdown.
    pub async fn flush(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

async fn run(
    store: Arc<RedisQuotaStore>,
    mut receiver: mpsc::UnboundedReceiver<(Instant, PendingSettle)>,
    pending: Arc<AtomicUsize>,
    errors: Counter,
) {
    let mut batch: Vec<(Instant, PendingSettle)> = Vec::new();
    let mut delay = Duration::from_millis(50);
    let mut failing = false;
    loop {
        if batch.is_empty() {
            match receiver.recv().await {
                Some(settle) => batch.push(settle),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(settle) => batch.push(settle),
                Err(_) => break,
            }
        }
        let settles: Vec<PendingSettle> = batch.iter().map(|(_, s)| s.clone()).collect();
        match store.settle_batch(&settles).await {
            Ok(_) => {
                if failing {
                    tracing::info!(settles = batch.len(), "quota settles reach Redis again");
                }
                pending.fetch_sub(batch.len(), Ordering::SeqCst);
                batch.clear();
                delay = Duration::from_millis(50);
                failing = false;
            }
            Err(error) => {
                errors.inc();
                if !failing {
                    tracing::warn!(%error, settles = batch.len(), "quota settles cannot reach Redis; retrying in the background");
                }
                failing = true;
                let before = batch.len();
                batch.retain(|(queued, _)| queued.elapsed() < GIVE_UP_AFTER);
                let dropped = before - batch.len();
                if dropped > 0 {
                    pending.fetch_sub(dropped, Ordering::SeqCst);
                    tracing::error!(
                        dropped,
                        "quota settles abandoned after retrying for 50 minutes; their holds expire in Redis"
                    );
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
