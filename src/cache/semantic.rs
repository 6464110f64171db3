//! The semantic layer: nearest entries in the request's bucket (partition
//! and context key), the threshold, then the verifier. Every candidate's fate
//! goes to the shadow log.

use super::config::Bar;
use super::embed::Embedder;
use super::exact::EntryTable;
use super::keys::Probe;
use super::stats::ShadowRecord;
use super::verify::{self, Analysis, WordVectors, analyse};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// The bucket a probe searches: entries of its partition with its context key.
/// `context_key` is the hex form entries carry.
pub fn bucket(partition: &str, context_key: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update((partition.len() as u64).to_le_bytes());
    hasher.update(partition.as_bytes());
    hasher.update(context_key.as_bytes());
    let digest = hasher.finalize();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(prefix)
}

/// The accepted candidate, if any, and a record of every candidate looked at.
pub struct Decision {
    pub accepted: Option<(u64, f32)>,
    pub records: Vec<ShadowRecord>,
}

/// A live candidate of the probe's bucket, copied out of the entry table so
/// that verification can wait on the embedding model without its lock.
pub struct Candidate {
    pub id: u64,
    pub similarity: f32,
    pub entry: String,
    pub question: String,
    /// The entry's prompt vector, for the aligned similarity.
    pub vector: Option<Vec<f32>>,
}

/// The live candidates of the probe's bucket (most similar first), from
/// `candidates` as the vector search returned them.
pub fn live_candidates(
    table: &EntryTable,
    candidates: Vec<(u64, f32)>,
    probe: &Probe,
    now_ms: u64,
) -> Vec<Candidate> {
    let context = hex::encode(probe.context_key);
    candidates
        .into_iter()
        .filter_map(|(id, similarity)| {
            let entry = table.get(id).filter(|e| e.live(now_ms))?;
            // A second line of defence: the bucket already separates these.
            (entry.partition == probe.partition && entry.context_key == context).then(|| {
                Candidate {
                    id,
                    similarity,
                    entry: entry.id_text(),
                    question: entry.question.clone(),
                    vector: entry.vector.clone(),
                }
            })
        })
        .collect()
}

/// Word vectors for the verifier's alignment, kept between lookups. Bounded:
/// when full it starts over, so client text cannot grow it.
pub struct WordVectorCache {
    vectors: Mutex<WordVectors>,
}

const MAX_CACHED_WORDS: usize = 20_000;

impl Default for WordVectorCache {
    fn default() -> Self {
        Self {
            vectors: Mutex::new(WordVectors::new()),
        }
    }
}

impl WordVectorCache {
    /// The vectors of `words`, embedding those not yet known (concurrently,
    /// so the embedding thread batches them). A word the model fails on is
    /// left out, and aligns with nothing.
    pub async fn vectors(&self, embedder: &Embedder, words: Vec<String>) -> WordVectors {
        let mut known = WordVectors::new();
        let mut missing = Vec::new();
        {
            let cache = self.vectors.lock();
            for word in words {
                match cache.get(&word) {
                    Some(vector) => {
                        known.insert(word, vector.clone());
                    }
                    None => missing.push(word),
                }
            }
        }
        if missing.is_empty() {
            return known;
        }
        let embedded =
            futures::future::join_all(missing.iter().map(|word| embedder.embed(word))).await;
        let mut cache = self.vectors.lock();
        if cache.len() + missing.len() > MAX_CACHED_WORDS {
            cache.clear();
        }
        for (word, vector) in missing.into_iter().zip(embedded) {
            if let Some(vector) = vector {
                cache.insert(word.clone(), vector.clone());
                known.insert(word, vector);
            }
        }
        known
    }
}

/// The similarity of a candidate once the new prompt is written with the
/// entry's spelling of the words both share (`verify::aligned_query`), when
/// a word was spelled differently: the model reads "populaton" or "labtop"
/// as unrelated pieces, so a typo alone can take a paraphrase far below the
/// threshold. One more run of the model; asked only once the structure
/// passed.
async fn aligned_similarity(
    candidate: &Candidate,
    stored: &Analysis,
    query: &Analysis,
    question: &str,
    embedder: &Embedder,
) -> Option<f32> {
    let text = verify::aligned_query(stored, &candidate.question, query, question)?;
    let stored_vector = candidate.vector.as_ref()?;
    let vector = embedder.embed(&text).await?;
    (vector.len() == stored_vector.len()).then(|| verify::dot(&vector, stored_vector))
}

/// Judge the candidates (most similar first): the threshold, then the
/// verifier. Stops at the first accepted one, or the first below the bar
/// (by its similarity as written, or aligned when that is higher).
pub async fn decide(
    candidates: Vec<Candidate>,
    probe: &Probe,
    bar: Bar,
    embedder: &Embedder,
    words: &WordVectorCache,
    now_ms: u64,
) -> Decision {
    let mut decision = Decision {
        accepted: None,
        records: Vec::new(),
    };
    let mut query: Option<Analysis> = None;
    for candidate in candidates {
        let query = query.get_or_insert_with(|| analyse(&probe.question));
        let stored = analyse(&candidate.question);
        let structure = verify::structure(&stored, query);
        let aligned = match structure {
            Ok(()) => {
                aligned_similarity(&candidate, &stored, query, &probe.question, embedder).await
            }
            Err(_) => None,
        };
        let similarity = verify::judged_similarity(candidate.similarity, aligned);
        let mut record = ShadowRecord {
            at_ms: now_ms,
            team: String::new(),
            question: probe.question.clone(),
            entry: candidate.entry,
            entry_question: candidate.question,
            similarity: candidate.similarity,
            aligned_similarity: aligned,
            threshold: bar.threshold,
            stage: "threshold",
            accepted: false,
            check: None,
            score: None,
            shadow: false,
            agreed: None,
            id: 0,
        };
        let above = similarity >= bar.threshold;
        if above {
            record.stage = "verifier";
            // Word vectors only when the structure passed: most near-misses
            // stop before the model is asked anything.
            let vectors = match structure {
                Ok(()) => {
                    words
                        .vectors(embedder, verify::words_to_embed(&stored, query))
                        .await
                }
                Err(_) => WordVectors::new(),
            };
            let (score, verdict) =
                verify::judge(&stored, query, similarity, &vectors, bar.confidence);
            record.score = score;
            match verdict {
                Ok(()) => {
                    record.accepted = true;
                    decision.accepted = Some((candidate.id, similarity));
                }
                Err(check) => record.check = Some(check.label()),
            }
        }
        decision.records.push(record);
        if decision.accepted.is_some() || !above {
            // Candidates come most similar first: the rest are lower still.
            break;
        }
    }
    decision
}
