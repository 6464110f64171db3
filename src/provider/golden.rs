//! Golden-file cases for the wire translations: `<case>.in.<ext>` next to
//! `<case>.out.json` (or `.out.jsonl`) in `src/provider/<wire>/golden/<kind>/`.
//! A new case is a new pair of files.

use crate::error::GatewayError;
use crate::provider::StreamItem;
use serde_json::{Value, json};
use std::path::PathBuf;

/// `(case name, input text, expected output)` for every case of a kind; a
/// `.out.jsonl` file is read as an array of its lines.
fn cases(wire: &str, kind: &str) -> Vec<(String, String, Value)> {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "src",
        "provider",
        wire,
        "golden",
        kind,
    ]
    .iter()
    .collect();
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((case, _)) = name.split_once(".in.") else {
            continue;
        };
        let out = ["json", "jsonl"]
            .iter()
            .map(|ext| dir.join(format!("{case}.out.{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{case}: no .out.json(l) next to {name}"));
        let want_text = std::fs::read_to_string(&out).unwrap();
        let want = if out.extension().is_some_and(|ext| ext == "jsonl") {
            Value::Array(parse_lines(&want_text))
        } else {
            serde_json::from_str(&want_text).unwrap_or_else(|e| panic!("{case}: {e}"))
        };
        cases.push((
            case.to_owned(),
            std::fs::read_to_string(&path).unwrap(),
            want,
        ));
    }
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// A translation result as JSON: the value, or `{"error": {"status", "param"}}`.
pub fn outcome(result: Result<Value, GatewayError>) -> Value {
    match result {
        Ok(value) => value,
        Err(error) => {
            let param = match &error {
                GatewayError::InvalidRequest { param, .. } => param.clone(),
                _ => None,
            };
            json!({"error": {"status": error.status().as_u16(), "param": param}})
        }
    }
}

/// Stream items as JSON lines: chunks, `"[DONE]"`, or an error outcome.
pub fn stream_lines(items: Vec<Result<StreamItem, GatewayError>>) -> Vec<Value> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(StreamItem::Chunk(bytes)) => serde_json::from_slice(&bytes).unwrap(),
            Ok(StreamItem::Done) => json!("[DONE]"),
            Err(error) => outcome(Err(error)),
        })
        .collect()
}

/// The `data:` payloads of an SSE text (blank-line separated events).
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Every case of `wire`'s `kind` through `translate`, all mismatches
/// reported at once.
pub fn run(wire: &str, kind: &str, translate: impl Fn(&str) -> Value) {
    let failures: Vec<String> = cases(wire, kind)
        .into_iter()
        .filter_map(|(case, input, want)| {
            let got = translate(&input);
            (got != want).then(|| {
                format!(
                    "{case}:\n  got:  {}\n  want: {}",
                    serde_json::to_string(&got).unwrap(),
                    serde_json::to_string(&want).unwrap()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
