//! The request log: one row per model call (team, key, model, status,
//! timings, attempts, cache outcome, tokens, cost), kept in an embedded
//! SQLite file beside the quota ledger for `[request_log] retention` and at
//! most `max_rows` rows. Rows are handed to a writer thread through a
//! bounded queue and written in batches, so a request never waits on the
//! disk; when the queue is full a row is dropped and counted, never held.
//! No prompt or answer text is kept: the row says what happened, not what
//! was said.

pub mod admin;
mod store;

pub use store::{Filter, Summary};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Rows the queue to the writer thread holds before new ones are dropped.
const QUEUE_ROWS: usize = 16_384;
/// Rows written in one transaction at most.
const BATCH_ROWS: usize = 4_096;
/// How long the writer gathers rows after the first of a batch: one wake-up
/// and one transaction for many rows, instead of a thread switch per
/// request, which on a busy machine costs the request path more than the
/// write itself.
const GATHER: Duration = Duration::from_millis(50);
/// How often the writer applies retention.
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// The longest text kept in a column (client-named models, request ids).
const MAX_TEXT: usize = 200;

/// A text the gateway names itself (an endpoint, an outcome, a stage): kept
/// without a copy; a row read back from the file owns its own.
pub type Text = std::borrow::Cow<'static, str>;
/// A text the gateway already holds shared (a team, a key, a model): the
/// row takes a reference, not a copy, so handing a row to the writer costs
/// no allocation per field (nor a free on the writer's thread).
pub type Shared = Arc<str>;

/// `[request_log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequestLog {
    /// Keep the request log (default false: on the overhead yardstick it
    /// costs about 8% of the throughput at 64 connections on a 2-core machine; the
    /// dashboard's overview, spend and request pages need it).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The SQLite file; relative to the config file. Default:
    /// `switchboard-requests.sqlite` beside the quota ledger (in memory when
    /// the ledger is).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// How long a row is kept, e.g. `"7d"` (the default).
    #[serde(default)]
    pub retention: Option<String>,
    /// The most rows kept; the oldest go first. Default 1,000,000.
    #[serde(default)]
    pub max_rows: Option<u64>,
    /// Teams whose prompts and answers are kept with their rows (none by
    /// default). What is kept has passed the guardrails' redaction: the
    /// messages as they went upstream, and the answer only when nothing in
    /// the prompt was redacted. Each cut to 16 KB.
    #[serde(default)]
    pub capture: Vec<String>,
}

/// `[request_log]`, checked.
#[derive(Debug, Clone)]
pub struct RequestLogSettings {
    pub enabled: bool,
    pub path: PathBuf,
    pub retention: Duration,
    pub max_rows: u64,
    pub capture: Vec<String>,
}

pub fn validate(
    raw: &RawRequestLog,
    problem: &mut dyn FnMut(String, String),
) -> RequestLogSettings {
    let retention = match raw.retention.as_deref().map(humantime::parse_duration) {
        None => Duration::from_secs(7 * 24 * 3600),
        Some(Ok(retention)) if !retention.is_zero() => retention,
        Some(_) => {
            problem(
                "request_log.retention".into(),
                "must be a duration longer than zero, like \"7d\"".into(),
            );
            Duration::from_secs(1)
        }
    };
    if raw.max_rows == Some(0) {
        problem(
            "request_log.max_rows".into(),
            "must be at least 1 (set `enabled = false` to keep no log)".into(),
        );
    }
    RequestLogSettings {
        enabled: raw.enabled.unwrap_or(false),
        path: raw
            .path
            .clone()
            .unwrap_or_else(|| "switchboard-requests.sqlite".into()),
        retention,
        max_rows: raw.max_rows.unwrap_or(1_000_000).max(1),
        capture: raw.capture.clone(),
    }
}

/// One model call as the log keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Row {
    /// Assigned by the log: increasing, unique.
    #[serde(default)]
    pub seq: i64,
    /// When the request arrived, Unix milliseconds.
    pub at_ms: i64,
    /// `x-request-id`: several rows share it when one request made several
    /// model calls (the Responses API's tool loop).
    pub request_id: String,
    pub endpoint: Text,
    pub team: Option<Shared>,
    pub key: Option<Shared>,
    /// The model as the client named it.
    pub requested_model: Option<Shared>,
    /// The model that served (`provider/model`), after fallbacks.
    pub model: Option<Shared>,
    pub provider: Option<Shared>,
    pub stream: bool,
    pub attempts: u32,
    pub status: u16,
    /// `ok`, `client_disconnected`, `upstream_broke` or the error's code.
    pub outcome: Text,
    /// `hit-exact`, `hit-semantic`, `miss` or `bypass`; none when the cache
    /// was not reached.
    pub cache: Option<Text>,
    /// The prompt template, as `name@version`.
    pub prompt: Option<Shared>,
    pub duration_ms: f64,
    pub upstream_ms: f64,
    pub overhead_us: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Nano-USD; none when the model has no price or nothing was spent.
    pub cost_nano: Option<u64>,
    /// What happened inside: stages, attempts, guardrails, captured content.
    #[serde(default)]
    pub detail: Detail,
}

/// A call's inside, kept as one JSON column.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Detail {
    /// Each pipeline stage and its microseconds, in order (integers make a
    /// shorter row than milliseconds as floats; the whole detail column was
    /// measured at about a quarter of the writer's time a row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<(Text, u64)>,
    /// Each upstream attempt, retries and fallbacks included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// What the guardrails did (`flagged=...; redacted=N`), never the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<String>,
    /// The prompt and answer, for a team that captures content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<Captured>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// `provider/model`.
    pub model: Shared,
    pub us: u64,
    /// The error's code when the attempt failed.
    pub error: Option<Text>,
}

/// Content kept for a team that opted in: the messages as they went
/// upstream (the input guardrails' redactions applied) and the answer, only
/// when it passed the output guardrails and the prompt had nothing redacted
/// (otherwise the answer holds originals put back for the client).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Captured {
    pub messages: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Why the answer is not kept, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_withheld: Option<String>,
}

/// Most bytes of captured content a row keeps (prompt and answer each).
pub const MAX_CAPTURED: usize = 16 * 1024;

impl Captured {
    /// The messages as a bounded value: the whole JSON when it fits, a cut
    /// text of it otherwise.
    pub fn messages(messages: serde_json::Value) -> serde_json::Value {
        let text = messages.to_string();
        if text.len() <= MAX_CAPTURED {
            messages
        } else {
            serde_json::Value::String(format!("{}…", cut_to(&text, MAX_CAPTURED)))
        }
    }

    pub fn answer(answer: &str) -> String {
        cut_to(answer, MAX_CAPTURED).to_owned()
    }
}

fn cut_to(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Row {
    /// Cuts client-chosen texts to a bounded length (a copy only for a text
    /// that is too long).
    fn bounded(mut self) -> Self {
        let end = cut_to(&self.request_id, MAX_TEXT).len();
        self.request_id.truncate(end);
        for text in [
            &mut self.team,
            &mut self.key,
            &mut self.requested_model,
            &mut self.model,
            &mut self.prompt,
        ]
        .into_iter()
        .flatten()
        {
            if text.len() > MAX_TEXT {
                *text = cut_to(text, MAX_TEXT).into();
            }
        }
        self
    }
}

/// The handle the pipeline records into and the admin API reads from.
pub struct RequestLog {
    queue: Option<mpsc::SyncSender<Message>>,
    store: Option<Arc<store::Store>>,
    dropped: Arc<AtomicU64>,
    settings: RequestLogSettings,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RequestLog {
    /// Starts the writer thread (the SQLite file is opened, and created, at
    /// the first write or read, so `switchboard validate` creates none); a
    /// log that is off records nothing.
    pub fn open(settings: &RequestLogSettings) -> Result<Self, String> {
        let dropped = Arc::new(AtomicU64::new(0));
        if !settings.enabled {
            return Ok(Self {
                queue: None,
                store: None,
                dropped,
                settings: settings.clone(),
            });
        }
        let store = Arc::new(store::Store::open(&settings.path));
        let (queue, rows) = mpsc::sync_channel::<Message>(QUEUE_ROWS);
        let writer = store.clone();
        let (retention, max_rows) = (settings.retention, settings.max_rows);
        std::thread::Builder::new()
            .name("switchboard-request-log".into())
            .spawn(move || write_until_closed(&writer, &rows, retention, max_rows))
            .map_err(|error| format!("cannot start the request log's writer: {error}"))?;
        Ok(Self {
            queue: Some(queue),
            store: Some(store),
            dropped,
            settings: settings.clone(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Whether `team`'s prompts and answers are kept.
    pub fn captures(&self, team: &str) -> bool {
        self.enabled() && self.settings.capture.iter().any(|t| t == team)
    }

    /// Hands a row to the writer; never blocks. A full queue drops the row.
    pub fn record(&self, row: Row) {
        let Some(queue) = &self.queue else {
            return;
        };
        if let Err(mpsc::TrySendError::Full(_)) = queue.try_send(Message::Row(row.bounded())) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "request log queue full: rows dropped");
            }
        }
    }

    /// Rows dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows matching `filter`, newest first.
    pub fn list(&self, filter: &Filter) -> Result<Vec<Row>, ReadError> {
        filter.check()?;
        self.read(|store| store.list(filter))
    }

    /// Every row of one request id, oldest first.
    pub fn by_request_id(&self, id: &str) -> Result<Vec<Row>, ReadError> {
        self.read(|store| store.by_request_id(id))
    }

    /// Counts, latencies, spend and cache outcomes since `since_ms`, with a
    /// series of `buckets` for the charts.
    pub fn summary(&self, filter: &Filter, buckets: u32) -> Result<Summary, ReadError> {
        filter.check()?;
        self.read(|store| store.summary(filter, buckets))
    }

    /// Waits until every row recorded before the call is written (tests,
    /// graceful shutdown).
    pub fn flush(&self) {
        if let (Some(queue), Some(store)) = (&self.queue, &self.store) {
            let seen = store.flushes();
            if queue.send(Message::Flush).is_ok() {
                store.wait_flushed(seen, Duration::from_secs(5));
            }
        }
    }

    fn read<T>(
        &self,
        work: impl FnOnce(&store::Store) -> Result<T, String>,
    ) -> Result<T, ReadError> {
        let store = self.store.as_ref().ok_or(ReadError::Off)?;
        work(store).map_err(ReadError::Store)
    }
}

/// Why a read of the log gave no rows.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// `[request_log] enabled = false`.
    Off,
    /// A filter field the log cannot read, and why.
    BadFilter {
        field: &'static str,
        message: String,
    },
    /// SQLite failed; the message is for the gateway's log, not the client.
    Store(String),
}

/// The writer thread: batches, retention, until every sender is gone.
fn write_until_closed(
    store: &store::Store,
    rows: &mpsc::Receiver<Message>,
    retention: Duration,
    max_rows: u64,
) {
    // Retention applies at the first write (the file opens then) and every
    // PRUNE_EVERY after.
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        let mut messages = match rows.recv_timeout(PRUNE_EVERY) {
            Ok(message) => vec![message],
            Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if !messages.is_empty() {
            std::thread::sleep(GATHER);
        }
        while messages.len() < BATCH_ROWS {
            match rows.try_recv() {
                Ok(message) => messages.push(message),
                Err(_) => break,
            }
        }
        let mut flush = false;
        let mut batch = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                Message::Row(row) => batch.push(row),
                Message::Flush => flush = true,
            }
        }
        if let Err(error) = store.insert(&batch) {
            tracing::warn!(%error, rows = batch.len(), "request log write failed");
        }
        let opened = last_prune.is_some() || !batch.is_empty();
        let due = last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if (opened && due) || flush {
            store.prune(retention, max_rows);
            last_prune = Some(std::time::Instant::now());
        }
        if flush {
            store.flushed();
        }
    }
}

/// What the writer thread receives. Rows are the traffic and a flush is
/// rare: boxing rows to shrink the enum would cost an allocation a request.
#[allow(clippy::large_enum_variant)]
enum Message {
    Row(Row),
    /// Write what came before, apply retention, then say so.
    Flush,
}

#[cfg(test)]
mod tests;
