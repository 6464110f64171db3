//! `VectorStore`: nearest-neighbour search over unit vectors, within one
//! scope (a partition and a context key), with an expiry per point.

use super::cache::CacheStoreError;
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::HashMap;

/// One stored vector: an entry's question, where it may be found, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: u64,
    pub partition: String,
    /// The entry's context key (hex): model, system prompt, earlier turns...
    pub context: String,
    pub vector: Vec<f32>,
    /// Unix milliseconds after which the point is never returned.
    pub expires_ms: u64,
}

/// What a search may see: one partition and one context key, nothing else.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub partition: &'a str,
    pub context: &'a str,
}

/// One search result: the entry id and its cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: u64,
    pub similarity: f32,
}

#[async_trait]
pub trait VectorStore: Send + Sync {
    fn dimensions(&self) -> usize;
    /// Add or replace the point with this id.
    async fn upsert(&self, point: Point) -> Result<(), CacheStoreError>;
    async fn remove(&self, ids: &[u64]) -> Result<(), CacheStoreError>;
    /// The `k` nearest live points of `scope`, most similar first. A search
    /// never returns a point of another partition or context key.
    async fn search(
        &self,
        scope: Scope<'_>,
        query: &[f32],
        k: usize,
        now_ms: u64,
    ) -> Result<Vec<Neighbour>, CacheStoreError>;
    /// Drop every point expired at `now_ms` (searches already skip them).
    async fn purge_expired(&self, now_ms: u64) -> Result<(), CacheStoreError>;
}

/// Exact search by brute force: the reference the contract suite holds the
/// other stores to.
#[derive(Debug)]
pub struct InMemoryVectorStore {
    dimensions: usize,
    points: RwLock<HashMap<u64, Point>>,
}

impl InMemoryVectorStore {
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            points: RwLock::new(HashMap::new()),
        }
    }
}

/// The error for a vector of the wrong length, shared by every store.
pub fn check_dimensions(expected: usize, vector: &[f32]) -> Result<(), CacheStoreError> {
    if vector.len() == expected {
        Ok(())
    } else {
        Err(CacheStoreError(format!(
            "vector has {} dimensions, the store {expected}",
            vector.len()
        )))
    }
}

#[async_trait]
impl VectorStore for InMemoryVectorStore {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn upsert(&self, point: Point) -> Result<(), CacheStoreError> {
        check_dimensions(self.dimensions, &point.vector)?;
        self.points.write().insert(point.id, point);
        Ok(())
    }

    async fn remove(&self, ids: &[u64]) -> Result<(), CacheStoreError> {
        let mut points = self.points.write();
        ids.iter().for_each(|id| {
            points.remove(id);
        });
        Ok(())
    }

    async fn search(
        &self,
        scope: Scope<'_>,
        query: &[f32],
        k: usize,
        now_ms: u64,
    ) -> Result<Vec<Neighbour>, CacheStoreError> {
        check_dimensions(self.dimensions, query)?;
        let points = self.points.read();
        let mut scored: Vec<Neighbour> = points
            .values()
            .filter(|p| {
                p.partition == scope.partition
                    && p.context == scope.context
                    && p.expires_ms > now_ms
            })
            .map(|p| Neighbour {
                id: p.id,
                similarity: p.vector.iter().zip(query).map(|(a, b)| a * b).sum(),
            })
            .collect();
        scored.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        scored.truncate(k);
        Ok(scored)
    }

    async fn purge_expired(&self, now_ms: u64) -> Result<(), CacheStoreError> {
        self.points.write().retain(|_, p| p.expires_ms > now_ms);
        Ok(())
    }
}
