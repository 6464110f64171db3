//! `VectorStore`: nearest-neighbour search over unit vectors, by partition.

use parking_lot::RwLock;
use std::collections::HashMap;

/// One search result: the entry id and its cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub similarity: f32,
}

pub trait VectorStore: Send + Sync {
    fn upsert(&self, partition: &str, id: &str, vector: Vec<f32>);
    fn remove(&self, partition: &str, id: &str);
    /// The `k` nearest entries in one partition, most similar first.
    /// A partition never sees another's vectors.
    fn search(&self, partition: &str, query: &[f32], k: usize) -> Vec<Neighbour>;
}

/// Exact search by brute force; fine for tests and small caches.
#[derive(Debug, Default)]
pub struct InMemoryVectorStore {
    partitions: RwLock<HashMap<String, HashMap<String, Vec<f32>>>>,
}

impl VectorStore for InMemoryVectorStore {
    fn upsert(&self, partition: &str, id: &str, vector: Vec<f32>) {
        self.partitions
            .write()
            .entry(partition.to_owned())
            .or_default()
            .insert(id.to_owned(), vector);
    }

    fn remove(&self, partition: &str, id: &str) {
        if let Some(entries) = self.partitions.write().get_mut(partition) {
            entries.remove(id);
        }
    }

    fn search(&self, partition: &str, query: &[f32], k: usize) -> Vec<Neighbour> {
        let partitions = self.partitions.read();
        let Some(entries) = partitions.get(partition) else {
            return Vec::new();
        };
        let mut scored: Vec<Neighbour> = entries
            .iter()
            .map(|(id, vector)| Neighbour {
                id: id.clone(),
                similarity: vector.iter().zip(query).map(|(a, b)| a * b).sum(),
            })
            .collect();
        scored.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        scored.truncate(k);
        scored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first_and_partitioned() {
        let store = InMemoryVectorStore::default();
        store.upsert("team-a", "x", vec![1.0, 0.0]);
        store.upsert("team-a", "y", vec![0.6, 0.8]);
        store.upsert("team-b", "z", vec![1.0, 0.0]);
        let hits = store.search("team-a", &[1.0, 0.0], 5);
        assert_eq!(
            hits.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert!((hits[1].similarity - 0.6).abs() < 1e-6);
        assert!(store.search("team-c", &[1.0, 0.0], 5).is_empty());
        store.remove("team-a", "x");
        assert_eq!(store.search("team-a", &[1.0, 0.0], 1)[0].id, "y");
    }
}
