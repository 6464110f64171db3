//! The response cache: an exact layer (a hash of the normalized request)
//! and a semantic layer (the last user turn's embedding, within the same
//! partition and context key, confirmed by the verifier). See `stage.rs` for
//! how the pipeline uses it and `admin.rs` for the inspection API.

pub mod admin;
pub mod config;
pub mod control;
pub mod embed;
pub mod exact;
pub mod index;
pub mod keys;
mod lexicon;
mod persist;
pub mod replay;
pub mod semantic;
pub mod stage;
pub mod stats;
pub mod verify;

use crate::seams::embedding::EmbeddingModel;
use config::CacheSettings;
use embed::{EmbedService, LocalEmbedder};
use exact::{Entry, EntryTable, HitRecord, now_ms};
use index::VectorIndex;
use keys::Probe;
use parking_lot::Mutex;
use stats::{CacheMetrics, ShadowLog};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often a changed cache is written to its snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

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
    index: Option<VectorIndex>,
    embedder: Option<EmbedService>,
    pub metrics: CacheMetrics,
    pub shadow_log: ShadowLog,
    dirty: AtomicBool,
    next_id: AtomicU64,
}

impl ResponseCache {
    /// The cache the config asks for, or `None` when it is off. Without a
    /// usable model the exact layer still runs and one line says why the
    /// semantic layer is off.
    pub fn from_settings(settings: &CacheSettings, metrics: CacheMetrics) -> Option<Arc<Self>> {
        if !settings.enabled {
            return None;
        }
        let model: Option<Arc<dyn EmbeddingModel>> = if !settings.semantic {
            tracing::info!("semantic cache off by configuration; exact cache on");
            None
        } else {
            match settings.model_dir.as_deref() {
                None => {
                    tracing::warn!(
                        "semantic cache off: no embedding model configured (set cache.model_dir or \
                         SWITCHBOARD_EMBEDDING_MODEL_DIR; scripts/fetch-model fetches one); exact cache on"
                    );
                    None
                }
                Some(dir) => match LocalEmbedder::load(dir) {
                    Ok(model) => {
                        tracing::info!(model_dir = %dir.display(), "semantic cache on");
                        Some(Arc::new(model))
                    }
                    Err(error) => {
                        tracing::warn!(%error, "semantic cache off: the embedding model did not load; exact cache on");
                        None
                    }
                },
            }
        };
        let mut cache = Self::new(settings.clone(), model);
        cache.metrics = metrics;
        let cache = Arc::new(cache);
        if let Some(dir) = &settings.data_dir {
            let loaded = cache.restore(persist::read(dir));
            tracing::info!(entries = loaded, path = %dir.display(), "cache snapshot loaded");
            cache.spawn_snapshots();
        }
        Some(cache)
    }

    pub fn new(settings: CacheSettings, model: Option<Arc<dyn EmbeddingModel>>) -> Self {
        let (index, embedder) = match model {
            Some(model) => match VectorIndex::new(model.dimensions()) {
                Ok(index) => (Some(index), Some(EmbedService::start(model))),
                Err(error) => {
                    tracing::warn!(%error, "semantic cache off: cannot create the vector index");
                    (None, None)
                }
            },
            None => (None, None),
        };
        Self {
            settings,
            table: Mutex::new(EntryTable::default()),
            index,
            embedder,
            metrics: CacheMetrics::default(),
            shadow_log: ShadowLog::default(),
            dirty: AtomicBool::new(false),
            next_id: AtomicU64::new(rand_seed()),
        }
    }

    /// The semantic layer's embedding handle, for other users of the same
    /// model (semantic guardrail rules), so it is loaded once.
    pub fn embed_service(&self) -> Option<EmbedService> {
        self.embedder.clone()
    }

    pub fn semantic_enabled(&self) -> bool {
        self.embedder.is_some()
    }

    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exact layer, then (unless `semantic` is false) the semantic layer.
    pub async fn lookup(&self, probe: &Probe, team: &str, threshold: f32) -> Lookup {
        let now = now_ms();
        let exact_key = hex::encode(probe.exact_key);
        {
            let mut table = self.table.lock();
            if let Some(id) = table.exact(&exact_key, now) {
                return Lookup::Hit(self.hit(&mut table, id, Layer::Exact, 1.0, probe, team));
            }
        }
        let (Some(embedder), Some(index)) = (&self.embedder, &self.index) else {
            return Lookup::Miss(Miss::default());
        };
        let Some(vector) = embedder.embed(&probe.question).await else {
            return Lookup::Miss(Miss::default());
        };
        // The index has its own lock: search before taking the table's.
        let bucket = semantic::bucket(&probe.partition, &probe.context_key);
        let candidates = index.search(bucket, &vector, index::CANDIDATES);
        let mut table = self.table.lock();
        let decision = semantic::decide(&table, candidates, probe, threshold, now);
        let mut shadow = None;
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
            if record.accepted && self.settings.shadow {
                let cached = u64::from_str_radix(&record.entry, 16)
                    .ok()
                    .and_then(|id| table.get(id))
                    .map(|entry| entry.response.clone());
                shadow = cached.map(|response| (record.id, response));
            }
            self.shadow_log.push(record);
        }
        match decision.accepted {
            Some((id, similarity)) if !self.settings.shadow => {
                Lookup::Hit(self.hit(&mut table, id, Layer::Semantic, similarity, probe, team))
            }
            _ => Lookup::Miss(Miss {
                vector: Some(vector),
                shadow,
            }),
        }
    }

    fn hit(
        &self,
        table: &mut EntryTable,
        id: u64,
        layer: Layer,
        similarity: f32,
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

    /// Store a complete answer. Returns the new entry's id.
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
            vector: vector.filter(|_| self.index.is_some()),
            created_ms: now,
            expires_ms: now.saturating_add(self.settings.ttl.as_millis() as u64),
            hits: 0,
            last_hit_ms: None,
            saved_tokens: 0,
            saved_nano_usd: 0,
            history: Default::default(),
        };
        let id_text = entry.id_text();
        self.add(entry, now);
        self.metrics.stored.inc();
        id_text
    }

    fn add(&self, entry: Entry, now: u64) {
        let mut table = self.table.lock();
        if let (Some(index), Some(vector)) = (&self.index, &entry.vector) {
            let bucket = semantic::bucket(&entry.partition, &context_bytes(&entry.context_key));
            if let Err(error) = index.add(entry.id, bucket, vector) {
                tracing::warn!(%error, "cache entry not indexed");
            }
        }
        for removed in table.insert(entry, self.settings.max_entries, now) {
            if let Some(index) = &self.index {
                index.remove(removed);
            }
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Put snapshot entries back; returns how many were live.
    fn restore(&self, entries: Vec<Entry>) -> usize {
        let now = now_ms();
        let mut count = 0;
        for entry in entries.into_iter().filter(|e| e.live(now)) {
            self.next_id
                .fetch_max(entry.id.wrapping_add(1), Ordering::Relaxed);
            self.add(entry, now);
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

    fn spawn_snapshots(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: the cache snapshot is written only on request");
            return;
        };
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

    /// Run `f` over the entry table (admin API).
    pub fn with_table<T>(&self, f: impl FnOnce(&EntryTable) -> T) -> T {
        f(&self.table.lock())
    }

    /// Remove entries; returns how many went.
    pub fn purge(&self, matches: impl Fn(&Entry) -> bool) -> usize {
        let ids = self.table.lock().purge(matches);
        if let Some(index) = &self.index {
            ids.iter().for_each(|id| index.remove(*id));
        }
        self.dirty.store(true, Ordering::Relaxed);
        ids.len()
    }

    /// Embed a text (admin search); `None` without a model.
    pub async fn embed(&self, text: &str) -> Option<Vec<f32>> {
        self.embedder.as_ref()?.embed(text).await
    }
}

fn context_bytes(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    // Entries are written by this module; a damaged key only misplaces one entry.
    let _ = hex::decode_to_slice(hex_text, &mut out);
    out
}

/// Entry ids start at a random point, so ids from before a restart and
/// after it do not collide.
fn rand_seed() -> u64 {
    let uuid = uuid::Uuid::new_v4();
    let (high, _) = uuid.as_u64_pair();
    high >> 16
}
