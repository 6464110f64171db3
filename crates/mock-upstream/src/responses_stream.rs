//! The Responses API's event stream for `stream: true`, as OpenAI sends it:
//! `response.created`, `response.in_progress`, `response.output_item.added`,
//! `response.content_part.added`, one `response.output_text.delta` per
//! word, `response.output_text.done`, `response.content_part.done`,
//! `response.output_item.done`, then `response.completed` (or
//! `response.incomplete`) with the whole response and its usage. Each event
//! is `event: <type>` and `data: <json>` with its `sequence_number`.

use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::responses::{Answer, Asked};
use super::responses_object::{
    call_id, item_id, message_item, new_id, response_object, response_shell,
};
use super::responses_tools::call_item;
use super::wire_common;

/// How many deltas `fault-truncate` sends before the body ends.
const TRUNCATE_AFTER: usize = 2;

struct Events {
    out: Vec<Bytes>,
    sequence: u64,
}

impl Events {
    fn push(&mut self, mut event: Value) {
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        self.out
            .push(Bytes::from(format!("event: {kind}\ndata: {event}\n\n")));
    }
}

/// OpenAI pads each delta with a random `obfuscation` field unless the
/// client turned it off (`stream_options.include_obfuscation: false`).
fn obfuscation(asked: &Asked, delta: &str) -> Option<String> {
    let off = asked
        .body
        .get("stream_options")
        .and_then(|o| o.get("include_obfuscation"))
        == Some(&Value::Bool(false));
    if off {
        return None;
    }
    let pad = 16usize.saturating_sub(delta.len()).max(1);
    Some(uuid::Uuid::new_v4().simple().to_string()[..pad.min(32)].to_owned())
}

pub(crate) fn response(asked: &Asked, answer: &Answer, truncate: bool) -> Response {
    let id = new_id("resp");
    let item_id = item_id(answer);
    let mut events = Events {
        out: Vec::new(),
        sequence: 0,
    };
    let shell = response_shell(asked, &id, "in_progress");
    events.push(json!({"type": "response.created", "response": shell}));
    events.push(json!({"type": "response.in_progress", "response": shell}));
    if let Some(call) = &answer.call {
        function_call(&mut events, &item_id, call);
        let object = response_object(asked, answer, &id, &item_id);
        events.push(json!({"type": "response.completed", "response": object}));
        return wire_common::sse_response(events.out, Duration::from_millis(1));
    }
    events.push(json!({
        "type": "response.output_item.added", "output_index": 0,
        "item": message_item(&item_id, "", "in_progress"),
    }));
    events.push(json!({
        "type": "response.content_part.added", "item_id": item_id,
        "output_index": 0, "content_index": 0,
        "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
    }));
    for (i, delta) in wire_common::echo_words(&answer.text).iter().enumerate() {
        if truncate && i == TRUNCATE_AFTER {
            // A cut connection: no terminal event ever comes.
            return wire_common::sse_response(events.out, Duration::from_millis(1));
        }
        let mut event = json!({
            "type": "response.output_text.delta", "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": delta, "logprobs": [],
        });
        if let Some(pad) = obfuscation(asked, delta) {
            event["obfuscation"] = json!(pad);
        }
        events.push(event);
    }
    let part =
        json!({"type": "output_text", "annotations": [], "logprobs": [], "text": answer.text});
    events.push(json!({
        "type": "response.output_text.done", "item_id": item_id,
        "output_index": 0, "content_index": 0, "text": answer.text, "logprobs": [],
    }));
    events.push(json!({
        "type": "response.content_part.done", "item_id": item_id,
        "output_index": 0, "content_index": 0, "part": part,
    }));
    events.push(json!({
        "type": "response.output_item.done", "output_index": 0,
        "item": message_item(&item_id, &answer.text, "completed"),
    }));
    let object = response_object(asked, answer, &id, &item_id);
    let terminal = if answer.incomplete {
        "response.incomplete"
    } else {
        "response.completed"
    };
    events.push(json!({"type": terminal, "response": object}));
    wire_common::sse_response(events.out, Duration::from_millis(1))
}

/// A function call's events: the item, its arguments in one delta, done.
fn function_call(events: &mut Events, item_id: &str, call: &(String, Value)) {
    let call_id = call_id(item_id);
    let arguments = call.1.to_string();
    events.push(json!({
        "type": "response.output_item.added", "output_index": 0,
        "item": call_item(item_id, &call_id, call, "in_progress"),
    }));
    events.push(json!({
        "type": "response.function_call_arguments.delta", "item_id": item_id,
        "output_index": 0, "delta": arguments,
    }));
    events.push(json!({
        "type": "response.function_call_arguments.done", "item_id": item_id,
        "output_index": 0, "arguments": arguments,
    }));
    events.push(json!({
        "type": "response.output_item.done", "output_index": 0,
        "item": call_item(item_id, &call_id, call, "completed"),
    }));
}
