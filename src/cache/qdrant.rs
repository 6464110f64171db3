//! The semantic layer shared through Qdrant (gRPC, `qdrant-client`): one
//! collection per deployment, one point per entry. The partition, context
//! key and expiry are payload fields with their own indexes, and every
//! search filters on all three, so a search can never cross a team or a
//! context, nor return an expired entry.

use crate::seams::cache::CacheStoreError;
use crate::seams::vector::{Neighbour, Point, Scope, VectorStore, check_dimensions};
use async_trait::async_trait;
use qdrant_client::Qdrant;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::{
    Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, PointStruct, PointsIdsList, QueryPointsBuilder, Range,
    UpsertPointsBuilder, VectorParamsBuilder,
};
use std::time::Duration;
use tokio::sync::OnceCell;

const PARTITION: &str = "partition";
const CONTEXT: &str = "context";
const EXPIRES: &str = "expires_ms";

pub struct QdrantVectorStore {
    client: Qdrant,
    collection: String,
    dimensions: usize,
    /// Set once the collection and its payload indexes exist.
    ready: OnceCell<()>,
}

impl std::fmt::Debug for QdrantVectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantVectorStore")
            .field("collection", &self.collection)
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

fn unavailable(error: impl std::fmt::Display) -> CacheStoreError {
    CacheStoreError(format!("qdrant: {error}"))
}

impl QdrantVectorStore {
    /// Nothing is contacted until the first call: the collection is created
    /// (if missing) then, so the gateway starts while Qdrant is down.
    pub fn new(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        dimensions: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut builder = Qdrant::from_url(url)
            .timeout(timeout)
            .connect_timeout(timeout)
            .skip_compatibility_check();
        if let Some(key) = api_key {
            builder = builder.api_key(key.to_owned());
        }
        let client = builder.build().map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            collection: collection.to_owned(),
            dimensions,
            ready: OnceCell::new(),
        })
    }

    async fn ensure_collection(&self) -> Result<(), CacheStoreError> {
        self.ready
            .get_or_try_init(|| async {
                let exists = self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .map_err(unavailable)?;
                if !exists {
                    let created = self
                        .client
                        .create_collection(
                            CreateCollectionBuilder::new(&self.collection).vectors_config(
                                VectorParamsBuilder::new(self.dimensions as u64, Distance::Cosine),
                            ),
                        )
                        .await;
                    // Another replica may have created it in the meantime.
                    if let Err(error) = created
                        && !self
                            .client
                            .collection_exists(&self.collection)
                            .await
                            .map_err(unavailable)?
                    {
                        return Err(unavailable(error));
                    }
                }
                for (field, kind) in [
                    (PARTITION, FieldType::Keyword),
                    (CONTEXT, FieldType::Keyword),
                    (EXPIRES, FieldType::Integer),
                ] {
                    // Creating an index that exists is a no-op in Qdrant.
                    self.client
                        .create_field_index(
                            CreateFieldIndexCollectionBuilder::new(&self.collection, field, kind)
                                .wait(true),
                        )
                        .await
                        .map_err(unavailable)?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
impl QdrantVectorStore {
    /// Tests make a collection each; this drops it (best effort).
    pub async fn drop_collection(&self) {
        if let Err(error) = self.client.delete_collection(&self.collection).await {
            eprintln!("cannot drop test collection {}: {error}", self.collection);
        }
    }
}

/// Milliseconds as Qdrant's range bounds (doubles: exact below 2^53).
fn millis(value: u64) -> f64 {
    value as f64
}

#[async_trait]
impl VectorStore for QdrantVectorStore {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn upsert(&self, point: Point) -> Result<(), CacheStoreError> {
        check_dimensions(self.dimensions, &point.vector)?;
        self.ensure_collection().await?;
        let expires = i64::try_from(point.expires_ms).unwrap_or(i64::MAX);
        let stored = PointStruct::new(
            point.id,
            point.vector,
            [
                (PARTITION, point.partition.into()),
                (CONTEXT, point.context.into()),
                (EXPIRES, expires.into()),
            ],
        );
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, vec![stored]).wait(true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn remove(&self, ids: &[u64]) -> Result<(), CacheStoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.ensure_collection().await?;
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(PointsIdsList::from(ids.to_vec()))
                    .wait(true),
            )
            .await
            .map_err(unavailable)?;
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
        self.ensure_collection().await?;
        let filter = Filter::must([
            Condition::matches(PARTITION, scope.partition.to_owned()),
            Condition::matches(CONTEXT, scope.context.to_owned()),
            Condition::range(
                EXPIRES,
                Range {
                    gt: Some(millis(now_ms)),
                    ..Range::default()
                },
            ),
        ]);
        let found = self
            .client
            .query(
                QueryPointsBuilder::new(&self.collection)
                    .query(query.to_vec())
                    .limit(k as u64)
                    .filter(filter),
            )
            .await
            .map_err(unavailable)?;
        Ok(found
            .result
            .into_iter()
            .filter_map(|scored| match scored.id?.point_id_options? {
                PointIdOptions::Num(id) => Some(Neighbour {
                    id,
                    similarity: scored.score,
                }),
                // Points here are written by this store, with numeric ids.
                PointIdOptions::Uuid(_) => None,
            })
            .collect())
    }

    async fn purge_expired(&self, now_ms: u64) -> Result<(), CacheStoreError> {
        self.ensure_collection().await?;
        let expired = Filter::must([Condition::range(
            EXPIRES,
            Range {
                lte: Some(millis(now_ms)),
                ..Range::default()
            },
        )]);
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(expired)
                    .wait(true),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
