//! The request log's SQLite file: one table, written in batches by the
//! writer thread, read by the admin API under the same connection lock (so
//! an in-memory log is one database, not one per connection).

use super::Row;
use parking_lot::{Condvar, MappedMutexGuard, Mutex, MutexGuard};
use rusqlite::types::Value;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Most rows one listing returns.
pub const MAX_LIST: u32 = 500;
/// Most rows a percentile is computed over (the newest in the window).
const PERCENTILE_ROWS: u32 = 100_000;
/// Most groups (teams, keys, models) a summary names.
const MAX_GROUPS: u32 = 20;

const COLUMNS: &str = "seq, at_ms, request_id, endpoint, team, key, requested_model, model, \
    provider, stream, attempts, status, outcome, cache, prompt, duration_ms, upstream_ms, \
    overhead_us, prompt_tokens, completion_tokens, cost_nano, detail";

pub struct Store {
    path: std::path::PathBuf,
    /// Opened on first use, so `switchboard validate` creates no file.
    connection: Mutex<Option<rusqlite::Connection>>,
    flushes: Mutex<u64>,
    flushed: Condvar,
}

/// Which rows a listing or summary covers; every field narrows it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub team: Option<String>,
    pub key: Option<String>,
    /// The served model (`provider/model`) or the model as requested.
    pub model: Option<String>,
    /// A status (`429`) or a class (`4xx`, `5xx`), or `error` for any ≥ 400.
    pub status: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only rows older than this `seq` (the next page of a listing).
    pub before: Option<i64>,
    /// Rows in a listing, at most 500 (default 100).
    pub limit: Option<u32>,
}

impl Filter {
    /// Whether every field can be read (the status is the only one a
    /// client can get wrong after parsing).
    pub fn check(&self) -> Result<(), super::ReadError> {
        match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(status) => {
                status_range(status)
                    .map(|_| ())
                    .map_err(|message| super::ReadError::BadFilter {
                        field: "status",
                        message,
                    })
            }
            None => Ok(()),
        }
    }

    /// The WHERE clause and its parameters; a bad status is an error that
    /// names it.
    fn clause(&self) -> Result<(String, Vec<Value>), String> {
        let mut parts = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [("team", &self.team), ("key", &self.key)] {
            if let Some(value) = value {
                parts.push(format!("{column} = ?"));
                values.push(Value::Text(value.clone()));
            }
        }
        if let Some(model) = &self.model {
            parts.push("(model = ? OR requested_model = ?)".to_owned());
            values.push(Value::Text(model.clone()));
            values.push(Value::Text(model.clone()));
        }
        if let Some(status) = self.status.as_deref().filter(|s| !s.is_empty()) {
            let (low, high) = status_range(status)?;
            parts.push("status BETWEEN ? AND ?".to_owned());
            values.push(Value::Integer(low));
            values.push(Value::Integer(high));
        }
        for (clause, value) in [
            ("at_ms >= ?", self.since_ms),
            ("at_ms <= ?", self.until_ms),
            ("seq < ?", self.before),
        ] {
            if let Some(value) = value {
                parts.push(clause.to_owned());
                values.push(Value::Integer(value));
            }
        }
        let clause = if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        };
        Ok((clause, values))
    }
}

fn status_range(status: &str) -> Result<(i64, i64), String> {
    let bad = || format!("status `{status}`: use a status like 429, a class like 4xx, or `error`");
    if status == "error" {
        return Ok((400, 599));
    }
    if let Some(class) = status.strip_suffix("xx") {
        let class: i64 = class.parse().map_err(|_| bad())?;
        return if (1..=5).contains(&class) {
            Ok((class * 100, class * 100 + 99))
        } else {
            Err(bad())
        };
    }
    let exact: i64 = status.parse().map_err(|_| bad())?;
    if (100..=599).contains(&exact) {
        Ok((exact, exact))
    } else {
        Err(bad())
    }
}

/// What the overview shows for a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub overhead_p50_us: Option<f64>,
    pub overhead_p99_us: Option<f64>,
    pub spend_usd: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Calls that reached the cache, and those it answered.
    pub cache_lookups: u64,
    pub cache_hits: u64,
    /// Evenly spaced buckets over the window, oldest first.
    pub series: Vec<Bucket>,
    /// The biggest spenders, each with its own series of spend.
    pub teams: Vec<Group>,
    pub keys: Vec<Group>,
    pub models: Vec<Group>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub requests: u64,
    pub errors: u64,
    pub spend_usd: f64,
    pub cache_hits: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Group {
    pub name: String,
    pub requests: u64,
    pub spend_usd: f64,
    /// Spend per bucket, aligned with `Summary::series`.
    pub spend_series: Vec<f64>,
}

fn nano_to_usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

impl Store {
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            connection: Mutex::new(None),
            flushes: Mutex::new(0),
            flushed: Condvar::new(),
        }
    }

    /// The connection, opening (and creating) the file the first time.
    fn connection(&self) -> Result<MappedMutexGuard<'_, rusqlite::Connection>, String> {
        let mut guard = self.connection.lock();
        if guard.is_none() {
            *guard = Some(connect(&self.path)?);
        }
        Ok(MutexGuard::map(guard, |connection| {
            connection.as_mut().expect("opened above")
        }))
    }

    /// Writes `rows` in one transaction, several rows to a statement: a
    /// statement's own cost in SQLite (its start, its end, the table's
    /// sequence kept for `seq`) is paid once for its rows, not per row.
    pub fn insert(&self, rows: &[Row]) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection()?;
        let transaction = connection.transaction().map_err(|e| e.to_string())?;
        let mut rest = rows;
        for size in ROWS_PER_STATEMENT {
            if rest.len() < size {
                continue;
            }
            let mut statement = transaction
                .prepare_cached(&insert_sql(size))
                .map_err(|e| e.to_string())?;
            while rest.len() >= size {
                let (now, later) = rest.split_at(size);
                let written: Vec<Written> = now.iter().map(Written::of).collect();
                let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(size * INSERTED);
                for (row, written) in now.iter().zip(&written) {
                    values.extend(row_values(row, written));
                }
                statement
                    .execute(values.as_slice())
                    .map_err(|e| e.to_string())?;
                rest = later;
            }
        }
        transaction.commit().map_err(|e| e.to_string())
    }

    /// Drops rows older than `retention`, then the oldest beyond `max_rows`.
    pub fn prune(&self, retention: Duration, max_rows: u64) {
        let cutoff = now_ms() - retention.as_millis() as i64;
        let connection = match self.connection() {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "request log retention failed");
                return;
            }
        };
        let result = connection
            .execute("DELETE FROM requests WHERE at_ms < ?1", [cutoff])
            .and_then(|_| {
                connection.execute(
                    "DELETE FROM requests WHERE seq <= (SELECT MAX(seq) FROM requests) - ?1",
                    [max_rows as i64],
                )
            });
        if let Err(error) = result {
            tracing::warn!(%error, "request log retention failed");
        }
    }

    pub fn list(&self, filter: &Filter) -> Result<Vec<Row>, String> {
        let (clause, mut values) = filter.clause()?;
        values.push(Value::Integer(i64::from(
            filter.limit.unwrap_or(100).clamp(1, MAX_LIST),
        )));
        let sql = format!("SELECT {COLUMNS} FROM requests {clause} ORDER BY seq DESC LIMIT ?");
        self.rows(&sql, values)
    }

    pub fn by_request_id(&self, id: &str) -> Result<Vec<Row>, String> {
        let sql = format!(
            "SELECT {COLUMNS} FROM requests WHERE request_id = ? ORDER BY seq LIMIT {MAX_LIST}"
        );
        self.rows(&sql, vec![Value::Text(id.to_owned())])
    }

    fn rows(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, String> {
        let connection = self.connection()?;
        let mut statement = connection.prepare_cached(sql).map_err(|e| e.to_string())?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(Row {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    request_id: r.get(2)?,
                    endpoint: r.get(3)?,
                    team: r.get(4)?,
                    key: r.get(5)?,
                    requested_model: r.get(6)?,
                    model: r.get(7)?,
                    provider: r.get(8)?,
                    stream: r.get(9)?,
                    attempts: r.get(10)?,
                    status: r.get(11)?,
                    outcome: r.get(12)?,
                    cache: r.get(13)?,
                    prompt: r.get(14)?,
                    duration_ms: r.get(15)?,
                    upstream_ms: r.get(16)?,
                    overhead_us: r.get::<_, i64>(17)? as u64,
                    prompt_tokens: r.get::<_, i64>(18)? as u64,
                    completion_tokens: r.get::<_, i64>(19)? as u64,
                    cost_nano: r.get::<_, Option<i64>>(20)?.map(|n| n as u64),
                    detail: r
                        .get::<_, Option<String>>(21)?
                        .and_then(|text| serde_json::from_str(&text).ok())
                        .unwrap_or_default(),
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    /// The window is the filter's `since_ms`..`until_ms` (default: the last
    /// 24 hours up to now), cut into `buckets`.
    pub fn summary(&self, filter: &Filter, buckets: u32) -> Result<Summary, String> {
        let until = filter.until_ms.unwrap_or_else(now_ms);
        let since = filter
            .since_ms
            .unwrap_or(until - 24 * 3600 * 1000)
            .min(until);
        let filter = Filter {
            since_ms: Some(since),
            until_ms: Some(until),
            before: None,
            limit: None,
            ..filter.clone()
        };
        let buckets = buckets.clamp(1, 240);
        let width = ((until - since) / i64::from(buckets)).max(1);
        let (clause, values) = filter.clause()?;
        let connection = self.connection()?;
        let query = |sql: &str, extra: &[Value]| -> Result<Vec<Vec<Value>>, String> {
            let mut statement = connection.prepare(sql).map_err(|e| e.to_string())?;
            let width = statement.column_count();
            let all: Vec<Value> = values
                .iter()
                .cloned()
                .chain(extra.iter().cloned())
                .collect();
            let rows = statement
                .query_map(rusqlite::params_from_iter(all), |r| {
                    (0..width).map(|i| r.get::<_, Value>(i)).collect()
                })
                .map_err(|e| e.to_string())?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        };
        let mut summary = Summary::default();
        let totals = query(
            &format!(
                "SELECT COUNT(*), COALESCE(SUM(status >= 400), 0), COALESCE(SUM(cost_nano), 0),
                 COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
                 COALESCE(SUM(cache IS NOT NULL AND cache != 'bypass'), 0),
                 COALESCE(SUM(cache LIKE 'hit-%'), 0)
                 FROM requests {clause}"
            ),
            &[],
        )?;
        if let Some(row) = totals.first() {
            summary.requests = int(&row[0]) as u64;
            summary.errors = int(&row[1]) as u64;
            summary.spend_usd = nano_to_usd(int(&row[2]));
            summary.prompt_tokens = int(&row[3]) as u64;
            summary.completion_tokens = int(&row[4]) as u64;
            summary.cache_lookups = int(&row[5]) as u64;
            summary.cache_hits = int(&row[6]) as u64;
        }
        let percentiles = |column: &str| -> Result<(Option<f64>, Option<f64>), String> {
            let sql = format!(
                "SELECT {column} FROM (SELECT {column} FROM requests {clause}
                 ORDER BY seq DESC LIMIT {PERCENTILE_ROWS}) ORDER BY {column}"
            );
            let mut sorted: Vec<f64> = query(&sql, &[])?.iter().map(|r| real(&r[0])).collect();
            sorted.retain(|v| v.is_finite());
            let at = |q: f64| {
                (!sorted.is_empty())
                    .then(|| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize])
            };
            Ok((at(0.50), at(0.99)))
        };
        (summary.p50_ms, summary.p99_ms) = percentiles("duration_ms")?;
        (summary.overhead_p50_us, summary.overhead_p99_us) = percentiles("overhead_us")?;
        summary.series = (0..buckets)
            .map(|i| Bucket {
                start_ms: since + i64::from(i) * width,
                ..Bucket::default()
            })
            .collect();
        let bucket_of =
            |at: i64| (((at - since) / width).max(0) as usize).min(buckets as usize - 1);
        for row in query(
            &format!(
                // Both numbers are the gateway's own, never a client's text.
                "SELECT (at_ms - {since}) / {width} AS b, COUNT(*), SUM(status >= 400),
                 COALESCE(SUM(cost_nano), 0), SUM(cache LIKE 'hit-%')
                 FROM requests {clause} GROUP BY b"
            ),
            &[],
        )? {
            let bucket = &mut summary.series[bucket_of(since + int(&row[0]) * width)];
            bucket.requests += int(&row[1]) as u64;
            bucket.errors += int(&row[2]) as u64;
            bucket.spend_usd += nano_to_usd(int(&row[3]));
            bucket.cache_hits += int(&row[4]) as u64;
        }
        for (column, out) in [
            ("team", &mut summary.teams),
            ("key", &mut summary.keys),
            ("model", &mut summary.models),
        ] {
            let top = query(
                &format!(
                    "SELECT {column}, COUNT(*), COALESCE(SUM(cost_nano), 0) FROM requests {clause}
                     GROUP BY {column} HAVING {column} IS NOT NULL
                     ORDER BY 3 DESC, 2 DESC LIMIT {MAX_GROUPS}"
                ),
                &[],
            )?;
            for row in top {
                let Value::Text(name) = &row[0] else { continue };
                let mut spend_series = vec![0.0; buckets as usize];
                let extra = [Value::Text(name.clone())];
                let and = if clause.is_empty() { "WHERE" } else { "AND" };
                for point in query(
                    &format!(
                        "SELECT at_ms, cost_nano FROM requests {clause} {and} {column} = ?
                         AND cost_nano IS NOT NULL"
                    ),
                    &extra,
                )? {
                    spend_series[bucket_of(int(&point[0]))] += nano_to_usd(int(&point[1]));
                }
                out.push(Group {
                    name: name.clone(),
                    requests: int(&row[1]) as u64,
                    spend_usd: nano_to_usd(int(&row[2])),
                    spend_series,
                });
            }
        }
        Ok(summary)
    }

    pub fn flushes(&self) -> u64 {
        *self.flushes.lock()
    }

    pub fn flushed(&self) {
        *self.flushes.lock() += 1;
        self.flushed.notify_all();
    }

    pub fn wait_flushed(&self, seen: u64, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut flushes = self.flushes.lock();
        while *flushes <= seen {
            if self.flushed.wait_until(&mut flushes, deadline).timed_out() {
                return;
            }
        }
    }
}

/// Statement sizes, largest first: a batch is written as full statements
/// of the first size, its rest with the next, down to single rows.
const ROWS_PER_STATEMENT: [usize; 3] = [32, 8, 1];
/// Columns an insert writes a row.
const INSERTED: usize = 21;

/// `INSERT ... VALUES (?, ...), ...` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; INSERTED].join(", "));
    format!(
        "INSERT INTO requests (at_ms, request_id, endpoint, team, key, requested_model, model, \
         provider, stream, attempts, status, outcome, cache, prompt, duration_ms, upstream_ms, \
         overhead_us, prompt_tokens, completion_tokens, cost_nano, detail) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// A row's values as SQLite keeps them (integers are signed there).
struct Written {
    overhead_us: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nano: Option<i64>,
    detail: Option<String>,
}

impl Written {
    fn of(row: &Row) -> Self {
        Self {
            overhead_us: row.overhead_us as i64,
            prompt_tokens: row.prompt_tokens as i64,
            completion_tokens: row.completion_tokens as i64,
            cost_nano: row.cost_nano.map(|n| n as i64),
            detail: (row.detail != super::Detail::default())
                .then(|| serde_json::to_string(&row.detail).unwrap_or_default()),
        }
    }
}

/// One row's values, in the order of [`insert_sql`]'s columns.
fn row_values<'a>(row: &'a Row, written: &'a Written) -> [&'a dyn rusqlite::ToSql; INSERTED] {
    [
        &row.at_ms,
        &row.request_id,
        &row.endpoint,
        &row.team,
        &row.key,
        &row.requested_model,
        &row.model,
        &row.provider,
        &row.stream,
        &row.attempts,
        &row.status,
        &row.outcome,
        &row.cache,
        &row.prompt,
        &row.duration_ms,
        &row.upstream_ms,
        &written.overhead_us,
        &written.prompt_tokens,
        &written.completion_tokens,
        &written.cost_nano,
        &written.detail,
    ]
}

/// Opens the file and makes sure its table and indexes exist.
fn connect(path: &Path) -> Result<rusqlite::Connection, String> {
    rusqlite::Connection::open(path)
        .and_then(|connection| {
            // Two indexes only: time (every window) and request id (one
            // request's calls). Each index costs the writer about a microsecond
            // a row; a team's rows are read through the time index. Request
            // ids the gateway assigns are ordered by time, so their index
            // grows at its end.
            connection.execute_batch(
                "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     CREATE TABLE IF NOT EXISTS requests (
                         seq INTEGER PRIMARY KEY AUTOINCREMENT,
                         at_ms INTEGER NOT NULL, request_id TEXT NOT NULL,
                         endpoint TEXT NOT NULL, team TEXT, key TEXT,
                         requested_model TEXT, model TEXT, provider TEXT,
                         stream INTEGER NOT NULL, attempts INTEGER NOT NULL,
                         status INTEGER NOT NULL, outcome TEXT NOT NULL,
                         cache TEXT, prompt TEXT, duration_ms REAL NOT NULL,
                         upstream_ms REAL NOT NULL, overhead_us INTEGER NOT NULL,
                         prompt_tokens INTEGER NOT NULL,
                         completion_tokens INTEGER NOT NULL, cost_nano INTEGER,
                         detail TEXT);
                     CREATE INDEX IF NOT EXISTS requests_at ON requests (at_ms);
                     CREATE INDEX IF NOT EXISTS requests_id ON requests (request_id);
                     DROP INDEX IF EXISTS requests_team;",
            )?;
            Ok(connection)
        })
        .map_err(|error| format!("request log {}: {error}", path.display()))
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Integer(n) => *n,
        Value::Real(x) => *x as i64,
        _ => 0,
    }
}

fn real(value: &Value) -> f64 {
    match value {
        Value::Integer(n) => *n as f64,
        Value::Real(x) => *x,
        _ => f64::NAN,
    }
}

pub fn now_ms() -> i64 {
    crate::shapes::unix_millis() as i64
}
