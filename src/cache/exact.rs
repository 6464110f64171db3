//! The entry table: every cached response, found by id or by the exact key
//! of its request, bounded in size (oldest first out) and by age.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Hits remembered per entry for the admin API.
const HISTORY: usize = 50;

pub fn now_ms() -> u64 {
    crate::shapes::unix_millis()
}

/// One hit, for the entry's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitRecord {
    pub at_ms: u64,
    pub team: String,
    /// `exact` or `semantic`.
    pub layer: String,
    pub similarity: Option<f32>,
    /// The verifier's probability that both prompts ask the same thing
    /// (semantic hits).
    #[serde(default)]
    pub score: Option<f32>,
    /// The question that hit (differs from the entry's on semantic hits).
    pub question: String,
}

/// One cached response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub partition: String,
    /// The team whose request filled the entry.
    pub team: String,
    /// Canonical `provider/model`.
    pub model: String,
    pub context_key: String,
    pub exact_key: String,
    pub question: String,
    /// The complete, non-streaming response body.
    pub response: serde_json::Value,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the original call cost, in nano-USD, when the price is known.
    pub cost_nano_usd: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "vector_b64")]
    pub vector: Option<Vec<f32>>,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub hits: u64,
    pub last_hit_ms: Option<u64>,
    pub saved_tokens: u64,
    pub saved_nano_usd: u64,
    pub history: VecDeque<HitRecord>,
}

impl Entry {
    pub fn id_text(&self) -> String {
        format!("{:016x}", self.id)
    }

    pub fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }

    /// Count a hit: history, totals.
    pub fn record_hit(&mut self, hit: HitRecord, saved_nano_usd: u64) {
        self.hits += 1;
        self.last_hit_ms = Some(hit.at_ms);
        self.saved_tokens += self.prompt_tokens + self.completion_tokens;
        self.saved_nano_usd += saved_nano_usd;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(hit);
    }
}

/// Vectors as base64 of little-endian f32s: exact and a third of JSON's size.
mod vector_b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(vector: &Option<Vec<f32>>, s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = vector
            .iter()
            .flatten()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        if bytes.len() % 4 != 0 {
            return Err(serde::de::Error::custom(
                "vector length is not a multiple of 4",
            ));
        }
        Ok(Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }
}

/// All entries, by id and by exact key.
#[derive(Debug, Default)]
pub struct EntryTable {
    entries: HashMap<u64, Entry>,
    by_exact: HashMap<String, u64>,
    /// Insertion order, for eviction; may hold ids already removed.
    order: VecDeque<u64>,
}

impl EntryTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Insert, replacing any entry with the same exact key; returns the ids
    /// removed (replaced, expired or evicted) so the vector index drops them.
    pub fn insert(&mut self, entry: Entry, max_entries: usize, now_ms: u64) -> Vec<u64> {
        let mut removed = Vec::new();
        if let Some(old) = self.by_exact.get(&entry.exact_key).copied() {
            self.remove(old);
            removed.push(old);
        }
        self.by_exact.insert(entry.exact_key.clone(), entry.id);
        self.order.push_back(entry.id);
        self.entries.insert(entry.id, entry);
        while self.entries.len() > max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.remove(oldest).is_some() {
                removed.push(oldest);
            }
        }
        // Expired entries at the front go too; the rest expire on lookup.
        while let Some(front) = self.order.front().copied() {
            match self.entries.get(&front) {
                Some(entry) if entry.live(now_ms) => break,
                Some(_) => {
                    self.remove(front);
                    removed.push(front);
                    self.order.pop_front();
                }
                None => {
                    self.order.pop_front();
                }
            }
        }
        removed
    }

    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if self.by_exact.get(&entry.exact_key) == Some(&id) {
            self.by_exact.remove(&entry.exact_key);
        }
        Some(entry)
    }

    /// The live entry with this exact key.
    pub fn exact(&self, exact_key: &str, now_ms: u64) -> Option<u64> {
        let id = *self.by_exact.get(exact_key)?;
        self.entries
            .get(&id)
            .filter(|entry| entry.live(now_ms))
            .map(|_| id)
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Remove every entry `matches` selects; returns them.
    pub fn purge(&mut self, matches: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let ids: Vec<u64> = self
            .entries
            .values()
            .filter(|e| matches(e))
            .map(|e| e.id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }
}

#[cfg(test)]
pub(crate) fn test_entry(id: u64, exact_key: &str, expires_ms: u64) -> Entry {
    Entry {
        id,
        partition: "alpha".into(),
        team: "alpha".into(),
        model: "mock/echo".into(),
        context_key: "ctx".into(),
        exact_key: exact_key.into(),
        question: "q".into(),
        response: serde_json::json!({"choices": []}),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_nano_usd: Some(100),
        vector: Some(vec![0.5, -0.25]),
        created_ms: 0,
        expires_ms,
        hits: 0,
        last_hit_ms: None,
        saved_tokens: 0,
        saved_nano_usd: 0,
        history: VecDeque::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_replaced_and_expired() {
        let mut table = EntryTable::default();
        assert!(table.insert(test_entry(1, "a", 100), 2, 0).is_empty());
        assert!(table.insert(test_entry(2, "b", 100), 2, 0).is_empty());
        // Over the bound: the oldest goes.
        assert_eq!(table.insert(test_entry(3, "c", 100), 2, 0), [1]);
        assert_eq!(table.exact("a", 0), None);
        assert_eq!(table.exact("c", 0), Some(3));
        // Same exact key: the old entry is replaced.
        assert_eq!(table.insert(test_entry(4, "c", 100), 2, 0), [3]);
        assert_eq!(table.exact("c", 0), Some(4));
        // Expired entries are not served, and go at the next insert.
        assert_eq!(table.exact("b", 100), None);
        assert_eq!(table.insert(test_entry(5, "d", 500), 10, 200), [2, 4]);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let entry = test_entry(7, "k", 9);
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(serde_json::from_str::<Entry>(&text).unwrap(), entry);
    }

    #[test]
    fn purge_selects() {
        let mut table = EntryTable::default();
        table.insert(test_entry(1, "a", 100), 9, 0);
        let mut other = test_entry(2, "b", 100);
        other.team = "beta".into();
        table.insert(other, 9, 0);
        let purged = table.purge(|e| e.team == "beta");
        assert_eq!(purged.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
        assert_eq!(table.len(), 1);
    }
}
