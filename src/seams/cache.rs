//! `CacheStore`: exact response cache, bytes by key, with a TTL.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub trait CacheStore: Send + Sync {
    fn get(&self, key: &str) -> Option<Bytes>;
    fn put(&self, key: &str, value: Bytes, ttl: Duration);
}

/// Bounded in-process cache; the oldest insert is evicted first.
#[derive(Debug)]
pub struct InMemoryCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, (Bytes, Instant)>,
    order: VecDeque<String>,
}

impl InMemoryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }
}

impl CacheStore for InMemoryCache {
    fn get(&self, key: &str) -> Option<Bytes> {
        let mut inner = self.inner.lock();
        match inner.map.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        let mut inner = self.inner.lock();
        if inner
            .map
            .insert(key.to_owned(), (value, Instant::now() + ttl))
            .is_none()
        {
            inner.order.push_back(key.to_owned());
        }
        while inner.map.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        // Keys removed on expiry leave stale names behind; drop them lazily.
        if inner.order.len() > self.capacity * 2 {
            let Entries { map, order } = &mut *inner;
            order.retain(|key| map.contains_key(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_capacity() {
        let cache = InMemoryCache::new(2);
        cache.put("a", Bytes::from_static(b"1"), Duration::from_secs(60));
        cache.put("b", Bytes::from_static(b"2"), Duration::from_secs(60));
        cache.put("c", Bytes::from_static(b"3"), Duration::from_secs(60));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("c"), Some(Bytes::from_static(b"3")));
        cache.put("d", Bytes::from_static(b"4"), Duration::ZERO);
        assert_eq!(cache.get("d"), None);
    }
}
