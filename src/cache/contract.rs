//! One contract per seam, run against every store:
//! - `CacheStore`: the in-process store and the real Redis on 127.0.0.1:6379
//!   (each test under its own prefix; without Redis the Redis half is skipped
//!   loudly, unless `CI` is set, where it fails);
//! - `VectorStore`: the brute-force reference, the usearch index, and Qdrant
//!   only when `QDRANT_URL` names a server (e.g. `http://127.0.0.1:6334`);
//!   each Qdrant test uses its own collection and drops it.

use super::index::VectorIndex;
use super::qdrant::QdrantVectorStore;
use super::redis_store::RedisCacheStore;
use crate::seams::cache::{CacheStore, InMemoryCache};
use crate::seams::vector::{InMemoryVectorStore, Point, Scope, VectorStore};
use crate::test_support::{flag, missing_dependency};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// Every vector store test works in this many dimensions.
const DIMS: usize = 4;
/// Every cache store test builds its store with this bound.
const CAPACITY: usize = 3;

pub async fn redis_store() -> Option<RedisCacheStore> {
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let store = RedisCacheStore::new(REDIS_URL, &prefix, CAPACITY, Duration::from_secs(2)).unwrap();
    match store.get("probe", "probe").await {
        Ok(_) => Some(store),
        Err(error) => {
            missing_dependency(
                &format!("Redis at {REDIS_URL} (the Redis half of the cache store contract)"),
                &format!("unreachable: {error}; scripts/test starts it"),
            );
            None
        }
    }
}

/// A Qdrant test without `QDRANT_URL`. `SWITCHBOARD_QDRANT_ABSENT=1` (set by
/// `scripts/test` when this machine has no Qdrant binary, a run that then
/// ends by naming these tests as not run) makes it a plain "not run", even
/// under CI; otherwise it is a missing dependency, which fails under CI.
fn qdrant_missing() {
    if flag("SWITCHBOARD_QDRANT_ABSENT") {
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        eprintln!(
            "NOT RUN {test}: no Qdrant server here (SWITCHBOARD_QDRANT_ABSENT is set: \
             scripts/test found no ../shared/bin/qdrant-up)"
        );
        return;
    }
    missing_dependency(
        "$QDRANT_URL (a Qdrant server's gRPC URL, e.g. http://127.0.0.1:6334)",
        "scripts/test starts one with ../shared/bin/qdrant-up",
    );
}

/// A store on a fresh collection, or `None` when `QDRANT_URL` is unset.
async fn qdrant_store() -> Option<Arc<QdrantVectorStore>> {
    let url = std::env::var("QDRANT_URL").ok().filter(|u| !u.is_empty())?;
    let api_key = std::env::var("QDRANT_API_KEY").ok();
    let collection = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
    let store = QdrantVectorStore::new(
        &url,
        api_key.as_deref(),
        &collection,
        DIMS,
        Duration::from_secs(10),
    )
    .expect("a Qdrant client");
    Some(Arc::new(store))
}

fn bytes(text: &'static str) -> Bytes {
    Bytes::from_static(text.as_bytes())
}

const MINUTE: Duration = Duration::from_secs(60);

async fn round_trip_and_replace(store: Arc<dyn CacheStore>) {
    assert_eq!(store.get("alpha", "k").await.unwrap(), None);
    store.put("alpha", "k", bytes("one"), MINUTE).await.unwrap();
    assert_eq!(store.get("alpha", "k").await.unwrap(), Some(bytes("one")));
    store.put("alpha", "k", bytes("two"), MINUTE).await.unwrap();
    assert_eq!(store.get("alpha", "k").await.unwrap(), Some(bytes("two")));
    store.remove("alpha", "k").await.unwrap();
    assert_eq!(store.get("alpha", "k").await.unwrap(), None);
}

async fn partitions_never_meet(store: Arc<dyn CacheStore>) {
    store.put("alpha", "k", bytes("a"), MINUTE).await.unwrap();
    assert_eq!(store.get("beta", "k").await.unwrap(), None);
    // A team name that looks like a key path stays in its own partition.
    assert_eq!(store.get("alpha:k", "").await.unwrap(), None);
    assert_eq!(store.get("alph", "a:k").await.unwrap(), None);
    store.put("beta", "k", bytes("b"), MINUTE).await.unwrap();
    assert_eq!(store.get("alpha", "k").await.unwrap(), Some(bytes("a")));
    assert_eq!(store.get("beta", "k").await.unwrap(), Some(bytes("b")));
    store.remove("beta", "k").await.unwrap();
    assert_eq!(store.get("alpha", "k").await.unwrap(), Some(bytes("a")));
}

async fn entries_expire(store: Arc<dyn CacheStore>) {
    store
        .put("alpha", "short", bytes("x"), Duration::from_millis(80))
        .await
        .unwrap();
    store
        .put("alpha", "long", bytes("y"), MINUTE)
        .await
        .unwrap();
    assert_eq!(store.get("alpha", "short").await.unwrap(), Some(bytes("x")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.get("alpha", "short").await.unwrap(), None);
    assert_eq!(store.get("alpha", "long").await.unwrap(), Some(bytes("y")));
}

async fn the_bound_evicts_the_soonest_to_expire(store: Arc<dyn CacheStore>) {
    // Written out of expiry order, across partitions: the bound is global.
    let ttl = |minutes: u64| Duration::from_secs(60 * minutes);
    store.put("alpha", "b", bytes("b"), ttl(20)).await.unwrap();
    store.put("beta", "a", bytes("a"), ttl(10)).await.unwrap();
    store.put("alpha", "c", bytes("c"), ttl(30)).await.unwrap();
    store.put("beta", "d", bytes("d"), ttl(40)).await.unwrap();
    assert_eq!(store.get("beta", "a").await.unwrap(), None);
    for (partition, key) in [("alpha", "b"), ("alpha", "c"), ("beta", "d")] {
        assert!(store.get(partition, key).await.unwrap().is_some(), "{key}");
    }
    // Replacing a key does not count it twice.
    store.put("alpha", "c", bytes("c2"), ttl(50)).await.unwrap();
    for (partition, key) in [("alpha", "b"), ("alpha", "c"), ("beta", "d")] {
        assert!(store.get(partition, key).await.unwrap().is_some(), "{key}");
    }
}

macro_rules! cache_store_contract {
    ($($name:ident),* $(,)?) => {
        mod cache_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::InMemoryCache::new(super::CAPACITY))).await;
                }
            )*
        }
        mod cache_redis {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(store) = super::redis_store().await {
                        super::$name(std::sync::Arc::new(store)).await;
                    }
                }
            )*
        }
    };
}

cache_store_contract!(
    round_trip_and_replace,
    partitions_never_meet,
    entries_expire,
    the_bound_evicts_the_soonest_to_expire,
);

fn unit(values: [f32; DIMS]) -> Vec<f32> {
    let mut vector = values.to_vec();
    crate::seams::embedding::normalize(&mut vector);
    vector
}

fn point(id: u64, partition: &str, context: &str, vector: [f32; DIMS]) -> Point {
    Point {
        id,
        partition: partition.to_owned(),
        context: context.to_owned(),
        vector: unit(vector),
        expires_ms: u64::MAX / 4,
    }
}

fn scope<'a>(partition: &'a str, context: &'a str) -> Scope<'a> {
    Scope { partition, context }
}

fn ids(found: &[crate::seams::vector::Neighbour]) -> Vec<u64> {
    found.iter().map(|n| n.id).collect()
}

const NOW: u64 = 1_700_000_000_000;

async fn nearest_first_with_cosine(store: Arc<dyn VectorStore>) {
    store
        .upsert(point(1, "alpha", "c1", [1.0, 0.0, 0.0, 0.0]))
        .await
        .unwrap();
    store
        .upsert(point(2, "alpha", "c1", [0.6, 0.8, 0.0, 0.0]))
        .await
        .unwrap();
    store
        .upsert(point(3, "alpha", "c1", [0.0, 0.0, 1.0, 0.0]))
        .await
        .unwrap();
    let found = store
        .search(scope("alpha", "c1"), &unit([1.0, 0.0, 0.0, 0.0]), 2, NOW)
        .await
        .unwrap();
    assert_eq!(ids(&found), [1, 2]);
    assert!((found[0].similarity - 1.0).abs() < 1e-3, "{found:?}");
    assert!((found[1].similarity - 0.6).abs() < 1e-3, "{found:?}");
}

async fn never_crosses_a_partition_or_context(store: Arc<dyn VectorStore>) {
    let same = [0.5, 0.5, 0.5, 0.5];
    store.upsert(point(10, "alpha", "c1", same)).await.unwrap();
    store.upsert(point(11, "beta", "c1", same)).await.unwrap();
    store.upsert(point(12, "alpha", "c2", same)).await.unwrap();
    for (partition, context, want) in [("alpha", "c1", 10), ("beta", "c1", 11), ("alpha", "c2", 12)]
    {
        let found = store
            .search(scope(partition, context), &unit(same), 5, NOW)
            .await
            .unwrap();
        assert_eq!(ids(&found), [want], "{partition}/{context}");
    }
    let nobody = store
        .search(scope("gamma", "c1"), &unit(same), 5, NOW)
        .await
        .unwrap();
    assert!(nobody.is_empty());
}

async fn expired_points_are_never_returned(store: Arc<dyn VectorStore>) {
    let mut old = point(20, "alpha", "c1", [1.0, 0.0, 0.0, 0.0]);
    old.expires_ms = NOW;
    store.upsert(old).await.unwrap();
    store
        .upsert(point(21, "alpha", "c1", [0.9, 0.1, 0.0, 0.0]))
        .await
        .unwrap();
    let query = unit([1.0, 0.0, 0.0, 0.0]);
    let found = store
        .search(scope("alpha", "c1"), &query, 5, NOW)
        .await
        .unwrap();
    assert_eq!(ids(&found), [21]);
    // Still live a millisecond earlier.
    let earlier = store
        .search(scope("alpha", "c1"), &query, 5, NOW - 1)
        .await
        .unwrap();
    assert_eq!(ids(&earlier), [20, 21]);
    store.purge_expired(NOW).await.unwrap();
    let after = store
        .search(scope("alpha", "c1"), &query, 5, NOW - 1)
        .await
        .unwrap();
    assert_eq!(ids(&after), [21]);
}

async fn upserts_replace_and_removes_remove(store: Arc<dyn VectorStore>) {
    store
        .upsert(point(30, "alpha", "c1", [1.0, 0.0, 0.0, 0.0]))
        .await
        .unwrap();
    store
        .upsert(point(31, "alpha", "c1", [0.0, 1.0, 0.0, 0.0]))
        .await
        .unwrap();
    // Same id, another scope and vector: the old one is gone.
    store
        .upsert(point(30, "beta", "c1", [0.0, 0.0, 1.0, 0.0]))
        .await
        .unwrap();
    let query = unit([1.0, 0.0, 0.0, 0.0]);
    let alpha = store
        .search(scope("alpha", "c1"), &query, 5, NOW)
        .await
        .unwrap();
    assert_eq!(ids(&alpha), [31]);
    let beta = store
        .search(scope("beta", "c1"), &unit([0.0, 0.0, 1.0, 0.0]), 5, NOW)
        .await
        .unwrap();
    assert_eq!(ids(&beta), [30]);
    store.remove(&[30, 31, 999]).await.unwrap();
    assert!(
        store
            .search(scope("alpha", "c1"), &query, 5, NOW)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search(scope("beta", "c1"), &query, 5, NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn wrong_lengths_are_errors(store: Arc<dyn VectorStore>) {
    assert_eq!(store.dimensions(), DIMS);
    let mut short = point(40, "alpha", "c1", [1.0, 0.0, 0.0, 0.0]);
    short.vector.pop();
    assert!(store.upsert(short).await.is_err());
    assert!(
        store
            .search(scope("alpha", "c1"), &[1.0], 5, NOW)
            .await
            .is_err()
    );
}

macro_rules! vector_store_contract {
    ($($name:ident),* $(,)?) => {
        mod vectors_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::InMemoryVectorStore::new(super::DIMS))).await;
                }
            )*
        }
        mod vectors_usearch {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::VectorIndex::new(super::DIMS).unwrap())).await;
                }
            )*
        }
        /// Runs with `QDRANT_URL` set. Without it each test fails under CI,
        /// unless `SWITCHBOARD_QDRANT_ABSENT` says there is no Qdrant here,
        /// and elsewhere says plainly that it was skipped.
        mod vectors_qdrant {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = super::qdrant_store().await else {
                        super::qdrant_missing();
                        return;
                    };
                    super::$name(store.clone()).await;
                    store.drop_collection().await;
                }
            )*
        }
    };
}

vector_store_contract!(
    nearest_first_with_cosine,
    never_crosses_a_partition_or_context,
    expired_points_are_never_returned,
    upserts_replace_and_removes_remove,
    wrong_lengths_are_errors,
);
