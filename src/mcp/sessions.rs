//! Legacy MCP sessions shared between replicas: rmcp persists each session's
//! `initialize` parameters here, so a session opened on one gateway process
//! continues on another (rmcp restores it on the first request it sees).

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use rmcp::transport::streamable_http_server::session::{SessionState, SessionStore};
use std::time::Duration;
use tokio::sync::OnceCell;

type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub struct RedisSessionStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    ttl: Duration,
}

impl RedisSessionStore {
    /// `url` was checked at config validation; connecting waits for first use.
    pub fn new(url: &str, ttl: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
            ttl,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let connection = self
            .connection
            .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
            .await?;
        Ok(connection.clone())
    }
}

fn key(session_id: &str) -> String {
    format!("switchboard:mcp:session:{session_id}")
}

#[async_trait::async_trait]
impl SessionStore for RedisSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, StoreError> {
        let mut connection = self.connection().await?;
        let text: Option<String> = connection.get(key(session_id)).await?;
        match text {
            None => Ok(None),
            Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let text = serde_json::to_string(state)?;
        let () = connection
            .set_ex(key(session_id), text, self.ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let () = connection.del(key(session_id)).await?;
        Ok(())
    }
}
