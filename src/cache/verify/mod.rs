//! The second stage of a semantic hit. Cosine similarity cannot tell "a
//! lasagna recipe with mushrooms" from "a lasagna recipe without mushrooms",
//! nor "flights from Rome to Oslo" from "flights from Oslo to Rome", so a
//! candidate above the threshold is compared with the new prompt word by
//! word:
//!
//! 1. Structure, closed classes only: the numbers asked for (digits, number
//!    words, ordinals), negation (negators, `n't`, negating prefixes and
//!    suffixes), and the role of each word after a direction preposition.
//!    Any difference is a miss.
//! 2. Alignment of content words: every content word (not a function word,
//!    not a framing word like "please" or "explain") must find a
//!    counterpart in the other prompt: the same word, its stem, a typo of
//!    it, or, failing those, the nearest word by the embedding model's own
//!    vectors. How well the unmatched words align, how many there are, and
//!    whether names or the order of aligned words changed are the features.
//! 3. A small logistic scorer over those features and the cosine, whose
//!    weights are data (`verifier_weights.json`, trained on the development
//!    half of the evaluation set by `examples/train_cache_verifier.rs`),
//!    gives the probability that both prompts ask the same thing; it must
//!    reach the route's confidence.
//!
//! When in doubt, the cache misses.

use super::closed_classes::{
    COORDINATORS, DIRECTION_ROLES, FRAMING_WORDS, FUNCTION_WORDS, INTERROGATIVES,
    NEGATING_PREFIXES, NEGATING_SUFFIXES, NEGATORS, NUMBER_WORDS, ORDINALS, QUANTIFIERS,
    SPANISH_MARKERS, SPANISH_ROLES,
};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

mod alignment;
mod analysis;
mod scoring;
mod structure;
mod synonyms;

pub use alignment::*;
pub use analysis::*;
pub use scoring::*;
pub use structure::*;
pub use synonyms::*;

/// Which check turned a candidate down, for the shadow log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Numbers,
    Negation,
    Direction,
    Question,
    Score,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Self::Numbers => "numbers",
            Self::Negation => "negation",
            Self::Direction => "direction",
            Self::Question => "question",
            Self::Score => "score",
        }
    }
}

/// The verifier's verdict on a pair: the probability, once the structure
/// passed, and the check that failed, if any.
pub fn judge(
    stored: &Analysis,
    query: &Analysis,
    cosine: f32,
    vectors: &WordVectors,
    confidence: f32,
) -> (Option<f32>, Result<(), Check>) {
    if let Err(check) = structure(stored, query) {
        return (None, Err(check));
    }
    let probability = Scorer::shipped().probability(&features(stored, query, cosine, vectors));
    let verdict = if probability >= confidence {
        Ok(())
    } else {
        Err(Check::Score)
    };
    (Some(probability), verdict)
}

/// The feature vector of a pair with word vectors from `model` directly,
/// for the evaluation and the scorer's training, which run outside the
/// gateway's embedding thread.
pub fn features_from_model(
    model: &dyn crate::seams::embedding::EmbeddingModel,
    stored: &Analysis,
    query: &Analysis,
    cosine: f32,
) -> Vec<f32> {
    let words = words_to_embed(stored, query);
    let texts: Vec<&str> = words.iter().map(String::as_str).collect();
    let vectors: WordVectors = if texts.is_empty() {
        WordVectors::new()
    } else {
        words.iter().cloned().zip(model.embed(&texts)).collect()
    };
    features(stored, query, cosine, &vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stored: &str, query: &str) -> Result<(), Check> {
        structure(&analyse(stored), &analyse(query))
    }

    #[test]
    fn structure_passes_rewordings() {
        for (a, b) in [
            (
                "Give me three tips for sleeping better",
                "What are 3 tips to sleep better?",
            ),
            (
                "Lasagna recipe without mushrooms",
                "A lasagna recipe with no mushrooms",
            ),
            ("Convert 100 USD to EUR", "How much is 100 USD in EUR?"),
            ("What is twenty five times four?", "What's 25 times 4?"),
            ("I don't want onions", "I do not want onions"),
            ("Flights from Rome to Oslo", "Flights to Oslo from Rome"),
        ] {
            assert_eq!(check(a, b), Ok(()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn structure_catches_the_closed_classes() {
        for (a, b, failed) in [
            ("Give me three tips", "Give me five tips", Check::Numbers),
            ("the second planet", "the third planet", Check::Numbers),
            (
                "Lasagna with mushrooms",
                "Lasagna without mushrooms",
                Check::Negation,
            ),
            (
                "How do I lock my screen?",
                "How do I unlock my screen?",
                Check::Negation,
            ),
            (
                "A bread recipe",
                "A gluten-free bread recipe",
                Check::Negation,
            ),
            (
                "Convert 100 USD to EUR",
                "Convert 100 EUR to USD",
                Check::Direction,
            ),
            (
                "from English to French",
                "from French to English",
                Check::Direction,
            ),
            (
                "Wie komme ich von München nach Berlin?",
                "Wie komme ich von Berlin nach München?",
                Check::Direction,
            ),
            (
                "Is Java faster than Go?",
                "Is Go faster than Java?",
                Check::Direction,
            ),
        ] {
            assert_eq!(check(a, b), Err(failed), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn content_words_align_through_typos_stems_and_compounds() {
        let (a, b) = (
            analyse("How do I reinstall the databse?"),
            analyse("reinstalling the database"),
        );
        assert_eq!(unmatched(&a, &b), (vec![], vec![]));
        let (a, b) = (analyse("boil an egg"), analyse("boil rice"));
        let (left_a, left_b) = unmatched(&a, &b);
        assert_eq!(left_a[0].norm, "egg");
        assert_eq!(left_b[0].norm, "rice");
    }

    #[test]
    fn the_new_prompt_is_written_with_the_stored_spelling_of_shared_words() {
        let aligned = |stored: &str, query: &str| {
            aligned_query(&analyse(stored), stored, &analyse(query), query)
        };
        assert_eq!(
            aligned(
                "What is the population of Canada?",
                "What is the populaton of Canda?"
            )
            .as_deref(),
            Some("What is the population of Canada?")
        );
        assert_eq!(
            aligned("How do I begin a novel?", "how to start writing novels").as_deref(),
            Some("how to begin writing novel")
        );
        // Nothing spelled differently, or nothing shared: no second run.
        assert_eq!(aligned("Boil an egg", "boil an egg please"), None);
        assert_eq!(aligned("Boil an egg", "Boil rice"), None);
    }

    #[test]
    fn a_clause_moved_to_the_other_end_is_told_from_a_swap() {
        let moved = |a: &str, b: &str| {
            let (a, b) = (analyse(a), analyse(b));
            features(&a, &b, 0.9, &WordVectors::new())[FEATURES.len() - 1]
        };
        assert_eq!(
            moved(
                "In winter, how often should I water a snake plant?",
                "How often should I water a snake plant in winter?"
            ),
            1.0
        );
        assert_eq!(
            moved("Did Rome conquer Carthage?", "Did Carthage conquer Rome?"),
            0.0
        );
        assert_eq!(moved("Water a snake plant", "Water a snake plant"), 0.0);
    }

    #[test]
    fn a_quantifier_counts_only_in_a_clause_of_the_question() {
        let changed = |a: &str, b: &str| {
            let (a, b) = (analyse(a), analyse(b));
            let index = FEATURES
                .iter()
                .position(|f| *f == "quantifier_changed")
                .unwrap();
            features(&a, &b, 0.9, &WordVectors::new())[index]
        };
        assert_eq!(
            changed(
                "How long should I rest between sets?",
                "Just curious, how long should I rest between sets?"
            ),
            0.0
        );
        assert_eq!(
            changed("Delete the old files", "Delete just the old files"),
            1.0
        );
    }

    #[test]
    fn number_words_are_numbers() {
        let numbers = |text: &str| analyse(text).numbers.into_keys().collect::<Vec<_>>();
        assert_eq!(numbers("three hundred apples"), ["300"]);
        assert_eq!(numbers("twenty five, then 1,000"), ["1000", "25"]);
        assert_eq!(numbers("drei Tipps"), ["3"]);
        assert_eq!(numbers("version 3.10 or 007"), ["3.10", "7"]);
        assert_eq!(numbers("the third planet"), ["#3"]);
    }

    #[test]
    fn the_shipped_weights_fit_the_features() {
        let scorer = Scorer::shipped();
        assert_eq!(scorer.features, FEATURES);
        assert_eq!(scorer.weights.len(), FEATURES.len());
        assert!((0.0..1.0).contains(&scorer.confidence));
    }
}
