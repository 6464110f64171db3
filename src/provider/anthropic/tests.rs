//! Golden tests of the Anthropic translation, one `check` per direction.

use super::request::translate;
use super::response::{StreamTranslator, complete};
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::provider::golden::{self, cases, compare, outcome, parse_lines, sse_data, stream_lines};
use serde_json::Value;

const CREATED: u64 = 1_700_000_000;

/// OpenAI request → Anthropic body (model `claude-test`, default max_tokens 1024).
fn check_request(input: &str) -> Value {
    let request: ChatRequest = decode_json(input.as_bytes()).expect("golden input decodes");
    request
        .check()
        .expect("golden input passes the front door's checks");
    outcome(translate(&request, "claude-test", 1024))
}

fn check_response(input: &str) -> Value {
    let message: Value = serde_json::from_str(input).unwrap();
    complete(&message, CREATED).map(|(body, _)| body).unwrap()
}

fn check_stream(input: &str) -> Vec<Value> {
    let mut translator = StreamTranslator::new(CREATED);
    let mut items = Vec::new();
    for data in sse_data(input) {
        match translator.event(&data) {
            Ok(more) => items.extend(more.into_iter().map(Ok)),
            Err(error) => {
                items.push(Err(error));
                break;
            }
        }
    }
    stream_lines(items)
}

#[test]
fn requests() {
    let mut failures = Vec::new();
    for (case, input, want) in cases("anthropic", "request") {
        let want: Value = serde_json::from_str(&want).unwrap();
        compare(&mut failures, &case, &check_request(&input), &want);
    }
    golden::check_all(failures);
}

#[test]
fn responses() {
    let mut failures = Vec::new();
    for (case, input, want) in cases("anthropic", "response") {
        let want: Value = serde_json::from_str(&want).unwrap();
        compare(&mut failures, &case, &check_response(&input), &want);
    }
    golden::check_all(failures);
}

#[test]
fn streams() {
    let mut failures = Vec::new();
    for (case, input, want) in cases("anthropic", "stream") {
        let got = Value::Array(check_stream(&input));
        compare(
            &mut failures,
            &case,
            &got,
            &Value::Array(parse_lines(&want)),
        );
    }
    golden::check_all(failures);
}

#[test]
fn usage_counts_cache_reads_and_writes_as_prompt_tokens() {
    let usage = super::response::usage(&serde_json::json!({
        "input_tokens": 10, "output_tokens": 5,
        "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}));
    assert_eq!(
        usage,
        crate::cost::Usage {
            prompt_tokens: 1110,
            completion_tokens: 5,
            cached_prompt_tokens: 1000
        }
    );
}
