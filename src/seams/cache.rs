//! `CacheStore`: the exact layer's shared entries, bytes by key within one
//! partition (a team, or the shared partition), with a TTL and a bound on
//! how many keys are kept.

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A store (Redis, Qdrant) could not be reached or answered nonsense. The
/// cache treats it as a miss, never as a failed request.
#[derive(Debug, thiserror::Error)]
#[error("cache store unavailable: {0}")]
pub struct CacheStoreError(pub String);

#[async_trait]
pub trait CacheStore: Send + Sync {
    /// The live value of `key` in `partition`. A partition never sees
    /// another's keys.
    async fn get(&self, partition: &str, key: &str) -> Result<Option<Bytes>, CacheStoreError>;
    /// Store `value`, replacing any value of `key`; it expires after `ttl`.
    /// Beyond the store's bound the soonest to expire go first.
    async fn put(
        &self,
        partition: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), CacheStoreError>;
    async fn remove(&self, partition: &str, key: &str) -> Result<(), CacheStoreError>;
    /// Tell every replica sharing this store that entries were purged. A
    /// store no other replica reads need not carry it.
    async fn announce_purge(&self, _message: String) -> Result<(), CacheStoreError> {
        Ok(())
    }
    /// Every purge announced on this store (this replica's too), for as long
    /// as the receiver is kept; `None` when the store carries none.
    fn purge_announcements(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        None
    }
}

/// Bounded in-process store; the soonest to expire is evicted first.
#[derive(Debug)]
pub struct InMemoryCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<(String, String), (Bytes, Instant)>,
    order: VecDeque<(String, String)>,
}

impl InMemoryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }
}

fn slot(partition: &str, key: &str) -> (String, String) {
    (partition.to_owned(), key.to_owned())
}

#[async_trait]
impl CacheStore for InMemoryCache {
    async fn get(&self, partition: &str, key: &str) -> Result<Option<Bytes>, CacheStoreError> {
        let mut inner = self.inner.lock();
        let slot = slot(partition, key);
        Ok(match inner.map.get(&slot) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                inner.map.remove(&slot);
                inner.order.retain(|other| other != &slot);
                None
            }
            None => None,
        })
    }

    async fn put(
        &self,
        partition: &str,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), CacheStoreError> {
        let mut inner = self.inner.lock();
        let slot = slot(partition, key);
        let expires = Instant::now() + ttl;
        if inner.map.insert(slot.clone(), (value, expires)).is_some() {
            inner.order.retain(|other| other != &slot);
        }
        // Keep `order` sorted by expiry so eviction takes the soonest first,
        // as the Redis store's sorted set does.
        let at = inner
            .order
            .iter()
            .position(|other| inner.map.get(other).is_some_and(|(_, e)| *e > expires))
            .unwrap_or(inner.order.len());
        inner.order.insert(at, slot);
        while inner.map.len() > self.capacity {
            let Some(soonest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&soonest);
        }
        Ok(())
    }

    async fn remove(&self, partition: &str, key: &str) -> Result<(), CacheStoreError> {
        let mut inner = self.inner.lock();
        let slot = slot(partition, key);
        if inner.map.remove(&slot).is_some() {
            inner.order.retain(|other| other != &slot);
        }
        Ok(())
    }
}
