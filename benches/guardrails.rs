//! Guardrail scans: every built-in pattern pack (pii, secrets, injection,
//! custom-template) over a realistic 4 KB prompt, clean and with findings.
//! Target: ≤ 200 µs at p50 on one core for the whole scan.
//!
//! With the local model (`SWITCHBOARD_EMBEDDING_MODEL_DIR` and
//! `ORT_DYLIB_PATH`, from `scripts/fetch-model`), also the injection pack's
//! rule that needs it over the same 4 KB: the encoder (the text's passages
//! through the injection encoder, on one thread).
//!
//! Run with `cargo bench --bench guardrails`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::guardrails::encoder::SemanticModels;
use switchboard::guardrails::{Engine, Overrides, Phase, Redactions, load_packs};

/// About 4 KB of ordinary support-chat and code text, no findings.
fn clean_prompt() -> String {
    let paragraph = "Hi team, the nightly export job failed again after the 2.18 upgrade. \
        The stack trace points at the CSV writer: it opens the file before checking the \
        destination folder exists, so on a fresh node it throws and the retry loop gives up \
        after three attempts. Order 100234987 and ticket ENG-48213 have the details. Could you \
        suggest a fix in Rust? fn export(rows: &[Row], path: &Path) -> io::Result<()> { \
        let mut w = csv::Writer::from_path(path)?; for r in rows { w.serialize(r)?; } w.flush() }\n";
    let mut text = String::with_capacity(4096);
    while text.len() + paragraph.len() <= 4096 {
        text.push_str(paragraph);
    }
    text
}

/// The same size with an e-mail, a phone number, a card and a key inside.
fn dirty_prompt() -> String {
    let mut text = clean_prompt();
    text.truncate(3900);
    text.push_str(" Contact jane.doe@acme.io, +44 20 7946 0958, card 4111 1111 1111 1111, key AKIA4QWERTYZXCVB7LMN.");
    text
}

fn bench(c: &mut Criterion) {
    let packs = load_packs(None).expect("built-in packs load");
    let all: Vec<_> = packs.values().collect();
    let engine = Engine::build(&all, &Overrides::default(), None, None).expect("packs compile");
    let clean = clean_prompt();
    let dirty = dirty_prompt();
    let mut group = c.benchmark_group("guardrails");
    group.throughput(Throughput::Bytes(clean.len() as u64));
    group.bench_function("all_packs_4kb_clean", |b| {
        b.iter(|| engine.check(Phase::Input, black_box(&clean)))
    });
    group.bench_function("all_packs_4kb_with_findings", |b| {
        b.iter(|| engine.check(Phase::Input, black_box(&dirty)))
    });
    group.bench_function("all_packs_4kb_check_and_redact", |b| {
        b.iter(|| {
            let decision = engine.check(Phase::Input, black_box(&dirty));
            Redactions::default().redact(&dirty, &decision.findings)
        })
    });
    group.finish();
}

/// The injection pack with only the rule `keep`.
fn injection_rule(models: &SemanticModels, keep: &str) -> Engine {
    let packs = load_packs(None).expect("built-in packs load");
    let injection = &packs["injection"];
    let overrides = Overrides {
        disabled: injection
            .rules
            .iter()
            .map(|rule| rule.id.clone())
            .filter(|id| id != keep)
            .collect(),
        ..Overrides::default()
    };
    Engine::build(&[injection], &overrides, Some(models.clone()), None).expect("the pack compiles")
}

fn bench_model_rules(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR") else {
        eprintln!("guardrail model rules not measured: SWITCHBOARD_EMBEDDING_MODEL_DIR is not set");
        return;
    };
    let models = SemanticModels::load(std::path::Path::new(&dir)).expect("the model loads");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let clean = clean_prompt();
    let mut group = c.benchmark_group("guardrail_model_rules");
    group.sample_size(20);
    let engine = injection_rule(&models, "injection.encoder");
    assert!(
        engine.has_async_rules(Phase::ToolResult),
        "the encoder runs"
    );
    group.bench_function("injection.encoder_4kb", |b| {
        b.iter(|| runtime.block_on(engine.check_async(Phase::ToolResult, black_box(&clean))))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_model_rules);
criterion_main!(benches);
