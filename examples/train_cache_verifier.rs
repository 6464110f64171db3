//! Fits the semantic cache verifier's scorer on the development half of the
//! evaluation set, and writes `src/cache/verifier_weights.json`.
//!
//!     SWITCHBOARD_EMBEDDING_MODEL_DIR=... cargo run --release --example train_cache_verifier
//!
//! Only `tests/eval/cache/dev.tsv` (and the older `tests/data/cache_eval.tsv`,
//! kept as development data) is read: the test half is never looked at
//! here. The scorer is a logistic regression over `verify::FEATURES`,
//! standardized, class-balanced, with an L2 penalty. For each candidate
//! cosine floor it is fitted on the pairs above the floor whose structure
//! passes; the operating point is the lowest confidence at which at most
//! 0.8% of development near-misses (and 2% of any kind) are served, and the
//! floor that serves the most paraphrases there wins. Deterministic: the
//! same data and model give the same file.

#[path = "support/training.rs"]
mod training;

use std::path::Path;
use switchboard::cache::config::Bar;
use switchboard::cache::embed::LocalEmbedder;
use switchboard::cache::evaluation::{self, Judged};
use switchboard::cache::verify::{FEATURES, Scorer};

const MAX_NEAR_MISS: f64 = 0.008;
const TRAINING_DIR: &str = "tests/eval/cache/train";
const MAX_NEAR_MISS_PER_KIND: f64 = 0.02;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pairs = Vec::new();
    for file in ["tests/eval/cache/dev.tsv", "tests/data/cache_eval.tsv"] {
        let text = std::fs::read_to_string(root.join(file)).expect(file);
        pairs.extend(evaluation::parse(&text).expect(file));
    }
    // Training-only pairs, written apart from the verifier like the halves
    // but in neither of them (`TRAIN=0` leaves them out).
    if std::env::var("TRAIN").as_deref() != Ok("0") {
        for (path, text) in training::files(&root.join(TRAINING_DIR), "tsv") {
            pairs.extend(
                evaluation::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            );
        }
    }
    let dir = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR")
        .expect("SWITCHBOARD_EMBEDDING_MODEL_DIR (scripts/fetch-model prints it)");
    let model = LocalEmbedder::load(Path::new(&dir)).expect("the model loads");
    eprintln!("judging {} development pairs", pairs.len());
    let judged = evaluation::judge_all(&model, &pairs);
    if let Some(path) = std::env::var_os("DUMP") {
        // One line per pair, for a look at the features outside this program.
        let lines: Vec<String> = judged
            .iter()
            .map(|j| {
                let features: Vec<String> = j.features.iter().map(|f| format!("{f:.4}")).collect();
                format!(
                    "{}\t{}\t{:?}\t{}\t{}\t{}\t{:?}",
                    j.pair.kind,
                    j.pair.language,
                    j.structure.err(),
                    features.join(","),
                    j.pair.stored,
                    j.pair.query,
                    j.aligned
                )
            })
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").expect("write the dump");
    }

    let mut best: Option<(f64, Scorer)> = None;
    for floor in [0.50f32, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80] {
        let scorer = fit(&judged, floor);
        let Some(confidence) = operating_point(&judged, &scorer) else {
            continue;
        };
        let scorer = Scorer {
            confidence,
            ..scorer
        };
        let (para, near) = evaluation::rates(&evaluation::tally(&judged, &scorer, bar(&scorer)));
        eprintln!(
            "floor {floor:.2}: confidence {confidence:.3}, paraphrases {:.1}%, near-misses {:.2}%",
            100.0 * para,
            100.0 * near
        );
        if best.as_ref().is_none_or(|(score, _)| para > *score) {
            best = Some((para, scorer));
        }
    }
    let (_, scorer) = best.expect("some floor meets the near-miss bar");
    let path = root.join("src/cache/verifier_weights.json");
    let json = serde_json::to_string_pretty(&scorer).expect("serializable") + "\n";
    std::fs::write(&path, json).expect("write the weights");
    eprintln!(
        "wrote {} (floor {}, confidence {})",
        path.display(),
        scorer.min_cosine,
        scorer.confidence
    );
}

fn bar(scorer: &Scorer) -> Bar {
    Bar {
        threshold: scorer.min_cosine,
        confidence: scorer.confidence,
    }
}

/// The lowest confidence (in steps of 0.005) that keeps development
/// near-misses within the bars.
fn operating_point(judged: &[Judged], scorer: &Scorer) -> Option<f32> {
    (0..200)
        .map(|step| step as f32 * 0.005)
        .find(|&confidence| {
            let scorer = Scorer {
                confidence,
                ..scorer.clone()
            };
            let counts = evaluation::tally(judged, &scorer, bar(&scorer));
            let (_, near) = evaluation::rates(&counts);
            near <= MAX_NEAR_MISS
                && counts
                    .iter()
                    .filter(|(kind, _)| kind.as_str() != "paraphrase")
                    .all(|(_, (served, total))| {
                        *served as f64 <= MAX_NEAR_MISS_PER_KIND * *total as f64 + 1e-9
                    })
        })
}

/// Logistic regression on the pairs above `floor` that pass the structure.
fn fit(judged: &[Judged], floor: f32) -> Scorer {
    let rows: Vec<(Vec<f32>, f32)> = judged
        .iter()
        .filter(|j| j.similarity() >= floor && j.structure.is_ok())
        .map(|j| {
            (
                j.judged_features(),
                f32::from(u8::from(j.pair.is_paraphrase())),
            )
        })
        .collect();
    let width = FEATURES.len();
    let n = rows.len().max(1) as f32;
    let mut mean = vec![0.0f32; width];
    for (x, _) in &rows {
        for (m, v) in mean.iter_mut().zip(x.iter()) {
            *m += v / n;
        }
    }
    let mut scale = vec![0.0f32; width];
    for (x, _) in &rows {
        for ((s, v), m) in scale.iter_mut().zip(x.iter()).zip(&mean) {
            *s += (v - m) * (v - m) / n;
        }
    }
    for s in &mut scale {
        *s = s.sqrt().max(1e-3);
    }
    let positives = rows.iter().filter(|(_, y)| *y > 0.5).count().max(1) as f32;
    let negatives = (rows.len() as f32 - positives).max(1.0);
    let class_weight = |y: f32| {
        if y > 0.5 {
            n / (2.0 * positives)
        } else {
            n / (2.0 * negatives)
        }
    };
    let standardized: Vec<Vec<f32>> = rows
        .iter()
        .map(|(x, _)| {
            x.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        })
        .collect();
    let mut weights = vec![0.0f32; width];
    let mut bias = 0.0f32;
    let (rate, l2) = (0.5f32, 0.001f32);
    for _ in 0..4000 {
        let mut grad = vec![0.0f32; width];
        let mut grad_bias = 0.0f32;
        for (x, (_, y)) in standardized.iter().zip(&rows) {
            let z = bias + x.iter().zip(&weights).map(|(a, w)| a * w).sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            let error = (p - y) * class_weight(*y);
            for (g, a) in grad.iter_mut().zip(x) {
                *g += error * a / n;
            }
            grad_bias += error / n;
        }
        for (w, g) in weights.iter_mut().zip(&grad) {
            *w -= rate * (g + l2 * *w);
        }
        bias -= rate * grad_bias;
    }
    Scorer {
        features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        mean,
        scale,
        weights,
        bias,
        confidence: 0.5,
        min_cosine: floor,
    }
}
