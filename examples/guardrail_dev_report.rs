//! Precision and recall of each built-in pack, per place, on the development
//! half of the guardrail evaluation, without the embedding model (semantic
//! rules are off, so the injection pack scores lower than in the gateway).
//!
//!     cargo run --release --example guardrail_dev_report [-- --show <pack>] [--file <cases.jsonl>] [--time]
//!
//! Each pack is scored alone: a text labelled for the pack counts as caught
//! when any of its rules fires in the phase of the text's place; any other
//! text it fires on is a false positive. `--show <pack>` also prints that
//! pack's misses and false positives with the rules that fired. Packs are
//! read from `guardrails/` on disk, so an edited pack is scored without a
//! rebuild (validators are the compiled ones). `--time` also prints each
//! pack's median check time over 4 KB of text (meaningful in release
//! builds). Reads only
//! `tests/eval/guardrails/dev.jsonl` (or the JSON-lines file given with
//! `--file`, in the same format or the older `tests/guardrails_eval/` one);
//! never point it at the frozen test half.

#[path = "support/cases_file.rs"]
mod cases_file;

use std::collections::BTreeMap;
use std::path::Path;
use switchboard::guardrails::evaluation::{self, LABELS, Score};
use switchboard::guardrails::pack::decode_and_check;
use switchboard::guardrails::{Engine, Overrides, Phase};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let show = args
        .iter()
        .position(|a| a == "--show")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let timing = args.iter().any(|a| a == "--time");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = cases_file::from_args(&args);
    let lines = std::fs::read_to_string(&file).expect("cases");
    // The evaluation's format, or the older `{"pack", "phase", "text", "expect"}`.
    let cases = evaluation::parse(&lines)
        .or_else(|_| evaluation::parse_legacy(&lines))
        .expect("cases parse");
    println!(
        "{:<10} {:<12} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "pack", "place", "tp", "fp", "fn", "precision", "recall"
    );
    for (label, pack) in LABELS {
        // The pack as it is on disk now (no rebuild needed after editing it).
        let file = format!("guardrails/{pack}.toml");
        let text = std::fs::read_to_string(root.join(&file)).expect("pack file");
        let rules = match decode_and_check(&file, pack, &text) {
            Ok(rules) => rules,
            Err(problems) => {
                println!("{pack}: not scored, {problems:?}");
                continue;
            }
        };
        let engine = match Engine::build(&[&rules], &Overrides::default(), None, None) {
            Ok(engine) => engine,
            Err(error) => {
                println!("{pack}: not scored, {error}");
                continue;
            }
        };
        let mut scores: BTreeMap<String, Score> = BTreeMap::new();
        for case in &cases {
            let decision = engine.check(case.phase(), &case.text);
            let caught = !decision.findings.is_empty();
            let positive = case.label == *label;
            for place in [case.place.as_str(), "all"] {
                let score = scores.entry(place.to_owned()).or_default();
                match (positive, caught) {
                    (true, true) => score.tp += 1,
                    (true, false) => score.fn_ += 1,
                    (false, true) => score.fp += 1,
                    (false, false) => {}
                }
            }
            if show.as_deref() == Some(*pack) && positive != caught {
                let what = if positive { "MISS" } else { "FP" };
                let rules: Vec<String> = decision
                    .findings
                    .iter()
                    .map(|f| format!("{}={:?}", f.rule, &case.text[f.start..f.end]))
                    .collect();
                println!(
                    "{what} [{} {} {} {}] {}\n    {}",
                    case.label,
                    case.place,
                    case.kind,
                    case.lang,
                    case.text.replace('\n', " ⏎ "),
                    rules.join(", ")
                );
            }
        }
        if timing {
            report_time(pack, &engine, &cases);
        }
        for (place, score) in &scores {
            println!(
                "{:<10} {:<12} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
                pack,
                place,
                score.tp,
                score.fp,
                score.fn_,
                score.precision(),
                score.recall()
            );
        }
    }
}

/// Median time of one check over 4 KB: the benchmark's English support
/// text, and 4 KB of development texts (many languages, non-ASCII).
fn report_time(pack: &str, engine: &Engine, cases: &[evaluation::Case]) {
    let paragraph = "Hi team, the nightly export job failed again after the 2.18 upgrade. \
        The stack trace points at the CSV writer: it opens the file before checking the \
        destination folder exists, so on a fresh node it throws and the retry loop gives up \
        after three attempts. Order 100234987 and ticket ENG-48213 have the details. Could you \
        suggest a fix in Rust? fn export(rows: &[Row], path: &Path) -> io::Result<()> { \
        let mut w = csv::Writer::from_path(path)?; for r in rows { w.serialize(r)?; } w.flush() }\n";
    let fill = |pieces: &mut dyn Iterator<Item = &str>| {
        let mut text = String::with_capacity(4200);
        for piece in pieces {
            if text.len() + piece.len() > 4096 {
                break;
            }
            text.push_str(piece);
            text.push('\n');
        }
        text
    };
    let english = fill(&mut std::iter::repeat(paragraph));
    let mixed = fill(&mut cases.iter().rev().map(|c| c.text.as_str()).cycle());
    for (name, text) in [("english", &english), ("mixed", &mixed)] {
        let mut samples: Vec<u128> = (0..201)
            .map(|_| {
                let started = std::time::Instant::now();
                std::hint::black_box(engine.check(Phase::Input, std::hint::black_box(text)));
                started.elapsed().as_nanos()
            })
            .collect();
        samples.sort_unstable();
        println!(
            "{pack:<10} time {name:<8} {} bytes: median {:.1} µs",
            text.len(),
            samples[samples.len() / 2] as f64 / 1000.0
        );
    }
}
