//! The ledger: one row per settled request in a local SQLite file, made
//! durable before the request is reported done, so a crash (even `kill -9`)
//! loses no settled spend.
//!
//! A settle is durable once its record is in a pending file (in the OS page
//! cache), which survives the process being killed; only a power cut or
//! kernel crash can lose the last ones. `quota.ledger_sync = "full"` flushes
//! every append (and SQLite commits in full) for that case too, at the cost
//! of a disk flush per batch. SQLite runs in WAL mode with
//! `synchronous = NORMAL`, checkpointed by a thread of its own.
//!
//! Two threads. The appender (`appender.rs`) owns the pending files (`pending.rs`): it
//! appends whatever settled requests are queued in one write, so settles
//! do not wait on one another, and answers them. Every `FOLD_AFTER` (or
//! `FOLD_ROWS` rows) it hands the file over to the SQLite thread, which
//! owns the connection and folds the file's records in one transaction.
//! Reads and admin writes queue behind the folds handed over before them,
//! so a read always sees every request settled before it. A restart folds
//! what a killed process left in pending files before serving. With the
//! embedded store the settled values of the budget counters are kept here
//! too, in the same record and transaction as the row, and reloaded at
//! start.

use super::appender::{Appender, Fold};
use super::pending::PendingFiles;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a settled request stays only in a pending file.
pub(super) const FOLD_AFTER: Duration = Duration::from_millis(200);
/// The most rows a pending file takes before it is handed over.
pub(super) const FOLD_ROWS: usize = 4096;

/// What one request spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique per request; a replayed entry is ignored.
    pub id: String,
    pub ts_ms: u64,
    pub team: String,
    pub key: String,
    pub user: Option<String>,
    pub model: String,
    pub cost_nano: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A settled counter value to keep: `key += amount`, live until `expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableCounter {
    pub key: String,
    pub amount: u64,
    pub expires_ms: u64,
}

/// Spend grouped by a dimension, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendRow {
    pub group: String,
    pub requests: u64,
    pub cost_nano: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Team,
    Key,
    Model,
    Day,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "team" => Some(Self::Team),
            "key" => Some(Self::Key),
            "model" => Some(Self::Model),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Key => "key",
            Self::Model => "model",
            Self::Day => "day",
        }
    }
}

/// Filters for a spend read; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct SpendFilter {
    pub team: Option<String>,
    pub key: Option<String>,
    pub model: Option<String>,
    /// Inclusive `YYYY-MM-DD` bounds.
    pub from_day: Option<String>,
    pub to_day: Option<String>,
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, String>>;

pub(super) enum Job {
    Record(LedgerEntry, Vec<DurableCounter>, Reply<()>),
    Other(Request),
    Close(Reply<()>),
}

/// Everything but a settled request: served after a fold.
pub(super) enum Request {
    Spend(GroupBy, SpendFilter, Reply<Vec<SpendRow>>),
    Total(Reply<(u64, u64)>),
    SaveOverlay(String, Reply<()>),
    /// Answered once the folds handed over before it are done.
    Folded(Reply<()>),
}

/// What `open` finds in an existing ledger.
#[derive(Debug, Default)]
pub struct Opened {
    /// Settled counters still live: (key, value, expires_ms).
    pub counters: Vec<(String, u64, u64)>,
    /// Teams and keys changed through the admin API (JSON), if any.
    pub admin_overlay: Option<String>,
}

/// A handle to the writer thread; cheap to share.
pub struct Ledger {
    jobs: mpsc::Sender<Job>,
    /// The checkpoint thread stops once this is gone.
    _alive: std::sync::Arc<()>,
    /// This process's hold on the ledger file (none in memory).
    _lock: Option<std::fs::File>,
}

// Rows are keyed by the request id (time-ordered, so inserts append to the
// index). Spend reads come from `spend_daily`, kept in the same transaction
// as the rows, aggregated per batch: a request costs one row insert, and a
// batch one upsert per distinct (day, team, key, model), instead of a
// secondary index entry per row.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spend (
    id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    day TEXT NOT NULL,
    team TEXT NOT NULL,
    key TEXT NOT NULL,
    user TEXT,
    model TEXT NOT NULL,
    cost_nano INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spend_daily (
    day TEXT NOT NULL,
    team TEXT NOT NULL,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    cost_nano INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    PRIMARY KEY (day, team, key, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS admin_overlay (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
";

/// Ledgers written before `spend_daily` existed get it filled from their
/// rows once; `user_version` records that it was done.
const MIGRATE_TO_DAILY: &str = "
BEGIN;
DROP INDEX IF EXISTS spend_team_day;
INSERT INTO spend_daily (day, team, key, model, requests, cost_nano, prompt_tokens, completion_tokens)
    SELECT day, team, key, model, COUNT(*), SUM(cost_nano), SUM(prompt_tokens), SUM(completion_tokens)
    FROM spend GROUP BY day, team, key, model;
PRAGMA user_version = 1;
COMMIT;
";

impl Ledger {
    /// Open (or create) the ledger at `path`; `:memory:` keeps it in memory.
    /// Also returns what it holds from earlier runs.
    pub fn open(path: &Path, full_sync: bool, now_ms: u64) -> Result<(Self, Opened), String> {
        let mut connection = Connection::open(path)
            .map_err(|error| format!("cannot open ledger {}: {error}", path.display()))?;
        let sync = if full_sync { "FULL" } else { "NORMAL" };
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000; \
                 PRAGMA wal_autocheckpoint = 0; {SCHEMA}"
            ))
            .map_err(|error| format!("cannot prepare ledger {}: {error}", path.display()))?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|error| format!("cannot read ledger {}: {error}", path.display()))?;
        if version < 1 {
            connection
                .execute_batch(MIGRATE_TO_DAILY)
                .map_err(|error| format!("cannot migrate ledger {}: {error}", path.display()))?;
        }
        // A ledger in memory dies with the process: batches are committed
        // directly, with nothing to fold after a restart.
        let in_memory = path.as_os_str() == ":memory:";
        let lock = if in_memory {
            None
        } else {
            super::pending::lock(path)?
        };
        let pending = if in_memory {
            None
        } else {
            let (pending, leftovers) = PendingFiles::open(path, full_sync, lock.is_some())?;
            for leftover in leftovers {
                let records = leftover.records.iter().map(|r| (&r.entry, &r.counters[..]));
                commit(&mut connection, records).map_err(|error| {
                    format!(
                        "cannot fold {} into the ledger: {error}",
                        leftover.path.display()
                    )
                })?;
                if !leftover.records.is_empty() {
                    tracing::info!(rows = leftover.records.len(), file = %leftover.path.display(), "folded settled requests left by the last run into the ledger");
                }
                match std::fs::remove_file(&leftover.path) {
                    // A ledger closed just before this one opened may have
                    // folded and removed it meanwhile.
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!(
                            "cannot remove {}: {error}",
                            leftover.path.display()
                        ));
                    }
                    _ => {}
                }
            }
            Some(pending)
        };
        let read = |connection: &Connection| -> rusqlite::Result<Opened> {
            let admin_overlay = connection
                .prepare("SELECT doc FROM admin_overlay WHERE id = 1")?
                .query_map([], |row| row.get::<_, String>(0))?
                .next()
                .transpose()?;
            Ok(Opened {
                counters: read_counters(connection, now_ms)?,
                admin_overlay,
            })
        };
        let opened = read(&connection)
            .map_err(|error| format!("cannot read ledger {}: {error}", path.display()))?;
        let (jobs, receiver) = mpsc::channel();
        let (folds, fold_queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("switchboard-ledger".into())
            .spawn(move || fold_and_serve(connection, &fold_queue))
            .map_err(|error| format!("cannot start the ledger thread: {error}"))?;
        std::thread::Builder::new()
            .name("switchboard-ledger-append".into())
            .spawn(move || Appender::new(pending, folds).run(&receiver))
            .map_err(|error| format!("cannot start the ledger thread: {error}"))?;
        let alive = std::sync::Arc::new(());
        if path.as_os_str() != ":memory:" {
            spawn_checkpointer(path, std::sync::Arc::downgrade(&alive))?;
        }
        Ok((
            Self {
                jobs,
                _alive: alive,
                _lock: lock,
            },
            opened,
        ))
    }

    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(job(reply))
            .map_err(|_| "the ledger thread stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the ledger thread stopped".to_owned())?
    }

    /// Keep the row (and the settled counters with it); returns once durable.
    pub async fn record(
        &self,
        entry: LedgerEntry,
        counters: Vec<DurableCounter>,
    ) -> Result<(), String> {
        self.ask(|reply| Job::Record(entry, counters, reply)).await
    }

    pub async fn spend(&self, by: GroupBy, filter: SpendFilter) -> Result<Vec<SpendRow>, String> {
        self.ask(|reply| Job::Other(Request::Spend(by, filter, reply)))
            .await
    }

    /// Keep the admin API's changes (replacing the previous document).
    pub async fn save_admin_overlay(&self, doc: String) -> Result<(), String> {
        self.ask(|reply| Job::Other(Request::SaveOverlay(doc, reply)))
            .await
    }

    /// Folds everything settled so far into SQLite and removes the pending
    /// file; returns once that is done. Settles after this (there should be
    /// none: it is called at shutdown) are committed to SQLite directly.
    pub async fn close(&self) -> Result<(), String> {
        self.ask(Job::Close).await
    }

    /// (rows, total nano-USD) of the whole ledger.
    pub async fn total(&self) -> Result<(u64, u64), String> {
        self.ask(|reply| Job::Other(Request::Total(reply))).await
    }
}

/// Checkpoints the WAL from a connection of its own, once a second. The
/// writer's automatic checkpoint would run inside a commit that requests are
/// waiting on; a passive checkpoint here never blocks the writer.
fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<(), String> {
    let connection = Connection::open(path)
        .map_err(|error| format!("cannot open ledger {}: {error}", path.display()))?;
    std::thread::Builder::new()
        .name("switchboard-ledger-checkpoint".into())
        .spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(%error, "ledger checkpoint failed");
                }
            }
        })
        .map(|_| ())
        .map_err(|error| format!("cannot start the ledger checkpoint thread: {error}"))
}

/// Expired budget counters (ended windows, end users gone idle) are deleted
/// at most this often, by the clock of the rows being folded.
const PRUNE_EVERY_MS: u64 = 60_000;

/// Deletes the counters (and tracked end users) whose time has passed, once
/// `PRUNE_EVERY_MS` has gone by since the last time; `now_ms` is the newest
/// settle just folded. Start-up deletes them too (`read_counters`).
fn prune_counters(connection: &Connection, last_prune_ms: &mut u64, now_ms: u64) {
    if now_ms < last_prune_ms.saturating_add(PRUNE_EVERY_MS) {
        return;
    }
    *last_prune_ms = now_ms;
    if let Err(error) = connection.execute(
        "DELETE FROM counters WHERE expires_ms != 0 AND expires_ms <= ?1",
        [now_ms as i64],
    ) {
        tracing::warn!(%error, "cannot delete expired counters from the ledger");
    }
}

/// The SQLite thread: folds, reads and admin writes, one at a time.
fn fold_and_serve(mut connection: Connection, folds: &mpsc::Receiver<Fold>) {
    let mut last_prune_ms = 0;
    while let Ok(fold) = folds.recv() {
        match fold {
            Fold::File(path, records) => {
                let newest = records.iter().map(|r| r.entry.ts_ms).max();
                let rows = records.iter().map(|r| (&r.entry, &r.counters[..]));
                match commit(&mut connection, rows) {
                    // Should the delete fail, the next start folds the file
                    // again, which changes nothing: rows are kept by id.
                    Ok(()) => {
                        if let Some(newest) = newest {
                            prune_counters(&connection, &mut last_prune_ms, newest);
                        }
                        if let Err(error) = std::fs::remove_file(&path) {
                            tracing::error!(%error, file = %path.display(), "cannot remove a folded pending ledger file");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, file = %path.display(), rows = records.len(), "cannot fold settled requests into the ledger; the file is kept and folded at the next start");
                    }
                }
            }
            Fold::Direct(records) => {
                let rows = records
                    .iter()
                    .map(|(entry, counters, _)| (entry, &counters[..]));
                let result = commit(&mut connection, rows).map_err(text);
                if result.is_ok()
                    && let Some(newest) = records.iter().map(|(entry, _, _)| entry.ts_ms).max()
                {
                    prune_counters(&connection, &mut last_prune_ms, newest);
                }
                if let Err(error) = &result {
                    tracing::error!(%error, "ledger commit failed");
                }
                for (_, _, reply) in records {
                    let _ = reply.send(result.clone());
                }
            }
            Fold::Request(request) => serve(&connection, request),
        }
    }
}

fn serve(connection: &Connection, request: Request) {
    match request {
        Request::Folded(reply) => {
            let _ = reply.send(Ok(()));
        }
        Request::Spend(by, filter, reply) => {
            let _ = reply.send(read_spend(connection, by, &filter).map_err(text));
        }
        Request::SaveOverlay(doc, reply) => {
            let _ = reply.send(
                connection
                    .execute(
                        "INSERT INTO admin_overlay (id, doc) VALUES (1, ?1)
                         ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                        [doc],
                    )
                    .map(|_| ())
                    .map_err(text),
            );
        }
        Request::Total(reply) => {
            let _ = reply.send(
                connection
                    .query_row(
                        "SELECT COUNT(*), COALESCE(SUM(cost_nano), 0) FROM spend",
                        [],
                        |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
                    )
                    .map_err(text),
            );
        }
    }
}

fn text(error: rusqlite::Error) -> String {
    error.to_string()
}

/// Spend of one (day, team, key, model) within a batch.
#[derive(Default)]
struct DailyTotals {
    requests: i64,
    cost_nano: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

fn commit<'a>(
    connection: &mut Connection,
    records: impl Iterator<Item = (&'a LedgerEntry, &'a [DurableCounter])>,
) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction.prepare_cached(
            "INSERT OR IGNORE INTO spend (id, ts_ms, day, team, key, user, model, cost_nano, prompt_tokens, completion_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        // Under load a batch is many requests of a few teams: their counters
        // and daily totals are summed here and written once per batch.
        // Per counter: amount, expiry, and the time of its first settle here.
        let mut counters: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        let mut daily: HashMap<(String, &str, &str, &str), DailyTotals> = HashMap::new();
        for (entry, entry_counters) in records {
            let day = super::window::day_of(entry.ts_ms);
            let inserted = insert.execute(params![
                entry.id,
                entry.ts_ms as i64,
                day,
                entry.team,
                entry.key,
                entry.user,
                entry.model,
                entry.cost_nano as i64,
                entry.prompt_tokens as i64,
                entry.completion_tokens as i64,
            ])?;
            // A replayed entry must not count its spend twice.
            if inserted == 0 {
                continue;
            }
            for counter in entry_counters {
                let slot = counters.entry(&counter.key).or_insert((0, 0, entry.ts_ms));
                slot.0 += counter.amount;
                slot.1 = counter.expires_ms;
                slot.2 = slot.2.min(entry.ts_ms);
            }
            let totals = daily
                .entry((day, &entry.team, &entry.key, &entry.model))
                .or_default();
            totals.requests += 1;
            totals.cost_nano += entry.cost_nano as i64;
            totals.prompt_tokens += entry.prompt_tokens as i64;
            totals.completion_tokens += entry.completion_tokens as i64;
        }
        // A counter that had expired before these settles (an end user's
        // total after it went idle) starts again from them, as it does in memory.
        let mut bump = transaction.prepare_cached(
            "INSERT INTO counters (key, value, expires_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET
                value = CASE WHEN expires_ms != 0 AND expires_ms <= ?4
                    THEN excluded.value ELSE value + excluded.value END,
                expires_ms = excluded.expires_ms",
        )?;
        for (key, (amount, expires_ms, first_ms)) in counters {
            bump.execute(params![
                key,
                amount as i64,
                expires_ms as i64,
                first_ms as i64
            ])?;
        }
        let mut add_daily = transaction.prepare_cached(
            "INSERT INTO spend_daily (day, team, key, model, requests, cost_nano, prompt_tokens, completion_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (day, team, key, model) DO UPDATE SET
                requests = requests + excluded.requests,
                cost_nano = cost_nano + excluded.cost_nano,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                completion_tokens = completion_tokens + excluded.completion_tokens",
        )?;
        for ((day, team, key, model), totals) in daily {
            add_daily.execute(params![
                day,
                team,
                key,
                model,
                totals.requests,
                totals.cost_nano,
                totals.prompt_tokens,
                totals.completion_tokens
            ])?;
        }
    }
    transaction.commit()
}

fn read_counters(
    connection: &Connection,
    now_ms: u64,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    connection.execute(
        "DELETE FROM counters WHERE expires_ms != 0 AND expires_ms <= ?1",
        [now_ms as i64],
    )?;
    let mut statement = connection.prepare("SELECT key, value, expires_ms FROM counters")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)? as u64,
            row.get::<_, i64>(2)? as u64,
        ))
    })?;
    rows.collect()
}

fn read_spend(
    connection: &Connection,
    by: GroupBy,
    filter: &SpendFilter,
) -> rusqlite::Result<Vec<SpendRow>> {
    // The column name comes from a closed enum, never from the request.
    let sql = format!(
        "SELECT {col}, SUM(requests), SUM(cost_nano), SUM(prompt_tokens), SUM(completion_tokens)
         FROM spend_daily
         WHERE (?1 IS NULL OR team = ?1) AND (?2 IS NULL OR key = ?2) AND (?3 IS NULL OR model = ?3)
           AND (?4 IS NULL OR day >= ?4) AND (?5 IS NULL OR day <= ?5)
         GROUP BY {col} ORDER BY {col}",
        col = by.column()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(
        params![
            filter.team,
            filter.key,
            filter.model,
            filter.from_day,
            filter.to_day
        ],
        |row| {
            Ok(SpendRow {
                group: row.get(0)?,
                requests: row.get::<_, i64>(1)? as u64,
                cost_nano: row.get::<_, i64>(2)? as u64,
                prompt_tokens: row.get::<_, i64>(3)? as u64,
                completion_tokens: row.get::<_, i64>(4)? as u64,
            })
        },
    )?;
    rows.collect()
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
