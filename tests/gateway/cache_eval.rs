//! The semantic cache's evaluation on the frozen test half of
//! `tests/eval/cache/` (written independently of the verifier, split once
//! at random; `test.sha256` freezes it). The real model (all-MiniLM-L6-v2),
//! the default threshold and the shipped verifier weights, which were
//! fitted on the development half only. Prints the figures per kind and
//! for a range of confidences (the README's table), and asserts them:
//! at most 1% of near-misses served and at most one per kind (the wrong
//! answers a cache may give), and no fewer paraphrases served than the
//! shipped verifier reached when it was frozen (29.3%; the goal is 80%,
//! see the README). Under CI a missing model is a failure, not a skip.

use std::sync::Arc;
use switchboard::cache::config::{Bar, default_threshold};
use switchboard::cache::embed::LocalEmbedder;
use switchboard::cache::evaluation::{self, Judged};
use switchboard::cache::verify::Scorer;

const TEST_HALF: &str = include_str!("../eval/cache/test.tsv");
const TEST_HASH: &str = include_str!("../eval/cache/test.sha256");

/// The local model, or `None` outside CI when it was not fetched; under CI
/// its absence fails the calling test.
pub fn model() -> Option<Arc<LocalEmbedder>> {
    let dir =
        crate::harness::require_env("SWITCHBOARD_EMBEDDING_MODEL_DIR", "scripts/fetch-model")?;
    Some(Arc::new(
        LocalEmbedder::load(std::path::Path::new(&dir)).expect("the model named in the env loads"),
    ))
}

#[test]
fn the_test_half_is_the_frozen_one() {
    crate::harness::assert_frozen(TEST_HALF, TEST_HASH, "tests/eval/cache/test.tsv");
    let pairs = evaluation::parse(TEST_HALF).unwrap();
    assert!(
        pairs.len() >= 750,
        "the test half holds half of 1,500+ pairs"
    );
}

fn print_table(judged: &[Judged], scorer: &Scorer, bar: Bar) {
    println!(
        "\nthreshold {:.2}, confidence {:.3}: served by kind",
        bar.threshold, bar.confidence
    );
    for (kind, (served, total)) in evaluation::tally(judged, scorer, bar) {
        println!(
            "  {kind:<12} {served:>4}/{total:<4} {:>6.1}%",
            100.0 * served as f64 / total as f64
        );
    }
}

#[test]
fn the_test_half_meets_the_bar() {
    let Some(model) = model() else { return };
    let pairs = evaluation::parse(TEST_HALF).unwrap();
    let judged = evaluation::judge_all(model.as_ref(), &pairs);
    let scorer = Scorer::shipped();
    let bar = Bar {
        threshold: default_threshold(),
        confidence: scorer.confidence,
    };

    println!("\nconfidence  paraphrases served  near-misses served (per 100)");
    for confidence in [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, scorer.confidence] {
        let (para, near) = evaluation::rates(&evaluation::tally(
            &judged,
            scorer,
            Bar { confidence, ..bar },
        ));
        println!(
            "  {confidence:.3}      {:>6.1}%            {:>6.2}",
            100.0 * para,
            100.0 * near
        );
    }
    print_table(&judged, scorer, bar);
    let by_language = |language: &str| {
        let subset: Vec<Judged> = judged
            .iter()
            .filter(|j| j.pair.language == language)
            .cloned()
            .collect();
        evaluation::rates(&evaluation::tally(&subset, scorer, bar))
    };
    for language in ["en", "fr", "de", "es"] {
        let (para, near) = by_language(language);
        println!(
            "  {language}: paraphrases {:.1}%, near-misses {:.2}%",
            100.0 * para,
            100.0 * near
        );
    }

    let counts = evaluation::tally(&judged, scorer, bar);
    let (para, near) = evaluation::rates(&counts);
    assert!(near <= 0.01, "near-misses served {:.2}% > 1%", 100.0 * near);
    for (kind, (served, total)) in &counts {
        if kind != "paraphrase" {
            assert!(*served <= 1, "{kind}: {served}/{total} near-misses served");
        }
    }
    // 45.3% when measured (187/413). Each text is embedded alone, so the
    // figure is the same from run to run and the floor sits just under it.
    assert!(
        para >= 0.45,
        "paraphrases served {:.1}%, below the floor of 45% (45.3% measured)",
        100.0 * para
    );
}

/// A text gets the same vector alone and beside others. The int8 model
/// quantizes each layer's input by its range over the whole run, so texts
/// run together would change one another's vectors, and a guardrail's
/// verdict or a cache similarity near its bar would depend on what else
/// was waiting (another team's prompt included).
#[test]
fn a_text_embeds_the_same_alone_and_beside_others() {
    use switchboard::seams::embedding::EmbeddingModel;
    let Some(model) = model() else { return };
    let text = "How do I reset my password?";
    let alone = model.embed(&[text]).remove(0);
    let beside = model
        .embed(&[
            "A much longer request about something else entirely, with many more words than \
             the first, so that a shared run would pad the first and widen each layer's range.",
            text,
            "¿Dónde está la estación de tren más cercana?",
        ])
        .remove(1);
    assert_eq!(alone.len(), 384);
    assert_eq!(alone, beside);
}
