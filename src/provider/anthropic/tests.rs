//! Golden tests of the Anthropic translation, one `check` per direction.

use super::request::translate;
use super::response::{StreamTranslator, complete};
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::provider::golden::{self, outcome, sse_data, stream_lines};
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
    golden::run("anthropic", "request", check_request);
}

#[test]
fn responses() {
    golden::run("anthropic", "response", check_response);
}

#[test]
fn streams() {
    golden::run("anthropic", "stream", |input| {
        Value::Array(check_stream(input))
    });
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
