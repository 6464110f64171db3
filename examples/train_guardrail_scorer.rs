//! Fits the injection scorer on the development half of the guardrail
//! evaluation and writes `guardrails/scorers/injection.json`.
//!
//!     cargo run --release --example train_guardrail_scorer
//!
//! Reads only `tests/eval/guardrails/dev.jsonl`, the training-only texts in
//! `tests/eval/guardrails/train/` and the older `tests/guardrails_eval/*.jsonl`
//! (development data); never the test half.
//! Positives are texts labelled `injection`; every other text (benign, PII,
//! secrets) is a negative. A logistic regression over the hashed features
//! of `guardrails::scorer::features`, class-balanced, L2-penalized, fitted
//! by gradient descent from zero: deterministic. The threshold is chosen
//! on out-of-fold probabilities (5 folds), so it is not flattered by the
//! texts the weights were fitted on: the lowest at which at most 1% of the
//! negatives are flagged.

#[path = "support/guardrail_cases.rs"]
mod guardrail_cases;
#[path = "support/training.rs"]
mod training;

use std::path::Path;
use switchboard::guardrails::evaluation::Case;
use switchboard::guardrails::scorer::{TextScorer, features, hidden_readings, pieces};

const BUCKETS: usize = 1 << 13;
const MAX_FALSE_POSITIVES: f64 = 0.01;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (cases, development_half) = guardrail_cases::load(root);
    let rows: Vec<(Vec<(usize, f32)>, f32)> = cases.iter().flat_map(rows_of).collect();
    eprintln!("{} development texts, {} pieces", cases.len(), rows.len());

    // Out-of-fold probabilities per text (its most suspicious piece).
    let folds = 5;
    let mut out_of_fold = vec![0.0f32; cases.len()];
    let owners: Vec<usize> = cases
        .iter()
        .enumerate()
        .flat_map(|(i, case)| std::iter::repeat_n(i, rows_of(case).len()))
        .collect();
    for fold in 0..folds {
        let train: Vec<&(Vec<(usize, f32)>, f32)> = rows
            .iter()
            .zip(&owners)
            .filter(|(_, owner)| *owner % folds != fold)
            .map(|(row, _)| row)
            .collect();
        let scorer = fit(&train);
        for (i, case) in cases.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            out_of_fold[i] = best_piece(&scorer, case);
        }
    }
    guardrail_cases::dump_out_of_fold(&out_of_fold[..development_half]);
    let threshold = choose_threshold(&cases, &out_of_fold);
    eprintln!("the development half alone:");
    report(
        &cases[..development_half],
        &out_of_fold[..development_half],
        threshold,
    );
    let all: Vec<&(Vec<(usize, f32)>, f32)> = rows.iter().collect();
    let mut scorer = fit(&all);
    scorer.threshold = threshold;
    for w in &mut scorer.weights {
        *w = (*w * 10_000.0).round() / 10_000.0;
    }
    let path = root.join("guardrails/scorers/injection.json");
    std::fs::write(&path, serde_json::to_string(&scorer).expect("json") + "\n").expect("write");
    eprintln!("wrote {} (threshold {threshold:.3})", path.display());
}

/// A text's pieces as rows. A negative also contributes its hidden
/// readings (decoded, reversed, ROT13...) as negatives, so that ordinary
/// text read those ways stays harmless; a positive contributes only what it
/// says plainly, so that gibberish never learns to look like an attack.
fn rows_of(case: &Case) -> Vec<(Vec<(usize, f32)>, f32)> {
    let positive = case.label == "injection";
    let label = f32::from(u8::from(positive));
    let mut rows = Vec::new();
    for (start, end) in pieces(&case.text) {
        let piece = &case.text[start..end];
        rows.push((features(piece, case.phase(), BUCKETS), label));
        if !positive {
            for reading in hidden_readings(piece) {
                rows.push((features(&reading, case.phase(), BUCKETS), 0.0));
            }
        }
    }
    rows
}

fn best_piece(scorer: &TextScorer, case: &Case) -> f32 {
    pieces(&case.text)
        .into_iter()
        .map(|(start, end)| scorer.probability(&case.text[start..end], case.phase()))
        .fold(0.0, f32::max)
}

/// The lowest threshold (steps of 0.01) flagging at most 1% of the
/// negatives and of the benign texts among them (the look-alikes, harder
/// than PII or secrets); prints recall and false positives around it.
fn choose_threshold(cases: &[Case], probabilities: &[f32]) -> f32 {
    let rate = |threshold: f32| {
        let (mut tp, mut pos, mut fp, mut neg, mut fp_benign, mut benign) = (0, 0, 0, 0, 0, 0);
        for (case, p) in cases.iter().zip(probabilities) {
            let flagged = usize::from(*p >= threshold);
            if case.label == "injection" {
                pos += 1;
                tp += flagged;
            } else {
                neg += 1;
                fp += flagged;
                if case.label == "benign" {
                    benign += 1;
                    fp_benign += flagged;
                }
            }
        }
        let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        (ratio(tp, pos), ratio(fp, neg), ratio(fp_benign, benign))
    };
    let threshold = (1..200)
        .map(|step| step as f32 / 200.0)
        .find(|t| {
            let (_, negatives, benign) = rate(*t);
            negatives <= MAX_FALSE_POSITIVES && benign <= MAX_FALSE_POSITIVES
        })
        .unwrap_or(0.99);
    for t in [
        threshold - 0.04,
        threshold - 0.02,
        threshold,
        threshold + 0.01,
    ] {
        let (recall, negatives, benign) = rate(t);
        eprintln!(
            "out of fold: threshold {t:.2}: recall {recall:.3}, false positives {negatives:.3} \
             (benign texts {benign:.3})"
        );
    }
    threshold
}

/// Out-of-fold recall per place and benign texts flagged at `threshold`.
fn report(cases: &[Case], probabilities: &[f32], threshold: f32) {
    for place in ["prompt", "tool_result", "answer"] {
        let (mut tp, mut pos, mut fp, mut benign) = (0, 0, 0, 0);
        for (case, p) in cases.iter().zip(probabilities) {
            if case.place != place {
                continue;
            }
            let flagged = usize::from(*p >= threshold);
            match case.label.as_str() {
                "injection" => (pos, tp) = (pos + 1, tp + flagged),
                "benign" => (benign, fp) = (benign + 1, fp + flagged),
                _ => {}
            }
        }
        eprintln!("  {place:12} injections {tp}/{pos}, benign flagged {fp}/{benign}");
    }
    // Recall when the threshold lets k benign texts through, for a few k:
    // a comparison that does not depend on the threshold chosen.
    let mut benign: Vec<f32> = cases
        .iter()
        .zip(probabilities)
        .filter(|(case, _)| case.label == "benign")
        .map(|(_, p)| *p)
        .collect();
    benign.sort_by(|a, b| b.total_cmp(a));
    let positives: Vec<f32> = cases
        .iter()
        .zip(probabilities)
        .filter(|(case, _)| case.label == "injection")
        .map(|(_, p)| *p)
        .collect();
    for k in [0, 2, 5, 10] {
        let bar = benign.get(k).copied().unwrap_or(0.0);
        let caught = positives.iter().filter(|p| **p > bar).count();
        eprintln!(
            "  with {k} of {} benign flagged: recall {:.3}",
            benign.len(),
            caught as f64 / positives.len().max(1) as f64
        );
    }
}

/// Class-balanced logistic regression, L2, full-batch gradient descent.
fn fit(rows: &[&(Vec<(usize, f32)>, f32)]) -> TextScorer {
    let n = rows.len().max(1) as f32;
    let positives = rows.iter().filter(|(_, y)| *y > 0.5).count().max(1) as f32;
    let negatives = (n - positives).max(1.0);
    let weight_of = |y: f32| {
        if y > 0.5 {
            n / (2.0 * positives)
        } else {
            n / (2.0 * negatives)
        }
    };
    let mut weights = vec![0.0f32; BUCKETS];
    let mut bias = 0.0f32;
    let (rate, l2) = (4.0f32, 1e-5f32);
    let mut grad = vec![0.0f32; BUCKETS];
    for _ in 0..4000 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut grad_bias = 0.0f32;
        for (x, y) in rows {
            let z = bias + x.iter().map(|(i, v)| weights[*i] * v).sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            let error = (p - y) * weight_of(*y) / n;
            for (i, v) in x {
                grad[*i] += error * v;
            }
            grad_bias += error;
        }
        for (w, g) in weights.iter_mut().zip(&grad) {
            *w -= rate * (g + l2 * *w);
        }
        bias -= rate * grad_bias;
    }
    TextScorer {
        buckets: BUCKETS,
        weights,
        bias,
        threshold: 0.5,
    }
}
