//! The semantic cache's evaluation: pairs of prompts from
//! `tests/eval/cache/` through the real model, the threshold and the
//! verifier. Shared by the evaluation test (which scores the frozen test
//! half) and `examples/train_cache_verifier.rs` (which fits the scorer on
//! the development half), so both judge a pair the same way.

use super::config::Bar;
use super::verify::{self, Check, Scorer};
use crate::seams::embedding::EmbeddingModel;
use std::collections::BTreeMap;

/// One line of an evaluation file: `kind, language, stored, new[, note]`.
/// Kind `paraphrase` should be served; every other kind is a near-miss.
#[derive(Debug, Clone)]
pub struct Pair {
    pub kind: String,
    pub language: String,
    pub stored: String,
    pub query: String,
}

impl Pair {
    pub fn is_paraphrase(&self) -> bool {
        self.kind == "paraphrase"
    }
}

/// Parse a tab-separated evaluation file; `#` lines are comments.
pub fn parse(text: &str) -> Result<Vec<Pair>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty())
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            if !(4..=5).contains(&fields.len()) {
                return Err(format!("line {}: 4 or 5 tab-separated fields", index + 1));
            }
            Ok(Pair {
                kind: fields[0].to_owned(),
                language: fields[1].to_owned(),
                stored: fields[2].to_owned(),
                query: fields[3].to_owned(),
            })
        })
        .collect()
}

/// A pair as the verifier sees it.
#[derive(Debug, Clone)]
pub struct Judged {
    pub pair: Pair,
    /// Cosine similarity of the two prompts as written.
    pub cosine: f32,
    /// Cosine similarity once the new prompt is written with the stored
    /// prompt's spelling of the words they share (`verify::aligned_query`),
    /// when a word was spelled differently and the structure passed.
    pub aligned: Option<f32>,
    /// The structural checks' verdict.
    pub structure: Result<(), Check>,
    /// The scorer's features (computed whatever the structure said), with
    /// the cosine as written.
    pub features: Vec<f32>,
}

/// Embed every prompt (in batches) and read each pair.
pub fn judge_all(model: &dyn EmbeddingModel, pairs: &[Pair]) -> Vec<Judged> {
    let mut judged = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(64) {
        let texts: Vec<&str> = chunk
            .iter()
            .flat_map(|p| [p.stored.as_str(), p.query.as_str()])
            .collect();
        let vectors = model.embed(&texts);
        for (pair, vectors) in chunk.iter().zip(vectors.chunks(2)) {
            let cosine = verify::dot(&vectors[0], &vectors[1]);
            let (stored, query) = (verify::analyse(&pair.stored), verify::analyse(&pair.query));
            let structure = verify::structure(&stored, &query);
            let aligned = structure
                .is_ok()
                .then(|| verify::aligned_query(&stored, &pair.stored, &query, &pair.query))
                .flatten()
                .and_then(|text| model.embed(&[text.as_str()]).pop())
                .map(|v| verify::dot(&v, &vectors[0]));
            judged.push(Judged {
                pair: pair.clone(),
                cosine,
                aligned,
                structure,
                features: verify::features_from_model(model, &stored, &query, cosine),
            });
        }
    }
    judged
}

impl Judged {
    /// The similarity the gateway judges: the better of the one as written
    /// and the aligned one.
    pub fn similarity(&self) -> f32 {
        verify::judged_similarity(self.cosine, self.aligned)
    }

    /// The scorer's features with the similarity the gateway judges.
    pub fn judged_features(&self) -> Vec<f32> {
        let mut features = self.features.clone();
        features[0] = self.similarity();
        features
    }

    /// Whether the cache would serve the stored answer at this bar.
    pub fn served(&self, scorer: &Scorer, bar: Bar) -> bool {
        self.similarity() >= bar.threshold
            && self.structure.is_ok()
            && scorer.probability(&self.judged_features()) >= bar.confidence
    }
}

/// Served counts per kind: `kind -> (served, total)`.
pub fn tally(judged: &[Judged], scorer: &Scorer, bar: Bar) -> BTreeMap<String, (usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for item in judged {
        let entry = counts.entry(item.pair.kind.clone()).or_default();
        entry.1 += 1;
        if item.served(scorer, bar) {
            entry.0 += 1;
        }
    }
    counts
}

/// Paraphrases served and near-misses served, as fractions.
pub fn rates(counts: &BTreeMap<String, (usize, usize)>) -> (f64, f64) {
    let (mut para, mut para_n, mut near, mut near_n) = (0, 0, 0, 0);
    for (kind, (served, total)) in counts {
        if kind == "paraphrase" {
            para += served;
            para_n += total;
        } else {
            near += served;
            near_n += total;
        }
    }
    let fraction = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    (fraction(para, para_n), fraction(near, near_n))
}
