//! The semantic layer: nearest entries in the request's bucket (partition
//! and context key), the threshold, then the verifier. Every candidate's fate
//! goes to the shadow log.

use super::exact::EntryTable;
use super::keys::Probe;
use super::stats::ShadowRecord;
use super::verify::{Specifics, compare, specifics};
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

/// Judge the nearest entries (`candidates`, most similar first, from the
/// probe's bucket): the threshold, then the verifier.
pub fn decide(
    table: &EntryTable,
    candidates: Vec<(u64, f32)>,
    probe: &Probe,
    threshold: f32,
    now_ms: u64,
) -> Decision {
    let mut decision = Decision {
        accepted: None,
        records: Vec::new(),
    };
    let mut query: Option<Specifics> = None;
    for (id, similarity) in candidates {
        let Some(entry) = table.get(id).filter(|e| e.live(now_ms)) else {
            continue;
        };
        // A second line of defence: the bucket already separates these.
        if entry.partition != probe.partition || entry.context_key != hex::encode(probe.context_key)
        {
            continue;
        }
        let mut record = ShadowRecord {
            at_ms: now_ms,
            team: String::new(),
            question: probe.question.clone(),
            entry: entry.id_text(),
            entry_question: entry.question.clone(),
            similarity,
            threshold,
            stage: "threshold",
            accepted: false,
            check: None,
            shadow: false,
            agreed: None,
            id: 0,
        };
        if similarity >= threshold {
            record.stage = "verifier";
            let query = query.get_or_insert_with(|| specifics(&probe.question));
            match compare(&specifics(&entry.question), query) {
                Ok(()) => {
                    record.accepted = true;
                    decision.accepted = Some((id, similarity));
                }
                Err(check) => record.check = Some(check.label()),
            }
        }
        decision.records.push(record);
        if decision.accepted.is_some() || similarity < threshold {
            // Candidates come most similar first: the rest are lower still.
            break;
        }
    }
    decision
}
