//! Golden tests of the Bedrock translation. Stream cases are written as JSON
//! lines (`{"event": ..., "payload": ...}` or `{"exception": ..., ...}`),
//! encoded into real event-stream frames and fed to the decoder in small
//! pieces, so frame boundaries never line up with reads.

use super::FrameReader;
use super::translate::{StreamTranslator, complete, request};
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::provider::golden::{self, outcome, parse_lines, stream_lines};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
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
    complete(&response, "bedrock-test", CREATED)
        .map(|(body, _)| body)
        .unwrap()
}

/// Event-stream bytes for the JSON-lines description of a stream.
pub fn frames(input: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in parse_lines(input) {
        let payload = line["payload"].to_string();
        let message = match line.get("exception").and_then(Value::as_str) {
            Some(kind) => Message::new(payload.into_bytes())
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String("exception".into()),
                ))
                .add_header(Header::new(
                    ":exception-type",
                    HeaderValue::String(kind.to_owned().into()),
                )),
            None => Message::new(payload.into_bytes())
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String("event".into()),
                ))
                .add_header(Header::new(
                    ":event-type",
                    HeaderValue::String(line["event"].as_str().unwrap().to_owned().into()),
                ))
                .add_header(Header::new(
                    ":content-type",
                    HeaderValue::String("application/json".into()),
                )),
        };
        write_message_to(&message, &mut out).unwrap();
    }
    out
}

fn check_stream(input: &str) -> Vec<Value> {
    let mut reader = FrameReader::new(StreamTranslator::new("bedrock-test", CREATED));
    let mut items = Vec::new();
    for piece in frames(input).chunks(7) {
        match reader.push(piece) {
            Ok(more) => items.extend(more.into_iter().map(Ok)),
            Err(error) => {
                items.push(Err(error));
                return stream_lines(items);
            }
        }
    }
    if let Err(error) = reader.end() {
        items.push(Err(error));
    }
    stream_lines(items)
}

#[test]
fn requests() {
    golden::run("bedrock", "request", check_request);
}

#[test]
fn responses() {
    golden::run("bedrock", "response", check_response);
}

#[test]
fn streams() {
    golden::run("bedrock", "stream", |input| {
        Value::Array(check_stream(input))
    });
}

#[test]
fn model_ids_are_one_path_segment() {
    assert_eq!(
        super::encode_model_id("anthropic.claude-x-v1:0"),
        "anthropic.claude-x-v1%3A0"
    );
    assert_eq!(super::encode_model_id("a/b c"), "a%2Fb%20c");
}
