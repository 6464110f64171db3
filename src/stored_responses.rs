//! Responses kept for `previous_response_id`, `GET /v1/responses/{id}`,
//! its input items and `DELETE`: in this process, bounded in count and
//! age, and partitioned by team (another team's id is "not found").

use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stored response.
#[derive(Debug)]
pub struct StoredResponse {
    pub team: Arc<str>,
    /// The response object as the client received it.
    pub response: Value,
    /// The request's input, as items.
    pub input_items: Vec<Value>,
    /// The conversation so far as chat messages (without instructions,
    /// which a continuation does not inherit), this response's output last.
    pub messages: Vec<Value>,
    stored_at: Instant,
}

/// Responses by id, and their ids oldest first (for eviction).
type Entries = (HashMap<String, Arc<StoredResponse>>, VecDeque<String>);

pub struct ResponseStore {
    max_entries: usize,
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl ResponseStore {
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        Self {
            max_entries: max_entries.max(1),
            ttl,
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Keep a response; the oldest goes when the store is full.
    pub fn put(
        &self,
        id: String,
        team: Arc<str>,
        response: Value,
        input_items: Vec<Value>,
        messages: Vec<Value>,
    ) {
        let stored = Arc::new(StoredResponse {
            team,
            response,
            input_items,
            messages,
            stored_at: Instant::now(),
        });
        let mut guard = self.entries.lock();
        let (map, order) = &mut *guard;
        if map.insert(id.clone(), stored).is_none() {
            order.push_back(id);
        }
        while map.len() > self.max_entries {
            match order.pop_front() {
                Some(oldest) => {
                    map.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// The response `id` of `team`, unless it expired.
    pub fn get(&self, id: &str, team: &str) -> Option<Arc<StoredResponse>> {
        let mut guard = self.entries.lock();
        let (map, order) = &mut *guard;
        let stored = map.get(id)?;
        if stored.stored_at.elapsed() > self.ttl {
            map.remove(id);
            order.retain(|other| other != id);
            return None;
        }
        (*stored.team == *team).then(|| stored.clone())
    }

    /// Forget the response `id` of `team`; whether there was one.
    pub fn delete(&self, id: &str, team: &str) -> bool {
        if self.get(id, team).is_none() {
            return false;
        }
        let mut guard = self.entries.lock();
        let (map, order) = &mut *guard;
        order.retain(|other| other != id);
        map.remove(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_see_only_their_responses_and_the_store_stays_bounded() {
        let store = ResponseStore::new(2, Duration::from_secs(60));
        let put = |id: &str, team: &str| {
            store.put(id.into(), Arc::from(team), Value::Null, vec![], vec![]);
        };
        put("a", "alpha");
        put("b", "beta");
        assert!(store.get("a", "alpha").is_some());
        assert!(store.get("a", "beta").is_none());
        assert!(!store.delete("a", "beta"));
        put("c", "alpha");
        assert!(store.get("a", "alpha").is_none(), "the oldest went");
        assert!(store.delete("c", "alpha"));
        assert!(store.get("c", "alpha").is_none());
    }

    #[test]
    fn expired_responses_are_gone() {
        let store = ResponseStore::new(10, Duration::ZERO);
        store.put("a".into(), Arc::from("t"), Value::Null, vec![], vec![]);
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.get("a", "t").is_none());
    }
}
