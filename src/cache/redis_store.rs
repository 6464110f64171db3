//! The exact layer shared through Redis, so every replica serves what any
//! replica stored. Keys are partitioned (`<prefix>:cache:<len>:<partition>:
//! <key>`), expire with their entry, and one sorted set (by expiry) bounds
//! how many are kept: beyond it, the soonest to expire go first.
//!
//! Like the quota store, this expects a single Redis (or a primary with
//! replicas), not Cluster: the bound's script touches keys it did not declare.

use crate::seams::cache::{CacheStore, CacheStoreError};
use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::OnceCell;

/// KEYS[1]: the key, KEYS[2]: the expiry set. ARGV: value, ttl ms, now ms,
/// most keys kept. Expired names leave the set; then the soonest to expire
/// go until the bound holds.
const PUT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #evicted, 2 do redis.call('DEL', evicted[i]) end
end
return 1
";

pub struct RedisCacheStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    capacity: usize,
    put: redis::Script,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCacheStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: leave it out.
        f.debug_struct("RedisCacheStore")
            .field("prefix", &self.prefix)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl RedisCacheStore {
    /// Nothing is contacted until the first lookup, so the gateway starts
    /// (and misses) while Redis is down.
    pub fn new(
        url: &str,
        prefix: &str,
        capacity: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix: prefix.to_owned(),
            capacity: capacity.max(1),
            put: redis::Script::new(PUT),
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheStoreError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                crate::shared_redis::lazy_connection(&self.client, self.timeout)
            })
            .await
            .map_err(unavailable)?;
        Ok(manager.clone())
    }

    /// The partition is length-prefixed, so no team name can reach into
    /// another partition's keys.
    fn key(&self, partition: &str, key: &str) -> String {
        format!(
            "{}:cache:{}:{partition}:{key}",
            self.prefix,
            partition.len()
        )
    }

    fn order_key(&self) -> String {
        format!("{}:cache-order", self.prefix)
    }

    fn purge_channel(&self) -> String {
        format!("{}:cache-purged", self.prefix)
    }
}

fn unavailable(error: redis::RedisError) -> CacheStoreError {
    CacheStoreError(error.to_string())
}

#[async_trait]
impl CacheStore for RedisCacheStore {
    async fn get(&self, partition: &str, key: &str) -> Result<Option<Bytes>, CacheStoreError> {
        let mut connection = self.connection().await?;
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(partition, key))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(value.map(Bytes::from))
    }

    async fn put(
        &self,
        partition: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), CacheStoreError> {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let mut connection = self.connection().await?;
        let _: i64 = self
            .put
            .key(self.key(partition, key))
            .key(self.order_key())
            .arg(value.as_ref())
            .arg(ttl_ms)
            .arg(super::exact::now_ms())
            .arg(self.capacity)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn remove(&self, partition: &str, key: &str) -> Result<(), CacheStoreError> {
        let name = self.key(partition, key);
        let mut connection = self.connection().await?;
        let _: () = redis::pipe()
            .cmd("DEL")
            .arg(&name)
            .ignore()
            .cmd("ZREM")
            .arg(self.order_key())
            .arg(&name)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn announce_purge(&self, message: String) -> Result<(), CacheStoreError> {
        let mut connection = self.connection().await?;
        redis::cmd("PUBLISH")
            .arg(self.purge_channel())
            .arg(message)
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// A subscriber on its own connection, reconnecting after a second when
    /// Redis goes away; ends when the receiver is dropped.
    fn purge_announcements(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let (client, channel) = (self.client.clone(), self.purge_channel());
        runtime.spawn(async move {
            use futures::StreamExt;
            while !sender.is_closed() {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if let Err(error) = pubsub.subscribe(&channel).await {
                            tracing::warn!(%error, "cannot subscribe to cache purges");
                        } else {
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                let Ok(payload) = message.get_payload::<String>() else {
                                    continue;
                                };
                                if sender.send(payload).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "cache purge subscriber: Redis unreachable")
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Some(receiver)
    }
}
