//! The cases file a guardrail report reads: `--file <path>`, or the
//! development half. Never the frozen test half.

use std::path::{Path, PathBuf};

pub fn from_args(args: &[String]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    args.iter()
        .position(|a| a == "--file")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| root.join("tests/eval/guardrails/dev.jsonl"), Into::into)
}
