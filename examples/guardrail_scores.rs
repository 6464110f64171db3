//! Each text's scores under the injection pack's learned rules, and the
//! other rules that fire on it, one JSON line per text, for choosing the
//! rules' operating points on development data:
//!
//!     SWITCHBOARD_EMBEDDING_MODEL_DIR=... ORT_DYLIB_PATH=... \
//!         cargo run --release --example guardrail_scores [-- --file <cases.jsonl>] > scores.jsonl
//!
//! Per text: `encoder`, the highest probability the injection encoder gives
//! one of its passages (as the gateway reads them), or null where the
//! encoder does not run in the text's place; `scorer`, the highest
//! probability the word scorer gives one of its pieces, hidden readings
//! included (as `injection.scorer` reads them, in every phase); `rules`,
//! every other rule of the default packs that fires (the findings of the
//! injection pack's learned rules left out). `scripts/choose-injection-threshold`
//! reads these lines. Reads the development half or the
//! file given; never point it at the frozen test half.

#[path = "support/cases_file.rs"]
mod cases_file;
#[path = "support/model_cases.rs"]
mod model_cases;

use switchboard::guardrails::evaluation::{self, Case};
use switchboard::guardrails::pack::Rule;
use switchboard::guardrails::pack::{builtin_scorer, builtin_sentence_scorer};
use switchboard::guardrails::semantic::{most_suspicious_passage, passages};
use switchboard::guardrails::{Engine, Overrides, Phase, load_packs, phase_label};

const ENCODER_RULE: &str = "injection.encoder";
const SCORER_RULE: &str = "injection.scorer";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (cases, models) = model_cases::load(&args);
    let packs = load_packs(None).expect("built-in packs load");
    let injection = &packs["injection"];
    let rule = |id: &str| {
        injection
            .rules
            .iter()
            .find(|r| r.id == id)
            .expect("the rule is in the pack")
    };
    let encoder_rule = rule(ENCODER_RULE);
    let sentence_scorer =
        builtin_sentence_scorer(encoder_rule.scorer.as_deref().expect("a scorer")).expect("loads");
    let encoder = models
        .encoder(sentence_scorer.encoder.as_deref().expect("an encoder file"))
        .expect("the encoder loads (scripts/fetch-model builds it)");
    let word_scorer_rule = rule(SCORER_RULE);
    let word_scorer =
        builtin_scorer(word_scorer_rule.scorer.as_deref().expect("a scorer")).expect("loads");
    // The learned rules, whose findings the scores stand for.
    let learned: Vec<&str> = injection
        .rules
        .iter()
        .filter(|r| r.engine == "scorer" || r.engine == "semantic")
        .map(|r| r.id.as_str())
        .collect();
    let chosen = [&packs["pii"], &packs["secrets"], injection];
    let engine = Engine::build(&chosen, &Overrides::default(), Some(models), None).unwrap();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        for case in &cases {
            let phase = case.phase();
            let encoder_score = if runs(encoder_rule, phase) {
                let best =
                    most_suspicious_passage(&encoder, &sentence_scorer, &case.text, phase).await;
                // None for a text with passages only when the model failed:
                // a report of zeros would pass for a clean text.
                assert!(
                    best.is_some() || passages(&case.text).is_empty(),
                    "the encoder failed"
                );
                Some(best.map_or(0.0, |(_, probability)| probability))
            } else {
                None
            };
            let scorer_score = runs(word_scorer_rule, phase).then(|| {
                word_scorer
                    .scored_pieces(&case.text, phase, 1.0)
                    .into_iter()
                    .map(|(_, _, probability)| probability)
                    .fold(0.0f32, f32::max)
            });
            let decision = evaluation::findings(&engine, case).await;
            let mut rules: Vec<String> = decision
                .findings
                .iter()
                .map(|f| f.rule.to_string())
                .filter(|r| !learned.contains(&r.as_str()))
                .collect();
            rules.sort();
            rules.dedup();
            println!("{}", line(case, encoder_score, scorer_score, &rules));
        }
    });
}

/// Whether `rule` reads texts in `phase`.
fn runs(rule: &Rule, phase: Phase) -> bool {
    rule.phases.iter().any(|p| p == phase_label(phase))
}

fn line(case: &Case, encoder: Option<f32>, scorer: Option<f32>, rules: &[String]) -> String {
    serde_json::json!({
        "label": case.label,
        "place": case.place,
        "encoder": encoder,
        "scorer": scorer,
        "rules": rules,
    })
    .to_string()
}
