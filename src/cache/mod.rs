//! The response cache: an exact layer (a hash of the normalized request)
//! and a semantic layer (the last user turn's embedding, within the same
//! partition and context key, confirmed by the verifier). See `stage.rs` for
//! how the pipeline uses it and `admin.rs` for the inspection API.

pub mod admin;
mod closed_classes;
pub mod config;
#[cfg(test)]
mod contract;
pub mod control;
pub mod embed;
pub mod evaluation;
pub mod exact;
pub mod index;
pub mod keys;
mod persist;
pub mod provider_embed;
pub mod purge;
pub mod qdrant;
pub mod redis_store;
pub mod replay;
pub mod semantic;
pub mod stage;
pub mod stats;
pub mod verify;

use crate::provider::Providers;
use crate::seams::cache::CacheStore;
use crate::seams::embedding::EmbeddingModel;
use crate::seams::vector::{Point, Scope, VectorStore};
use config::{Bar, CacheSettings, EmbeddingSource};
use embed::{EmbedService, Embedder, LocalEmbedder};
use exact::{Entry, EntryTable, HitRecord, now_ms};
use index::VectorIndex;
use keys::Probe;
use parking_lot::Mutex;
pub use persist::SNAPSHOT_FILE;
use stats::{CacheMetrics, ShadowLog};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often a changed cache is written to its snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// How often expired points leave a shared vector store (searches skip
/// them anyway; this only frees space).
const VECTOR_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest wait for a provider embedding before the lookup misses.
const PROVIDER_EMBED_TIMEOUT: Duration = Duration::from_secs(2);

/// Where question vectors live.
enum Vectors {
    /// The in-process usearch index, updated with the entry table.
    Local(VectorIndex),
    /// Shared by every replica (Qdrant); written in the background.
    Shared(Arc<dyn VectorStore>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Exact,
    Semantic,
}

impl Layer {
    pub fn header(self) -> &'static str {
        match self {
            Self::Exact => "hit-exact",
            Self::Semantic => "hit-semantic",
        }
    }
}

pub struct Hit {
    pub entry_id: String,
    pub layer: Layer,
    pub similarity: f32,
    pub response: serde_json::Value,
    pub saved_nano_usd: u64,
}

#[derive(Default)]
pub struct Miss {
    /// The question's vector, reused when the answer is stored.
    pub vector: Option<Vec<f32>>,
    /// Shadow mode: the record of the candidate that would have been served.
    pub shadow: Option<(u64, serde_json::Value)>,
}

pub enum Lookup {
    Hit(Hit),
    Miss(Miss),
}

/// What a stored answer cost and used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spend {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_nano_usd: Option<u64>,
}

pub struct ResponseCache {
    pub settings: CacheSettings,
    table: Mutex<EntryTable>,
    vectors: Option<Vectors>,
    embedder: Option<Embedder>,
    /// Exact entries shared with other replicas (Redis); this process keeps
    /// its own table too, for the semantic layer and the admin API.
    shared: Option<Arc<dyn CacheStore>>,
    pub metrics: CacheMetrics,
    pub shadow_log: ShadowLog,
    /// Word vectors the verifier aligned recently.
    words: semantic::WordVectorCache,
    dirty: AtomicBool,
    next_id: AtomicU64,
    /// This replica's id in purge announcements.
    replica: u64,
}

/// Shared-store key of an entry, by id.
fn entry_key(id: u64) -> String {
    format!("e:{id:016x}")
}

/// Shared-store key of the id of the entry with this exact key.
fn exact_pointer(exact_key: &str) -> String {
    format!("x:{exact_key}")
}

impl ResponseCache {
    /// The cache the config asks for, or `None` when it is off. Without a
    /// usable embedding source the exact layer still runs and one line says
    /// why the semantic layer is off.
    pub fn from_settings(
        settings: &CacheSettings,
        metrics: CacheMetrics,
        providers: &Providers,
    ) -> Option<Arc<Self>> {
        if !settings.enabled {
            return None;
        }
        let embedder = if settings.semantic {
            embedder_for(settings, providers)
        } else {
            tracing::info!("semantic cache off by configuration; exact cache on");
            None
        };
        let shared = settings.redis.as_ref().and_then(|redis| {
            // Two keys per entry: the entry and its exact-key pointer.
            let capacity = settings.max_entries.saturating_mul(2);
            match redis_store::RedisCacheStore::new(
                redis.url.expose(),
                &redis.prefix,
                capacity,
                settings.store_timeout,
            ) {
                Ok(store) => {
                    tracing::info!(prefix = %redis.prefix, "cache entries shared through Redis");
                    Some(Arc::new(store) as Arc<dyn CacheStore>)
                }
                Err(error) => {
                    tracing::warn!(%error, "cache entries not shared: bad Redis settings");
                    None
                }
            }
        });
        let shared_vectors = match (&settings.qdrant, &embedder) {
            (Some(qdrant), Some(embedder)) => match qdrant::QdrantVectorStore::new(
                &qdrant.url,
                qdrant.api_key.as_ref().map(|key| key.expose()),
                &qdrant.collection,
                embedder.dimensions(),
                settings.store_timeout,
            ) {
                Ok(store) => {
                    tracing::info!(collection = %qdrant.collection, "cache vectors shared through Qdrant");
                    Some(Arc::new(store) as Arc<dyn VectorStore>)
                }
                Err(error) => {
                    tracing::warn!(%error, "semantic cache off: cannot set up the Qdrant client");
                    return Self::finish_build(settings, metrics, None, shared, None);
                }
            },
            _ => None,
        };
        Self::finish_build(settings, metrics, embedder, shared, shared_vectors)
    }

    fn finish_build(
        settings: &CacheSettings,
        metrics: CacheMetrics,
        embedder: Option<Embedder>,
        shared: Option<Arc<dyn CacheStore>>,
        shared_vectors: Option<Arc<dyn VectorStore>>,
    ) -> Option<Arc<Self>> {
        let mut cache = Self::with_stores(settings.clone(), embedder, shared, shared_vectors);
        cache.metrics = metrics;
        let cache = Arc::new(cache);
        if let Some(dir) = &settings.data_dir {
            let loaded = cache.restore(persist::read(dir));
            tracing::info!(entries = loaded, path = %dir.display(), "cache snapshot loaded");
        }
        cache.spawn_background();
        Some(cache)
    }

    /// A cache on the local model (or none) and in-process stores only.
    pub fn new(settings: CacheSettings, model: Option<Arc<dyn EmbeddingModel>>) -> Self {
        let embedder = model.map(|model| Embedder::Local(EmbedService::start(model)));
        Self::with_stores(settings, embedder, None, None)
    }

    /// A cache on any embedder and stores; without `shared_vectors` the
    /// vectors go to the in-process index.
    pub fn with_stores(
        settings: CacheSettings,
        embedder: Option<Embedder>,
        shared: Option<Arc<dyn CacheStore>>,
        shared_vectors: Option<Arc<dyn VectorStore>>,
    ) -> Self {
        let (vectors, embedder) = match (embedder, shared_vectors) {
            (Some(embedder), Some(store)) => (Some(Vectors::Shared(store)), Some(embedder)),
            (Some(embedder), None) => match VectorIndex::new(embedder.dimensions()) {
                Ok(index) => (Some(Vectors::Local(index)), Some(embedder)),
                Err(error) => {
                    tracing::warn!(%error, "semantic cache off: cannot create the vector index");
                    (None, None)
                }
            },
            (None, _) => (None, None),
        };
        Self {
            settings,
            table: Mutex::new(EntryTable::default()),
            vectors,
            embedder,
            shared,
            metrics: CacheMetrics::default(),
            shadow_log: ShadowLog::default(),
            words: semantic::WordVectorCache::default(),
            dirty: AtomicBool::new(false),
            next_id: AtomicU64::new(rand_seed()),
            replica: rand_seed(),
        }
    }

    /// The local model's service when the semantic layer embeds locally, for
    /// other users of the same model (semantic guardrail rules, calibrated on
    /// it), so it is loaded once. `None` when the cache embeds via a provider.
    pub fn embed_service(&self) -> Option<EmbedService> {
        match &self.embedder {
            Some(Embedder::Local(service)) => Some(service.clone()),
            _ => None,
        }
    }

    pub fn semantic_enabled(&self) -> bool {
        self.embedder.is_some()
    }

    /// The embedding handle, for any stage that needs vectors of the same
    /// model (cheap to clone; embeds off the async threads).
    pub fn embedder(&self) -> Option<Embedder> {
        self.embedder.clone()
    }

    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exact layer (here, then the shared store), then the semantic layer.
    pub async fn lookup(&self, probe: &Probe, team: &str, bar: Bar) -> Lookup {
        let now = now_ms();
        let exact_key = hex::encode(probe.exact_key);
        {
            let mut table = self.table.lock();
            if let Some(id) = table.exact(&exact_key, now) {
                return Lookup::Hit(self.exact_hit(&mut table, id, probe, team));
            }
        }
        if let Some(entry) = self.shared_exact(&probe.partition, &exact_key).await {
            let id = entry.id;
            let mut table = self.table.lock();
            self.adopt(&mut table, entry, now);
            if table.exact(&exact_key, now) == Some(id) {
                return Lookup::Hit(self.exact_hit(&mut table, id, probe, team));
            }
        }
        let (Some(embedder), Some(vectors)) = (&self.embedder, &self.vectors) else {
            return Lookup::Miss(Miss::default());
        };
        let Some(vector) = embedder.embed(&probe.question).await else {
            return Lookup::Miss(Miss::default());
        };
        let context = hex::encode(probe.context_key);
        let candidates = match vectors {
            // The index has its own lock: search before taking the table's.
            Vectors::Local(index) => index.search(
                semantic::bucket(&probe.partition, &context),
                &vector,
                index::CANDIDATES,
                now,
            ),
            Vectors::Shared(store) => {
                let scope = Scope {
                    partition: &probe.partition,
                    context: &context,
                };
                match store.search(scope, &vector, index::CANDIDATES, now).await {
                    Ok(found) => found.into_iter().map(|n| (n.id, n.similarity)).collect(),
                    Err(error) => {
                        self.store_failed(&error, "vector search");
                        Vec::new()
                    }
                }
            }
        };
        self.fetch_missing(&probe.partition, &candidates, now).await;
        let candidates = semantic::live_candidates(&self.table.lock(), candidates, probe, now);
        let decision = semantic::decide(candidates, probe, bar, embedder, &self.words, now).await;
        let mut table = self.table.lock();
        let mut shadow = None;
        let accepted_score = decision
            .records
            .iter()
            .find(|record| record.accepted && record.stage == "verifier")
            .and_then(|record| record.score);
        for mut record in decision.records {
            self.metrics
                .candidates
                .get_or_create(&stats::StageLabels {
                    stage: record.stage,
                    decision: if record.accepted {
                        "accepted"
                    } else {
                        record.check.unwrap_or("below_threshold")
                    },
                })
                .inc();
            record.team = team.to_owned();
            record.shadow = self.settings.shadow;
            record.id = self.next_id.fetch_add(1, Ordering::Relaxed);
            // Shadow mode compares the fresh answer with the best candidate the
            // verifier judged, served or not, so the report can say what each
            // confidence would have served.
            if record.stage == "verifier" && self.settings.shadow && shadow.is_none() {
                let cached = u64::from_str_radix(&record.entry, 16)
                    .ok()
                    .and_then(|id| table.get(id))
                    .map(|entry| entry.response.clone());
                shadow = cached.map(|response| (record.id, response));
            }
            self.shadow_log.push(record);
        }
        match decision.accepted {
            Some((id, similarity)) if !self.settings.shadow => Lookup::Hit(self.hit(
                &mut table,
                id,
                Layer::Semantic,
                (similarity, accepted_score),
                probe,
                team,
            )),
            _ => Lookup::Miss(Miss {
                vector: Some(vector),
                shadow,
            }),
        }
    }

    fn store_failed(&self, error: &dyn std::fmt::Display, during: &'static str) {
        self.metrics.store_errors.inc();
        tracing::warn!(%error, during, "shared cache store failed; treated as a miss");
    }

    /// The shared entry with this exact key, if another replica stored one.
    async fn shared_exact(&self, partition: &str, exact_key: &str) -> Option<Entry> {
        let shared = self.shared.as_ref()?;
        let pointer = match shared.get(partition, &exact_pointer(exact_key)).await {
            Ok(found) => found?,
            Err(error) => {
                self.store_failed(&error, "exact lookup");
                return None;
            }
        };
        let id = std::str::from_utf8(&pointer)
            .ok()
            .and_then(|text| u64::from_str_radix(text, 16).ok())?;
        self.shared_entry(partition, id)
            .await
            .filter(|entry| entry.exact_key == exact_key)
    }

    /// One entry from the shared store, checked against where it was asked for.
    async fn shared_entry(&self, partition: &str, id: u64) -> Option<Entry> {
        let shared = self.shared.as_ref()?;
        let bytes = match shared.get(partition, &entry_key(id)).await {
            Ok(found) => found?,
            Err(error) => {
                self.store_failed(&error, "entry lookup");
                return None;
            }
        };
        let entry: Entry = serde_json::from_slice(&bytes)
            .inspect_err(|error| tracing::warn!(%error, "unreadable shared cache entry"))
            .ok()?;
        (entry.id == id && entry.partition == partition && entry.live(now_ms())).then_some(entry)
    }

    /// Semantic candidates another replica stored: fetch them so the
    /// verifier can read their questions.
    async fn fetch_missing(&self, partition: &str, candidates: &[(u64, f32)], now: u64) {
        if self.shared.is_none() {
            return;
        }
        let missing: Vec<u64> = {
            let table = self.table.lock();
            candidates
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| table.get(*id).is_none())
                .collect()
        };
        for id in missing {
            if let Some(entry) = self.shared_entry(partition, id).await {
                let mut table = self.table.lock();
                self.adopt(&mut table, entry, now);
            }
        }
    }

    fn exact_hit(&self, table: &mut EntryTable, id: u64, probe: &Probe, team: &str) -> Hit {
        self.hit(table, id, Layer::Exact, (1.0, None), probe, team)
    }

    fn hit(
        &self,
        table: &mut EntryTable,
        id: u64,
        layer: Layer,
        (similarity, score): (f32, Option<f32>),
        probe: &Probe,
        team: &str,
    ) -> Hit {
        let record = HitRecord {
            at_ms: now_ms(),
            team: team.to_owned(),
            layer: match layer {
                Layer::Exact => "exact",
                Layer::Semantic => "semantic",
            }
            .to_owned(),
            similarity: (layer == Layer::Semantic).then_some(similarity),
            score,
            question: probe.question.clone(),
        };
        self.dirty.store(true, Ordering::Relaxed);
        let Some(entry) = table.get_mut(id) else {
            unreachable!("the entry was found under the same lock")
        };
        let saved = entry.cost_nano_usd.unwrap_or(0);
        entry.record_hit(record, saved);
        self.metrics
            .saved_tokens
            .inc_by(entry.prompt_tokens + entry.completion_tokens);
        self.metrics.saved_usd.inc_by(saved as f64 / 1e9);
        Hit {
            entry_id: entry.id_text(),
            layer,
            similarity,
            response: entry.response.clone(),
            saved_nano_usd: saved,
        }
    }

    /// Store a complete answer. Returns the new entry's id. Shared stores
    /// are written in the background: the caller never waits for them.
    pub fn insert(
        &self,
        probe: &Probe,
        vector: Option<Vec<f32>>,
        team: &str,
        model: &str,
        response: serde_json::Value,
        spend: Spend,
    ) -> String {
        let now = now_ms();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            id,
            partition: probe.partition.clone(),
            team: team.to_owned(),
            model: model.to_owned(),
            context_key: hex::encode(probe.context_key),
            exact_key: hex::encode(probe.exact_key),
            question: probe.question.clone(),
            response,
            prompt_tokens: spend.prompt_tokens,
            completion_tokens: spend.completion_tokens,
            cost_nano_usd: spend.cost_nano_usd,
            vector: vector.filter(|_| self.vectors.is_some()),
            created_ms: now,
            expires_ms: now.saturating_add(self.settings.ttl.as_millis() as u64),
            hits: 0,
            last_hit_ms: None,
            saved_tokens: 0,
            saved_nano_usd: 0,
            history: Default::default(),
        };
        let id_text = entry.id_text();
        let publish = self.shares_anything().then(|| entry.clone());
        {
            let mut table = self.table.lock();
            self.adopt(&mut table, entry, now);
        }
        self.dirty.store(true, Ordering::Relaxed);
        if let Some(entry) = publish {
            self.publish(entry);
        }
        self.metrics.stored.inc();
        id_text
    }

    fn shares_anything(&self) -> bool {
        self.shared.is_some() || matches!(self.vectors, Some(Vectors::Shared(_)))
    }

    fn shared_vectors(&self) -> Option<Arc<dyn VectorStore>> {
        match &self.vectors {
            Some(Vectors::Shared(store)) => Some(store.clone()),
            _ => None,
        }
    }

    /// Write a new entry to the shared stores: the entry first, then its
    /// vector, so a replica that finds the vector can read the entry.
    fn publish(&self, entry: Entry) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: the entry stays in this process");
            return;
        };
        let shared = self.shared.clone();
        let vectors = self.shared_vectors();
        let ttl = self.settings.ttl;
        let errors = self.metrics.store_errors.clone();
        let failed = move |error: &dyn std::fmt::Display| {
            errors.inc();
            tracing::warn!(%error, "cannot write to the shared cache store");
        };
        runtime.spawn(async move {
            if let Some(shared) = shared {
                let Ok(bytes) = serde_json::to_vec(&entry) else {
                    return;
                };
                let written = async {
                    shared
                        .put(&entry.partition, &entry_key(entry.id), bytes.into(), ttl)
                        .await?;
                    shared
                        .put(
                            &entry.partition,
                            &exact_pointer(&entry.exact_key),
                            entry.id_text().into_bytes().into(),
                            ttl,
                        )
                        .await
                };
                if let Err(error) = written.await {
                    return failed(&error);
                }
            }
            if let (Some(vectors), Some(vector)) = (vectors, entry.vector) {
                let point = Point {
                    id: entry.id,
                    partition: entry.partition,
                    context: entry.context_key,
                    vector,
                    expires_ms: entry.expires_ms,
                };
                if let Err(error) = vectors.upsert(point).await {
                    failed(&error);
                }
            }
        });
    }

    /// Put an entry in this process's table (and the local index).
    fn adopt(&self, table: &mut EntryTable, entry: Entry, now: u64) {
        if let (Some(Vectors::Local(index)), Some(vector)) = (&self.vectors, &entry.vector) {
            let bucket = semantic::bucket(&entry.partition, &entry.context_key);
            if let Err(error) = index.add(entry.id, bucket, entry.expires_ms, vector) {
                tracing::warn!(%error, "cache entry not indexed");
            }
        }
        for removed in table.insert(entry, self.settings.max_entries, now) {
            if let Some(Vectors::Local(index)) = &self.vectors {
                index.remove(removed);
            }
        }
    }

    /// Put snapshot entries back; returns how many were live.
    fn restore(&self, entries: Vec<Entry>) -> usize {
        let now = now_ms();
        let mut count = 0;
        let mut table = self.table.lock();
        for entry in entries.into_iter().filter(|e| e.live(now)) {
            self.next_id
                .fetch_max(entry.id.wrapping_add(1), Ordering::Relaxed);
            self.adopt(&mut table, entry, now);
            count += 1;
        }
        self.dirty.store(false, Ordering::Relaxed);
        count
    }

    /// Write the snapshot now, if anything changed.
    pub fn snapshot(&self) -> std::io::Result<()> {
        let Some(dir) = &self.settings.data_dir else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let entries: Vec<Entry> = self.table.lock().iter().cloned().collect();
        persist::write(dir, &entries).inspect_err(|_| self.dirty.store(true, Ordering::Relaxed))
    }

    /// The last snapshot, written when the server stops, so entries stored
    /// since the last periodic one survive a restart.
    pub async fn flush_at_shutdown(self: &Arc<Self>) {
        if self.settings.data_dir.is_none() {
            return;
        }
        let cache = self.clone();
        match tokio::task::spawn_blocking(move || cache.snapshot()).await {
            Ok(Ok(())) => {
                tracing::info!(entries = self.len(), "cache snapshot written at shutdown")
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot write the cache snapshot at shutdown"),
            Err(error) => tracing::warn!(%error, "the shutdown snapshot task failed"),
        }
    }

    /// Periodic snapshots (with a `data_dir`) and the sweep of expired
    /// points from a shared vector store.
    fn spawn_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: the cache snapshot is written only on request");
            return;
        };
        self.listen_for_purges(&runtime);
        if self.settings.data_dir.is_some() {
            let weak: Weak<Self> = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
                loop {
                    tick.tick().await;
                    let Some(cache) = weak.upgrade() else { break };
                    // File writes block; keep them off the async workers.
                    let result = tokio::task::spawn_blocking(move || cache.snapshot()).await;
                    if let Ok(Err(error)) = result {
                        tracing::warn!(%error, "cannot write the cache snapshot");
                    }
                }
            });
        }
        if self.shared_vectors().is_some() {
            let weak: Weak<Self> = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(VECTOR_SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    let Some(cache) = weak.upgrade() else { break };
                    let Some(store) = cache.shared_vectors() else {
                        break;
                    };
                    if let Err(error) = store.purge_expired(now_ms()).await {
                        cache.store_failed(&error, "expiry sweep");
                    }
                }
            });
        }
    }

    /// Run `f` over the entry table (admin API).
    pub fn with_table<T>(&self, f: impl FnOnce(&EntryTable) -> T) -> T {
        f(&self.table.lock())
    }

    /// Remove entries (here, and from the shared stores); returns how many went.
    pub fn purge(&self, matches: impl Fn(&Entry) -> bool) -> usize {
        let removed = self.table.lock().purge(matches);
        if let Some(Vectors::Local(index)) = &self.vectors {
            removed.iter().for_each(|entry| index.remove(entry.id));
        }
        self.dirty.store(true, Ordering::Relaxed);
        let count = removed.len();
        if self.shares_anything() && count > 0 {
            self.unpublish(removed);
        }
        count
    }

    fn unpublish(&self, removed: Vec<Entry>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.shared.clone();
        let vectors = self.shared_vectors();
        let errors = self.metrics.store_errors.clone();
        runtime.spawn(async move {
            let mut failures = Vec::new();
            if let Some(vectors) = vectors {
                let ids: Vec<u64> = removed.iter().map(|entry| entry.id).collect();
                failures.extend(vectors.remove(&ids).await.err());
            }
            if let Some(shared) = shared {
                for entry in &removed {
                    for key in [entry_key(entry.id), exact_pointer(&entry.exact_key)] {
                        failures.extend(shared.remove(&entry.partition, &key).await.err());
                    }
                }
            }
            for error in failures {
                errors.inc();
                tracing::warn!(%error, "cannot remove a purged entry from the shared cache store");
            }
        });
    }

    /// Embed a text (admin search); `None` without a model.
    pub async fn embed(&self, text: &str) -> Option<Vec<f32>> {
        self.embedder.as_ref()?.embed(text).await
    }
}

/// The configured embedding source, or `None` with the reason logged.
fn embedder_for(settings: &CacheSettings, providers: &Providers) -> Option<Embedder> {
    match &settings.embedding {
        EmbeddingSource::Local => {
            let Some(dir) = settings.model_dir.as_deref() else {
                tracing::warn!(
                    "semantic cache off: no embedding model configured (set cache.model_dir or \
                     SWITCHBOARD_EMBEDDING_MODEL_DIR; scripts/fetch-model fetches one); exact cache on"
                );
                return None;
            };
            match LocalEmbedder::load(dir) {
                Ok(model) => {
                    tracing::info!(model_dir = %dir.display(), "semantic cache on");
                    Some(Embedder::Local(EmbedService::start(Arc::new(model))))
                }
                Err(error) => {
                    tracing::warn!(%error, "semantic cache off: the embedding model did not load; exact cache on");
                    None
                }
            }
        }
        EmbeddingSource::Provider {
            provider,
            model,
            dimensions,
        } => {
            let entry = providers.get(provider);
            let Some(adapter) = entry.and_then(|entry| entry.adapter.clone()) else {
                let reason = entry
                    .and_then(|entry| entry.disabled_reason.clone())
                    .unwrap_or_else(|| "no such provider".to_owned());
                tracing::warn!(%provider, %reason, "semantic cache off: the embedding provider is unavailable; exact cache on");
                return None;
            };
            tracing::info!(%provider, %model, dimensions, "semantic cache on, embedding through the provider");
            Some(Embedder::Provider(provider_embed::ProviderEmbedder::new(
                adapter,
                model,
                *dimensions,
                PROVIDER_EMBED_TIMEOUT,
            )))
        }
    }
}

/// Entry ids start at a random point, so ids from before a restart and
/// after it do not collide.
fn rand_seed() -> u64 {
    let uuid = uuid::Uuid::new_v4();
    let (high, _) = uuid.as_u64_pair();
    high >> 16
}
