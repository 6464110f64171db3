//! Responses kept for `previous_response_id`, `GET /v1/responses/{id}`,
//! its input items and `DELETE`, partitioned by team (another team's id is
//! "not found") and kept for `[responses] ttl`: in an embedded SQLite file
//! by default, which survives restarts, or in Redis (`store = "redis"`,
//! with `[quota]`'s Redis), which every replica reads.

use crate::quota::settings::StoreKind;
use crate::shapes::Secret;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `[responses]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponses {
    /// Where kept responses live: `"embedded"` (SQLite, the default) or
    /// `"redis"` (shared by replicas; uses `[quota]`'s Redis, so it needs
    /// `[quota] store = "redis"`).
    #[serde(default)]
    pub store: Option<String>,
    /// The SQLite file of the embedded store; relative to the config file.
    /// Default: `switchboard-responses.sqlite` beside the quota ledger (in
    /// memory when the ledger is).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// How long a response is kept, e.g. `"30d"` (the default).
    #[serde(default)]
    pub ttl: Option<String>,
    /// The most responses the embedded store keeps; the oldest go first.
    /// Default 100,000.
    #[serde(default)]
    pub max_entries: Option<u64>,
}

/// `[responses]`, checked.
#[derive(Debug, Clone)]
pub struct ResponsesSettings {
    pub backend: Backend,
    pub ttl: Duration,
    pub max_entries: u64,
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(PathBuf),
    Redis {
        url: Secret,
        prefix: String,
        timeout: Duration,
    },
}

pub fn validate(
    raw: &RawResponses,
    quota: &StoreKind,
    problem: &mut dyn FnMut(String, String),
) -> ResponsesSettings {
    let ttl = match raw.ttl.as_deref().map(humantime::parse_duration) {
        None => Duration::from_secs(30 * 24 * 3600),
        Some(Ok(ttl)) if !ttl.is_zero() => ttl,
        Some(_) => {
            problem(
                "responses.ttl".into(),
                "must be a duration longer than zero, like \"30d\"".into(),
            );
            Duration::from_secs(1)
        }
    };
    let path = raw
        .path
        .clone()
        .unwrap_or_else(|| "switchboard-responses.sqlite".into());
    let backend = match (raw.store.as_deref(), quota) {
        (None | Some("embedded"), _) => Backend::Sqlite(path),
        (
            Some("redis"),
            StoreKind::Redis {
                url,
                prefix,
                timeout,
                ..
            },
        ) => Backend::Redis {
            url: url.clone(),
            prefix: prefix.clone(),
            timeout: *timeout,
        },
        (Some("redis"), _) => {
            problem(
                "responses.store".into(),
                "`redis` uses [quota]'s Redis: set `[quota] store = \"redis\"`".into(),
            );
            Backend::Sqlite(path)
        }
        (Some(other), _) => {
            problem(
                "responses.store".into(),
                format!("`{other}`: use \"embedded\" or \"redis\""),
            );
            Backend::Sqlite(path)
        }
    };
    ResponsesSettings {
        backend,
        ttl,
        max_entries: raw.max_entries.unwrap_or(100_000).max(1),
    }
}

/// One kept response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResponse {
    pub team: String,
    /// The response object as the client received it.
    pub response: Value,
    /// The request's input, as items.
    pub input_items: Vec<Value>,
    /// The conversation so far as chat messages (without instructions,
    /// which a continuation does not inherit), this response's output last.
    pub messages: Vec<Value>,
}

/// The embedded store's file, opened on first use: `validate` and a
/// gateway that never serves `/v1/responses` create no file.
struct Sqlite {
    path: PathBuf,
    connection: Mutex<Option<rusqlite::Connection>>,
}

impl Sqlite {
    fn with<T>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut guard = self.connection.lock();
        if guard.is_none() {
            let connection = rusqlite::Connection::open(&self.path)
                .and_then(|connection| {
                    connection.execute_batch(
                        "PRAGMA journal_mode = WAL;
                         PRAGMA synchronous = NORMAL;
                         CREATE TABLE IF NOT EXISTS responses (
                             id TEXT PRIMARY KEY, team TEXT NOT NULL,
                             expires INTEGER NOT NULL, body TEXT NOT NULL);
                         CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires);",
                    )?;
                    Ok(connection)
                })
                .map_err(|error| format!("{}: {error}", self.path.display()))?;
            *guard = Some(connection);
        }
        let connection = guard.as_ref().ok_or("the store is not open")?;
        work(connection).map_err(|error| error.to_string())
    }
}

enum Store {
    Sqlite(Arc<Sqlite>),
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: String,
    },
}

pub struct ResponseStore {
    store: Store,
    ttl: Duration,
    max_entries: u64,
    puts: AtomicU64,
}

fn unix_now() -> i64 {
    crate::shapes::unix_seconds() as i64
}

impl ResponseStore {
    /// The store as configured; the SQLite file is opened (and created) on
    /// first use, Redis connected lazily.
    pub fn open(settings: &ResponsesSettings) -> Result<Self, String> {
        let store = match &settings.backend {
            Backend::Sqlite(path) => Store::Sqlite(Arc::new(Sqlite {
                path: path.clone(),
                connection: Mutex::new(None),
            })),
            Backend::Redis {
                url,
                prefix,
                timeout,
            } => {
                let client = redis::Client::open(url.expose()).map_err(|e| e.to_string())?;
                Store::Redis {
                    connection: crate::shared_redis::lazy_connection(&client, *timeout)
                        .map_err(|e| e.to_string())?,
                    prefix: prefix.clone(),
                }
            }
        };
        Ok(Self {
            store,
            ttl: settings.ttl,
            max_entries: settings.max_entries,
            puts: AtomicU64::new(0),
        })
    }

    async fn sqlite<T: Send + 'static>(
        store: &Arc<Sqlite>,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.with(work))
            .await
            .map_err(|error| error.to_string())?
    }

    /// Keep a response.
    pub async fn put(&self, id: &str, stored: &StoredResponse) -> Result<(), String> {
        let body = serde_json::to_string(stored).map_err(|e| e.to_string())?;
        match &self.store {
            Store::Sqlite(connection) => {
                let (id, team) = (id.to_owned(), stored.team.clone());
                let expires = unix_now() + self.ttl.as_secs() as i64;
                // Every so often, the expired and the oldest beyond the cap go.
                let sweep = self
                    .puts
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(256);
                let cap = self.max_entries as i64;
                Self::sqlite(connection, move |db| {
                    db.execute(
                        "INSERT OR REPLACE INTO responses (id, team, expires, body) VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![id, team, expires, body],
                    )?;
                    if sweep {
                        db.execute("DELETE FROM responses WHERE expires < ?1", [unix_now()])?;
                        db.execute(
                            "DELETE FROM responses WHERE id IN (SELECT id FROM responses \
                             ORDER BY expires DESC LIMIT -1 OFFSET ?1)",
                            [cap],
                        )?;
                    }
                    Ok(())
                })
                .await
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                redis::cmd("SET")
                    .arg(format!("{prefix}:response:{id}"))
                    .arg(body)
                    .arg("EX")
                    .arg(self.ttl.as_secs().max(1))
                    .query_async::<()>(&mut connection)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The response `id` of `team`, if it is kept.
    pub async fn get(&self, id: &str, team: &str) -> Result<Option<StoredResponse>, String> {
        let body: Option<String> = match &self.store {
            Store::Sqlite(connection) => {
                let id = id.to_owned();
                Self::sqlite(connection, move |db| {
                    use rusqlite::OptionalExtension;
                    db.query_row(
                        "SELECT body FROM responses WHERE id = ?1 AND expires >= ?2",
                        rusqlite::params![id, unix_now()],
                        |row| row.get(0),
                    )
                    .optional()
                })
                .await?
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                redis::cmd("GET")
                    .arg(format!("{prefix}:response:{id}"))
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let Some(body) = body else { return Ok(None) };
        let stored: StoredResponse = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok((stored.team == team).then_some(stored))
    }

    /// Forget the response `id` of `team`; whether there was one.
    pub async fn delete(&self, id: &str, team: &str) -> Result<bool, String> {
        if self.get(id, team).await?.is_none() {
            return Ok(false);
        }
        match &self.store {
            Store::Sqlite(connection) => {
                let (id, team) = (id.to_owned(), team.to_owned());
                Self::sqlite(connection, move |db| {
                    db.execute(
                        "DELETE FROM responses WHERE id = ?1 AND team = ?2",
                        rusqlite::params![id, team],
                    )
                })
                .await
                .map(|rows| rows > 0)
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                redis::cmd("DEL")
                    .arg(format!("{prefix}:response:{id}"))
                    .query_async::<u64>(&mut connection)
                    .await
                    .map(|n| n > 0)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(team: &str) -> StoredResponse {
        StoredResponse {
            team: team.into(),
            response: serde_json::json!({"id": "x"}),
            input_items: vec![],
            messages: vec![],
        }
    }

    fn embedded(ttl: Duration, max_entries: u64) -> ResponseStore {
        ResponseStore::open(&ResponsesSettings {
            backend: Backend::Sqlite(":memory:".into()),
            ttl,
            max_entries,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn teams_see_only_their_responses() {
        let store = embedded(Duration::from_secs(60), 10);
        store.put("a", &stored("alpha")).await.unwrap();
        assert!(store.get("a", "alpha").await.unwrap().is_some());
        assert!(store.get("a", "beta").await.unwrap().is_none());
        assert!(!store.delete("a", "beta").await.unwrap());
        assert!(store.delete("a", "alpha").await.unwrap());
        assert!(store.get("a", "alpha").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_embedded_store_stays_bounded() {
        let store = embedded(Duration::from_secs(60), 2);
        for id in ["a", "b", "c"] {
            store.put(id, &stored("t")).await.unwrap();
        }
        // The sweep runs on the first put of every 256: force one.
        store.puts.store(0, Ordering::Relaxed);
        store.put("d", &stored("t")).await.unwrap();
        let Store::Sqlite(db) = &store.store else {
            unreachable!()
        };
        let count: i64 = db
            .with(|db| db.query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(count, 2);
    }

    #[tokio::test]
    async fn expired_responses_are_gone() {
        let store = embedded(Duration::from_secs(1), 10);
        let Store::Sqlite(db) = &store.store else {
            unreachable!()
        };
        let body = serde_json::to_string(&stored("t")).unwrap();
        db.with(move |db| {
            db.execute(
                "INSERT INTO responses VALUES ('old', 't', ?1, ?2)",
                rusqlite::params![unix_now() - 5, body],
            )
        })
        .unwrap();
        assert!(store.get("old", "t").await.unwrap().is_none());
    }
}
