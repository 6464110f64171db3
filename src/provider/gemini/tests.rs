//! Golden tests of the Gemini translation, one `check` per direction.

use super::translate::{StreamTranslator, complete, request};
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::provider::golden::{self, outcome, sse_data, stream_lines};
use serde_json::Value;

const CREATED: u64 = 1_700_000_000;

fn check_request(input: &str) -> Value {
    let chat: ChatRequest = decode_json(input.as_bytes()).expect("golden input decodes");
    chat.check()
        .expect("golden input passes the front door's checks");
    outcome(request(&chat))
}

fn check_response(input: &str) -> Value {
    let response: Value = serde_json::from_str(input).unwrap();
    outcome(complete(&response, "gemini-test", CREATED).map(|(body, _)| body))
}

/// Each SSE event, then the end of the stream.
fn check_stream(input: &str) -> Vec<Value> {
    let mut translator = StreamTranslator::new("gemini-test", CREATED);
    let mut items = Vec::new();
    for data in sse_data(input) {
        match translator.event(&data) {
            Ok(more) => items.extend(more.into_iter().map(Ok)),
            Err(error) => {
                items.push(Err(error));
                return stream_lines(items);
            }
        }
    }
    match translator.end() {
        Ok(more) => items.extend(more.into_iter().map(Ok)),
        Err(error) => items.push(Err(error)),
    }
    stream_lines(items)
}

#[test]
fn requests() {
    golden::run("gemini", "request", check_request);
}

#[test]
fn responses() {
    golden::run("gemini", "response", check_response);
}

#[test]
fn streams() {
    golden::run("gemini", "stream", |input| {
        Value::Array(check_stream(input))
    });
}
