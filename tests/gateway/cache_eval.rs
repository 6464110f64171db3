//! The semantic cache's evaluation: the hand-written pairs in
//! `tests/data/cache_eval.tsv` through the real model (all-MiniLM-L6-v2) and
//! the default configuration's threshold and verifier. Prints hit rates per
//! kind, and asserts the targets: at least 80% of paraphrases hit, at most 1%
//! of near misses. Runs when the model is present (`scripts/test` fetches it).

use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard::cache::config::DEFAULT_THRESHOLD;
use switchboard::cache::embed::LocalEmbedder;
use switchboard::cache::verify;
use switchboard::seams::embedding::EmbeddingModel;

const EVAL: &str = include_str!("../data/cache_eval.tsv");

struct Pair {
    kind: String,
    stored: String,
    query: String,
}

fn pairs() -> Vec<Pair> {
    EVAL.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "four tab-separated fields: {line}");
            Pair {
                kind: fields[0].to_owned(),
                stored: fields[2].to_owned(),
                query: fields[3].to_owned(),
            }
        })
        .collect()
}

pub fn model() -> Option<Arc<LocalEmbedder>> {
    let Some(dir) = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR") else {
        eprintln!("SWITCHBOARD_EMBEDDING_MODEL_DIR is not set (scripts/fetch-model): skipped");
        return None;
    };
    Some(Arc::new(
        LocalEmbedder::load(std::path::Path::new(&dir)).expect("the model named in the env loads"),
    ))
}

#[derive(Default)]
struct Tally {
    total: usize,
    cosine_hits: usize,
    hits: usize,
}

fn rate(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

#[test]
fn the_evaluation_set_meets_the_targets() {
    let pairs = pairs();
    assert!(pairs.len() >= 250, "hundreds of pairs");
    let Some(model) = model() else { return };
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.stored.as_str(), p.query.as_str()])
        .collect();
    let vectors = model.embed(&texts);
    let similarities: Vec<f32> = vectors
        .chunks(2)
        .map(|pair| pair[0].iter().zip(&pair[1]).map(|(a, b)| a * b).sum())
        .collect();

    // Threshold sweep (cosine + verifier) to show where the default sits.
    println!("\nthreshold  paraphrase-hit  near-miss-hit  (cosine alone: para / near)");
    for threshold in [0.60f32, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95] {
        let (mut para, mut para_n, mut near, mut near_n) = (0, 0, 0, 0);
        let (mut para_cos, mut near_cos) = (0, 0);
        for (pair, similarity) in pairs.iter().zip(&similarities) {
            let above = *similarity >= threshold;
            let hit = above && verify::verify(&pair.stored, &pair.query).is_ok();
            if pair.kind == "paraphrase" {
                para_n += 1;
                para += usize::from(hit);
                para_cos += usize::from(above);
            } else {
                near_n += 1;
                near += usize::from(hit);
                near_cos += usize::from(above);
            }
        }
        println!(
            "{threshold:>9.2}  {:>13.1}%  {:>12.1}%  ({:.1}% / {:.1}%)",
            rate(para, para_n),
            rate(near, near_n),
            rate(para_cos, para_n),
            rate(near_cos, near_n),
        );
    }

    let mut by_kind: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (pair, similarity) in pairs.iter().zip(&similarities) {
        let above = *similarity >= DEFAULT_THRESHOLD;
        let verdict = verify::verify(&pair.stored, &pair.query);
        let hit = above && verdict.is_ok();
        let tally = by_kind.entry(pair.kind.as_str()).or_default();
        tally.total += 1;
        tally.cosine_hits += usize::from(above);
        tally.hits += usize::from(hit);
        let expected = pair.kind == "paraphrase";
        if hit != expected {
            wrong.push(format!(
                "  {:<10} {similarity:.3} {verdict:?}: {:?} / {:?}",
                pair.kind, pair.stored, pair.query
            ));
        }
    }
    println!("\ndefault threshold {DEFAULT_THRESHOLD}: hit rate by kind");
    println!("kind          pairs  cosine-only  with verifier");
    let mut near = Tally::default();
    for (kind, tally) in &by_kind {
        println!(
            "{kind:<12} {:>6}  {:>10.1}%  {:>12.1}%",
            tally.total,
            rate(tally.cosine_hits, tally.total),
            rate(tally.hits, tally.total)
        );
        if *kind != "paraphrase" {
            near.total += tally.total;
            near.cosine_hits += tally.cosine_hits;
            near.hits += tally.hits;
        }
    }
    println!(
        "{:<12} {:>6}  {:>10.1}%  {:>12.1}%",
        "near misses",
        near.total,
        rate(near.cosine_hits, near.total),
        rate(near.hits, near.total)
    );
    println!("\npairs on the wrong side:\n{}", wrong.join("\n"));

    let paraphrases = &by_kind["paraphrase"];
    let hit_rate = rate(paraphrases.hits, paraphrases.total);
    let false_hit_rate = rate(near.hits, near.total);
    assert!(hit_rate >= 80.0, "paraphrase hit rate {hit_rate:.1}% < 80%");
    assert!(
        false_hit_rate <= 1.0,
        "near-miss hit rate {false_hit_rate:.1}% > 1%"
    );
}
