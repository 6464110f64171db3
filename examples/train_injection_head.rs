//! Fits the injection pack's sentence scorer on the development half of the
//! guardrail evaluation and writes `guardrails/scorers/injection-sentences.json`.
//!
//!     SWITCHBOARD_EMBEDDING_MODEL_DIR=... cargo run --release --example train_injection_head
//!
//! Reads the same development data as `train_guardrail_scorer.rs` (the
//! development half, the training-only texts, the older sets); never the
//! test half. Each text is cut into the sentences the semantic rules embed
//! (`guardrails::semantic::sentences`) and each sentence embedded with the
//! gateway's model. A logistic model over one sentence's vector plus a bias
//! per phase, fitted as multiple-instance learning: an injection counts by
//! its most suspicious sentence (the one the rule will report), every
//! sentence of any other text is a negative. Class-balanced, L2-penalized,
//! Adam from zero, full batch: deterministic for the same data and model.
//! The threshold is chosen on out-of-fold probabilities (5 folds): the
//! lowest at which at most 1% of the development negatives, and of the
//! benign texts among them, are flagged, as for the word scorer, so the two
//! learned rules together flag at most about 2%.
//!
//! `EMBED_CACHE=<file>` keeps the sentence vectors between runs;
//! `OOF_DUMP=<file>` writes the development half's out-of-fold probabilities.

#[path = "support/guardrail_cases.rs"]
mod guardrail_cases;
#[path = "support/training.rs"]
mod training;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use switchboard::cache::embed::LocalEmbedder;
use switchboard::guardrails::evaluation::Case;
use switchboard::guardrails::semantic::sentences;
use switchboard::guardrails::sentence_scorer::{SentenceScorer, phase_index};
use switchboard::seams::embedding::EmbeddingModel;

const DIMS: usize = 384;
/// One bias per phase (`sentence_scorer::phase_index`).
const EXTRA: usize = 4;
const L2: f32 = 1e-5;
const ITERATIONS: usize = 300;

/// A sentence's key in the vector cache (FNV-1a of its bytes).
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The `EMBED_CACHE` file: per sentence its key, then its vector, as
/// little-endian numbers. Missing, it is empty.
fn load_cache(path: &str) -> HashMap<u64, Vec<f32>> {
    let mut map = HashMap::new();
    let Ok(mut file) = std::fs::File::open(path) else {
        return map;
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let stride = 8 + DIMS * 4;
    for chunk in bytes.chunks_exact(stride) {
        let key = u64::from_le_bytes(chunk[..8].try_into().unwrap());
        let v: Vec<f32> = chunk[8..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        map.insert(key, v);
    }
    map
}

fn save_cache(path: &str, map: &HashMap<u64, Vec<f32>>) {
    let mut file = std::fs::File::create(path).unwrap();
    for (k, v) in map {
        file.write_all(&k.to_le_bytes()).unwrap();
        for x in v {
            file.write_all(&x.to_le_bytes()).unwrap();
        }
    }
}

/// A text as the rows of its sentences' vectors in the matrix.
struct Bag {
    rows: Vec<usize>,
    positive: bool,
    phase: usize,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (cases, development_half) = guardrail_cases::load(root);
    let dir = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR").expect("model dir");
    let model = LocalEmbedder::load(Path::new(&dir)).expect("the model loads");
    let cache_path = std::env::var("EMBED_CACHE").ok();
    let mut cache = cache_path.as_deref().map(load_cache).unwrap_or_default();
    let mut matrix: Vec<Vec<f32>> = Vec::new();
    let mut bags = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for case in &cases {
        for (s, e) in sentences(&case.text) {
            let t = &case.text[s..e];
            if !cache.contains_key(&fnv(t)) {
                missing.push(t.to_string());
            }
        }
    }
    missing.sort();
    missing.dedup();
    eprintln!(
        "{} cases, {} sentences to embed",
        cases.len(),
        missing.len()
    );
    for (n, chunk) in missing.chunks(64).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (t, v) in refs.iter().zip(model.embed(&refs)) {
            cache.insert(fnv(t), v);
        }
        if n % 20 == 0 {
            eprintln!("  {} / {}", n * 64, missing.len());
        }
    }
    if let Some(path) = &cache_path {
        save_cache(path, &cache);
    }
    for case in &cases {
        let mut rows = Vec::new();
        for (s, e) in sentences(&case.text) {
            let v = &cache[&fnv(&case.text[s..e])];
            if v.len() == DIMS {
                rows.push(matrix.len());
                matrix.push(v.clone());
            }
        }
        bags.push(Bag {
            rows,
            positive: case.label == "injection",
            phase: phase_index(case.phase()),
        });
    }
    let folds = 5;
    let mut oof = vec![0.0f32; cases.len()];
    for fold in 0..folds {
        let train: Vec<&Bag> = bags
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, b)| b)
            .collect();
        let w = fit(&train, &matrix);
        for (i, bag) in bags.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            oof[i] = score(&w, bag, &matrix);
        }
    }
    // Lowest threshold (steps of 0.001) at which at most 1% of all the
    // development negatives, and of the benign texts among them, are flagged.
    let threshold = (1..1000)
        .map(|step| step as f32 / 1000.0)
        .find(|t| {
            let (mut neg, mut fneg, mut ben, mut fben) = (0, 0, 0, 0);
            for (case, p) in cases.iter().zip(&oof) {
                if case.label == "injection" {
                    continue;
                }
                let flagged = usize::from(*p >= *t);
                neg += 1;
                fneg += flagged;
                if case.label == "benign" {
                    ben += 1;
                    fben += flagged;
                }
            }
            fneg as f64 <= 0.01 * neg as f64 && fben as f64 <= 0.01 * ben as f64
        })
        .unwrap_or(0.999);
    eprintln!("threshold {threshold:.3}");
    eprintln!("development half, out of fold:");
    report(&cases[..development_half], &oof[..development_half]);
    eprintln!("all development data, out of fold:");
    report(&cases, &oof);
    guardrail_cases::dump_out_of_fold(&oof[..development_half]);
    let all: Vec<&Bag> = bags.iter().collect();
    let w = fit(&all, &matrix);
    let round = |x: f32| (x * 1e5).round() / 1e5;
    let scorer = SentenceScorer {
        kind: "sentences".into(),
        weights: w[..DIMS].iter().map(|x| round(*x)).collect(),
        phase_bias: [0, 1, 2, 3].map(|i| round(w[DIMS + i])),
        bias: round(w[DIMS + EXTRA]),
        threshold,
        encoder: None,
    };
    let path = root.join("guardrails/scorers/injection-sentences.json");
    std::fs::write(&path, serde_json::to_string(&scorer).expect("json") + "\n").expect("write");
    eprintln!("wrote {} (threshold {threshold:.3})", path.display());
}

fn logit(w: &[f32], x: &[f32], phase: usize) -> f32 {
    w[DIMS + EXTRA] + w[DIMS + phase] + w[..DIMS].iter().zip(x).map(|(a, b)| a * b).sum::<f32>()
}

fn score(w: &[f32], bag: &Bag, m: &[Vec<f32>]) -> f32 {
    bag.rows
        .iter()
        .map(|r| 1.0 / (1.0 + (-logit(w, &m[*r], bag.phase)).exp()))
        .fold(0.0, f32::max)
}

/// Positives: the bag's most suspicious sentence; negatives: every sentence.
/// Class-balanced logistic loss, L2, Adam, full batch.
fn fit(bags: &[&Bag], m: &[Vec<f32>]) -> Vec<f32> {
    let (l2, iters) = (L2, ITERATIONS);
    let n = DIMS + EXTRA + 1;
    let mut w = vec![0.0f32; n];
    let (mut m1, mut m2) = (vec![0.0f32; n], vec![0.0f32; n]);
    let pos = bags.iter().filter(|b| b.positive).count().max(1) as f32;
    let neg_rows: usize = bags
        .iter()
        .filter(|b| !b.positive)
        .map(|b| b.rows.len())
        .sum();
    let neg = neg_rows.max(1) as f32;
    let (lr, b1, b2) = (0.05f32, 0.9f32, 0.999f32);
    let mut g = vec![0.0f32; n];
    for t in 1..=iters {
        g.iter_mut().for_each(|x| *x = 0.0);
        for bag in bags {
            if bag.rows.is_empty() {
                continue;
            }
            let mut add = |r: usize, y: f32, weight: f32| {
                let z = logit(&w, &m[r], bag.phase);
                let p = 1.0 / (1.0 + (-z).exp());
                let e = (p - y) * weight;
                for (gi, xi) in g[..DIMS].iter_mut().zip(&m[r]) {
                    *gi += e * xi;
                }
                g[DIMS + bag.phase] += e;
                g[DIMS + EXTRA] += e;
            };
            if bag.positive {
                let best = *bag
                    .rows
                    .iter()
                    .max_by(|a, b| {
                        logit(&w, &m[**a], bag.phase).total_cmp(&logit(&w, &m[**b], bag.phase))
                    })
                    .unwrap();
                add(best, 1.0, 0.5 / pos);
            } else {
                for r in &bag.rows {
                    add(*r, 0.0, 0.5 / neg);
                }
            }
        }
        for i in 0..n {
            let gi = g[i] + if i < DIMS { l2 * w[i] } else { 0.0 };
            m1[i] = b1 * m1[i] + (1.0 - b1) * gi;
            m2[i] = b2 * m2[i] + (1.0 - b2) * gi * gi;
            let mh = m1[i] / (1.0 - b1.powi(t as i32));
            let vh = m2[i] / (1.0 - b2.powi(t as i32));
            w[i] -= lr * mh / (vh.sqrt() + 1e-8);
        }
    }
    w
}

fn report(cases: &[Case], p: &[f32]) {
    let mut benign: Vec<f32> = cases
        .iter()
        .zip(p)
        .filter(|(c, _)| c.label == "benign")
        .map(|(_, p)| *p)
        .collect();
    benign.sort_by(|a, b| b.total_cmp(a));
    let mut negatives: Vec<f32> = cases
        .iter()
        .zip(p)
        .filter(|(c, _)| c.label != "injection")
        .map(|(_, p)| *p)
        .collect();
    negatives.sort_by(|a, b| b.total_cmp(a));
    for frac in [0.005, 0.01, 0.02, 0.03] {
        let k = (benign.len() as f64 * frac) as usize;
        let bar = benign.get(k).copied().unwrap_or(0.0);
        let neg_flag = negatives.iter().filter(|x| **x > bar).count();
        let mut line = format!(
            "  benign {:.1}% ({k}/{}), all negatives {neg_flag}/{}: bar {bar:.3}",
            frac * 100.0,
            benign.len(),
            negatives.len()
        );
        for place in ["prompt", "tool_result", "answer"] {
            let pos: Vec<f32> = cases
                .iter()
                .zip(p)
                .filter(|(c, _)| c.label == "injection" && c.place == place)
                .map(|(_, p)| *p)
                .collect();
            let caught = pos.iter().filter(|x| **x > bar).count();
            line += &format!(" {place} {caught}/{}", pos.len());
        }
        let pos: Vec<f32> = cases
            .iter()
            .zip(p)
            .filter(|(c, _)| c.label == "injection")
            .map(|(_, p)| *p)
            .collect();
        let caught = pos.iter().filter(|x| **x > bar).count();
        line += &format!(" recall {:.3}", caught as f64 / pos.len().max(1) as f64);
        eprintln!("{line}");
    }
}
