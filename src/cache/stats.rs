//! Cache metrics (registered in the gateway's Prometheus registry) and the
//! shadow log: what each semantic candidate scored and which stage accepted
//! or rejected it.

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;

/// Shadow records kept for the admin API.
const SHADOW_LOG: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `hit-exact`, `hit-semantic`, `miss`, `bypass`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// `threshold` or `verifier`.
    pub stage: &'static str,
    /// `accepted`, or the check that rejected.
    pub decision: &'static str,
}

#[derive(Debug, Default, Clone)]
pub struct CacheMetrics {
    pub lookups: Family<OutcomeLabels, Counter>,
    pub candidates: Family<StageLabels, Counter>,
    pub saved_tokens: Counter,
    pub saved_usd: Counter<f64, AtomicU64>,
    pub stored: Counter,
    pub store_errors: Counter,
}

impl CacheMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cache_lookups",
            "Cache lookups by outcome (hit-exact, hit-semantic, miss, bypass)",
            self.lookups.clone(),
        );
        registry.register(
            "cache_candidates",
            "Semantic candidates by the stage that decided and its decision",
            self.candidates.clone(),
        );
        registry.register(
            "cache_saved_tokens",
            "Tokens served from the cache instead of a provider",
            self.saved_tokens.clone(),
        );
        registry.register(
            "cache_saved_usd",
            "Provider cost avoided by cache hits, in USD",
            self.saved_usd.clone(),
        );
        registry.register(
            "cache_stored_entries",
            "Responses stored in the cache",
            self.stored.clone(),
        );
        registry.register(
            "cache_store_errors",
            "Calls to a shared cache store (Redis, Qdrant) that failed; each was a miss or a skipped write",
            self.store_errors.clone(),
        );
    }

    pub fn outcome(&self, outcome: &'static str) {
        self.lookups.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn count(&self, outcome: &'static str) -> u64 {
        self.lookups.get_or_create(&OutcomeLabels { outcome }).get()
    }
}

/// One semantic candidate and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowRecord {
    pub at_ms: u64,
    pub team: String,
    pub question: String,
    pub entry: String,
    pub entry_question: String,
    pub similarity: f32,
    /// The similarity once the new prompt was written with the entry's
    /// spelling of the words both share (a typo, another form, a synonym),
    /// when one differed: what the threshold and the verifier judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aligned_similarity: Option<f32>,
    pub threshold: f32,
    /// `threshold` (below it) or `verifier`.
    pub stage: &'static str,
    pub accepted: bool,
    /// The verifier check that rejected, if any.
    pub check: Option<&'static str>,
    /// The verifier's probability that both prompts ask the same thing,
    /// when it got as far as scoring.
    pub score: Option<f32>,
    /// Shadow mode: the candidate was not served.
    pub shadow: bool,
    /// Shadow mode: whether the fresh answer matched the cached one
    /// (filled in when the fresh answer arrives).
    pub agreed: Option<bool>,
    #[serde(skip)]
    pub id: u64,
}

#[derive(Debug, Default)]
pub struct ShadowLog {
    records: Mutex<VecDeque<ShadowRecord>>,
}

impl ShadowLog {
    pub fn push(&self, record: ShadowRecord) {
        let mut records = self.records.lock();
        if records.len() == SHADOW_LOG {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Fill in whether the fresh answer agreed with a shadow candidate.
    pub fn set_agreed(&self, id: u64, agreed: bool) {
        if let Some(record) = self.records.lock().iter_mut().rev().find(|r| r.id == id) {
            record.agreed = Some(agreed);
        }
    }

    /// What the shadow records whose fresh answer was compared say about
    /// the operating point: for each confidence, how many candidates it
    /// would have served and how many of those answers differed from the
    /// fresh one; and the same per verifier outcome.
    pub fn report(&self) -> serde_json::Value {
        let records = self.records.lock();
        let compared: Vec<&ShadowRecord> = records
            .iter()
            .filter(|r| r.stage == "verifier" && r.agreed.is_some())
            .collect();
        let differed =
            |rs: &[&&ShadowRecord]| rs.iter().filter(|r| r.agreed == Some(false)).count();
        let by_confidence: Vec<serde_json::Value> = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
            .iter()
            .map(|&confidence| {
                let served: Vec<&&ShadowRecord> = compared
                    .iter()
                    .filter(|r| r.score.is_some_and(|s| s >= confidence))
                    .collect();
                let wrong = differed(&served);
                serde_json::json!({
                    "confidence": confidence,
                    "would_serve": served.len(),
                    "different_answers": wrong,
                    "different_share": wrong as f64 / served.len().max(1) as f64,
                })
            })
            .collect();
        let mut by_outcome = std::collections::BTreeMap::<&str, (usize, usize)>::new();
        for record in &compared {
            let outcome = if record.accepted {
                "accepted"
            } else {
                record.check.unwrap_or("rejected")
            };
            let entry = by_outcome.entry(outcome).or_default();
            entry.0 += 1;
            entry.1 += usize::from(record.agreed == Some(false));
        }
        serde_json::json!({
            "compared": compared.len(),
            "by_confidence": by_confidence,
            "by_outcome": by_outcome
                .into_iter()
                .map(|(outcome, (n, wrong))| (outcome.to_owned(), serde_json::json!({
                    "compared": n,
                    "different_answers": wrong,
                    "different_share": wrong as f64 / n.max(1) as f64,
                })))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    pub fn recent(&self, limit: usize) -> Vec<ShadowRecord> {
        self.records
            .lock()
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}
