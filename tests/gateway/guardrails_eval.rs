//! The guardrail evaluation set: hand-labelled prompts, responses, tool
//! arguments and tool results in `tests/guardrails_eval/*.jsonl`, hard
//! negatives included (order numbers that look like cards, UUIDs, hashes,
//! documentation placeholders, code). Each line is
//! `{"pack", "phase", "text", "expect": [rule ids]}`; `[]` is a negative and
//! `["*"]` means any rule of the pack. Lines marked `"split": "holdout"`
//! were written after the rules were last tuned, and are reported apart.
//! With the embedding model present (`SWITCHBOARD_EMBEDDING_MODEL_DIR`), the
//! injection pack is scored a second time with its semantic rule on.

use std::path::Path;
use switchboard::cache::embed::{EmbedService, LocalEmbedder};
use switchboard::guardrails::pack::parse_phase;
use switchboard::guardrails::{Engine, Overrides, load_packs};

#[derive(serde::Deserialize)]
struct Case {
    pack: String,
    phase: String,
    text: String,
    expect: Vec<String>,
    #[serde(default)]
    split: Option<String>,
}

#[derive(Default, Debug)]
struct Score {
    tp: u32,
    fp: u32,
    fn_: u32,
    tn: u32,
}

impl Score {
    fn precision(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }
    fn recall(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
    fn false_positive_rate(&self) -> f64 {
        f64::from(self.fp) / f64::from((self.fp + self.tn).max(1))
    }
}

/// Scores over every case, and over the held-out ones alone; semantic
/// rules run when `embedder` is given.
async fn evaluate(pack_id: &str, embedder: Option<EmbedService>) -> (Score, Score) {
    let packs = load_packs(None).expect("built-in packs load");
    let engine = Engine::build(&[&packs[pack_id]], &Overrides::default(), embedder, None).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/guardrails_eval/{pack_id}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut score = Score::default();
    let mut holdout = Score::default();
    for (line_no, line) in text.lines().enumerate() {
        let case: Case = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{pack_id}.jsonl:{}: {e}", line_no + 1));
        assert_eq!(case.pack, pack_id);
        let phase = parse_phase(&case.phase).unwrap();
        let mut decision = engine.check(phase, &case.text);
        decision.merge(engine.check_async(phase, &case.text).await);
        let fired: Vec<String> = decision
            .findings
            .iter()
            .map(|f| f.rule.to_string())
            .collect();
        let hit = case
            .expect
            .iter()
            .any(|e| e == "*" && !fired.is_empty() || fired.contains(e));
        let held_out = case.split.as_deref() == Some("holdout");
        for (score, counted) in [(&mut score, true), (&mut holdout, held_out)] {
            if !counted {
                continue;
            }
            match (case.expect.is_empty(), fired.is_empty()) {
                (true, true) => score.tn += 1,
                (true, false) => score.fp += 1,
                (false, _) if hit => score.tp += 1,
                (false, _) => score.fn_ += 1,
            }
        }
        match (case.expect.is_empty(), fired.is_empty(), hit) {
            (true, false, _) => {
                println!("  false positive {pack_id}.jsonl:{} {fired:?}", line_no + 1)
            }
            (false, _, false) => println!(
                "  missed {pack_id}.jsonl:{} want {:?} got {fired:?}",
                line_no + 1,
                case.expect
            ),
            _ => {}
        }
    }
    (score, holdout)
}

/// The real embedding model, when its files are there.
fn local_model() -> Option<EmbedService> {
    let dir = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR")?;
    let model = LocalEmbedder::load(Path::new(&dir)).expect("the embedding model loads");
    Some(EmbedService::start(std::sync::Arc::new(model)))
}

#[tokio::test]
async fn precision_and_recall_per_pack() {
    let mut table = String::from(
        "\npack               split    cases  precision  recall  false-positive-rate\n",
    );
    let mut scores = Vec::new();
    let mut runs = vec![("pii", None), ("secrets", None), ("injection", None)];
    match local_model() {
        Some(model) => runs.push(("injection", Some(model))),
        None => println!("injection with its semantic rule: skipped, no embedding model"),
    }
    for (pack, embedder) in runs {
        let semantic = embedder.is_some();
        let (all, holdout) = evaluate(pack, embedder).await;
        let pack = if semantic { "injection+semantic" } else { pack };
        for (split, s) in [("all", &all), ("holdout", &holdout)] {
            table.push_str(&format!(
                "{pack:<18} {split:<8} {:>5}  {:>9.3}  {:>6.3}  {:>19.3}\n",
                s.tp + s.fp + s.fn_ + s.tn,
                s.precision(),
                s.recall(),
                s.false_positive_rate()
            ));
        }
        scores.push((pack, all));
    }
    println!("{table}");
    for (pack, s) in &scores {
        assert!(
            s.tp + s.fn_ >= 50 && s.tn + s.fp >= 50,
            "{pack}: too few cases {s:?}"
        );
        match *pack {
            "injection" | "injection+semantic" => {
                assert!(s.recall() >= 0.80, "{pack} recall {:.3}", s.recall());
                assert!(
                    s.false_positive_rate() <= 0.02,
                    "{pack} benign flagged {:.3}",
                    s.false_positive_rate()
                );
            }
            _ => {
                assert!(s.recall() >= 0.95, "{pack} recall {:.3}", s.recall());
                assert!(
                    s.precision() >= 0.95,
                    "{pack} precision {:.3}",
                    s.precision()
                );
            }
        }
    }
}
