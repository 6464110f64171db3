//! The development data both injection trainers read, in one order (so
//! out-of-fold figures line up between them): the development half first,
//! then the older sets, then the training-only texts. Never the test half.

use crate::training;
use std::path::Path;
use switchboard::guardrails::evaluation::{self, Case};

const TRAINING_DIR: &str = "tests/eval/guardrails/train";

/// Every development text, and how many of them (the first) are the
/// development half.
pub fn load(root: &Path) -> (Vec<Case>, usize) {
    let read = |file: &str| std::fs::read_to_string(root.join(file)).expect(file);
    let mut cases = evaluation::parse(&read("tests/eval/guardrails/dev.jsonl")).expect("dev");
    let development_half = cases.len();
    for legacy in ["injection", "pii", "secrets"] {
        let file = format!("tests/guardrails_eval/{legacy}.jsonl");
        cases.extend(evaluation::parse_legacy(&read(&file)).expect("legacy"));
    }
    // Training-only texts, written apart from the packs like the halves but
    // in neither of them.
    for (path, text) in training::files(&root.join(TRAINING_DIR), "jsonl") {
        cases
            .extend(evaluation::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    (cases, development_half)
}

/// With `OOF_DUMP=<file>` set, writes one out-of-fold probability per line,
/// for a look at several scorers side by side outside the trainers.
pub fn dump_out_of_fold(probabilities: &[f32]) {
    if let Some(path) = std::env::var_os("OOF_DUMP") {
        let lines: Vec<String> = probabilities.iter().map(|p| format!("{p:.5}")).collect();
        std::fs::write(path, lines.join("\n") + "\n").expect("write the dump");
    }
}
