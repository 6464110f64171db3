//! What each rule of the injection pack adds, on the development half of
//! the guardrail evaluation, with the model rules on: injection recall
//! (per place) and benign texts flagged by the default packs, with every
//! rule, with each rule left out, and with each rule alone. A rule whose
//! absence changes neither figure catches nothing the others miss.
//!
//!     SWITCHBOARD_EMBEDDING_MODEL_DIR=... ORT_DYLIB_PATH=... \
//!         cargo run --release --example guardrail_rule_ablation [-- --file <cases.jsonl>]
//!
//! Reads `tests/eval/guardrails/dev.jsonl` (or the file given, in the same
//! format); never point it at the frozen test half. Packs are the built-in
//! ones, as compiled. Rules are left out by filtering the findings of one
//! engine, so a rule `superseded_by` the encoder shows only where it still
//! runs (no phase of the encoder's); to weigh such a rule against the
//! encoder, compare runs with and without `superseded_by` in the pack.

#[path = "support/cases_file.rs"]
mod cases_file;
#[path = "support/model_cases.rs"]
mod model_cases;

use std::collections::{BTreeMap, BTreeSet};
use switchboard::guardrails::evaluation::{self, Case};
use switchboard::guardrails::{Engine, Overrides, load_packs};

/// A case and the rules that fired on it.
type Fired<'a> = (&'a Case, BTreeSet<String>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (cases, models) = model_cases::load(&args);
    let packs = load_packs(None).expect("built-in packs load");
    let chosen = [&packs["pii"], &packs["secrets"], &packs["injection"]];
    let engine = Engine::build(&chosen, &Overrides::default(), Some(models), None).unwrap();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let fired: Vec<Fired> = runtime.block_on(async {
        let mut fired = Vec::new();
        for case in &cases {
            let decision = evaluation::findings(&engine, case).await;
            let rules = decision.findings.iter().map(|f| f.rule.to_string());
            fired.push((case, rules.collect()));
        }
        fired
    });
    let injection_rules: Vec<String> = packs["injection"]
        .rules
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let all: BTreeSet<&str> = injection_rules.iter().map(String::as_str).collect();
    report("every rule", &fired, &all);
    for rule in &injection_rules {
        let mut without = all.clone();
        without.remove(rule.as_str());
        report(&format!("without {rule}"), &fired, &without);
    }
    for rule in &injection_rules {
        report(
            &format!("{rule} alone"),
            &fired,
            &BTreeSet::from([rule.as_str()]),
        );
    }
}

/// Recall per place and benign texts flagged when only `active` of the
/// injection pack's rules run (the other packs' rules always do).
fn report(name: &str, fired: &[Fired], active: &BTreeSet<&str>) {
    let mut places: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let (mut benign, mut flagged) = (0, 0);
    for (case, rules) in fired {
        let counts =
            |rule: &&String| !rule.starts_with("injection.") || active.contains(rule.as_str());
        let kept: Vec<&String> = rules.iter().filter(counts).collect();
        let injection = kept.iter().any(|r| r.starts_with("injection."));
        if case.label == "injection" {
            let place = places.entry(case.place.as_str()).or_default();
            place.0 += u32::from(injection);
            place.1 += 1;
        }
        if case.label == "benign" {
            benign += 1;
            flagged += u32::from(!kept.is_empty());
        }
    }
    let (caught, total) = places
        .values()
        .fold((0, 0), |(c, t), (pc, pt)| (c + pc, t + pt));
    let per_place: Vec<String> = places
        .iter()
        .map(|(place, (c, t))| format!("{place} {c}/{t}"))
        .collect();
    println!(
        "{name:<42} recall {:.3} ({})  benign flagged {flagged}/{benign}",
        f64::from(caught) / f64::from(total.max(1)),
        per_place.join(", ")
    );
}
