//! A chat chunk stream → the Responses event stream, one chunk at a time:
//! `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, its deltas (`response.output_text.delta`,
//! `response.function_call_arguments.delta`) and its `.done` events, then
//! `response.completed` (or `response.incomplete`) with the whole response
//! and usage. An error in the chat stream, or a stream that ends before
//! `[DONE]`, becomes `response.failed`.

use super::new_id;
use super::reply::{self, status};
use super::request::ResponsesRequest;
use bytes::Bytes;
use serde_json::{Value, json};

/// `event: <type>\ndata: <json>\n\n`: Responses events are named by their type.
fn sse(data: &Value) -> Bytes {
    let name = data["type"].as_str().unwrap_or("message");
    crate::shapes::named_sse_event(name, data.to_string().as_bytes())
}

struct Message {
    output_index: usize,
    id: String,
    text: String,
}

struct Call {
    /// The chat tool-call index.
    index: u64,
    output_index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

pub struct EventTranslator {
    request: ResponsesRequest,
    id: String,
    created_at: u64,
    sequence: u64,
    started: bool,
    message: Option<Message>,
    calls: Vec<Call>,
    /// Finished output items, in output order.
    output: Vec<(usize, Value)>,
    next_output: usize,
    finish: Option<String>,
    usage: Option<Value>,
    /// The final response, once the stream has ended (completed or failed).
    pub finished: Option<Value>,
}

impl EventTranslator {
    pub fn new(request: ResponsesRequest, id: String, created_at: u64) -> Self {
        Self {
            request,
            id,
            created_at,
            sequence: 0,
            started: false,
            message: None,
            calls: Vec::new(),
            output: Vec::new(),
            next_output: 0,
            finish: None,
            usage: None,
            finished: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<Bytes>, mut event: Value) {
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(sse(&event));
    }

    fn snapshot(&self, status: &str) -> Value {
        let mut output = self.output.clone();
        output.sort_by_key(|(index, _)| *index);
        reply::response(
            &self.request,
            &self.id,
            self.created_at,
            status,
            output.into_iter().map(|(_, item)| item).collect(),
            reply::usage(self.usage.as_ref()),
            Value::Null,
        )
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            let mut response = self.snapshot("in_progress");
            response["usage"] = Value::Null;
            self.emit(
                out,
                json!({"type": "response.created", "response": response}),
            );
            self.emit(
                out,
                json!({"type": "response.in_progress", "response": response}),
            );
        }
    }

    fn text_delta(&mut self, out: &mut Vec<Bytes>, delta: &str) {
        if self.message.is_none() {
            let message = Message {
                output_index: self.next_output,
                id: new_id("msg"),
                text: String::new(),
            };
            self.next_output += 1;
            let item = json!({"type": "message", "id": message.id, "status": "in_progress",
                              "role": "assistant", "content": []});
            let (index, id) = (message.output_index, message.id.clone());
            self.message = Some(message);
            self.emit(
                out,
                json!({"type": "response.output_item.added", "output_index": index, "item": item}),
            );
            self.emit(
                out,
                json!({"type": "response.content_part.added", "item_id": id,
                "output_index": index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
        }
        let Some(message) = self.message.as_mut() else {
            return;
        };
        message.text.push_str(delta);
        let (index, id) = (message.output_index, message.id.clone());
        self.emit(
            out,
            json!({"type": "response.output_text.delta", "item_id": id,
            "output_index": index, "content_index": 0, "delta": delta, "logprobs": []}),
        );
    }

    fn call_delta(&mut self, out: &mut Vec<Bytes>, call: &Value) {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let position = match self.calls.iter().position(|c| c.index == index) {
            Some(position) => position,
            None => {
                let new = Call {
                    index,
                    output_index: self.next_output,
                    id: new_id("fc"),
                    call_id: call
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: String::new(),
                };
                self.next_output += 1;
                let item = json!({"type": "function_call", "id": new.id, "call_id": new.call_id,
                    "name": new.name, "arguments": "", "status": "in_progress"});
                let output_index = new.output_index;
                self.calls.push(new);
                self.emit(
                    out,
                    json!({"type": "response.output_item.added",
                    "output_index": output_index, "item": item}),
                );
                self.calls.len() - 1
            }
        };
        if let Some(delta) = call.pointer("/function/arguments").and_then(Value::as_str)
            && !delta.is_empty()
        {
            let entry = &mut self.calls[position];
            entry.arguments.push_str(delta);
            let (id, output_index) = (entry.id.clone(), entry.output_index);
            self.emit(
                out,
                json!({"type": "response.function_call_arguments.delta",
                "item_id": id, "output_index": output_index, "delta": delta}),
            );
        }
    }

    /// Close every open item, in output order.
    fn close_items(&mut self, out: &mut Vec<Bytes>) {
        if let Some(message) = self.message.take() {
            let part = json!({"type": "output_text", "text": message.text, "annotations": []});
            self.emit(
                out,
                json!({"type": "response.output_text.done", "item_id": message.id,
                "output_index": message.output_index, "content_index": 0,
                "text": message.text, "logprobs": []}),
            );
            self.emit(
                out,
                json!({"type": "response.content_part.done", "item_id": message.id,
                "output_index": message.output_index, "content_index": 0, "part": part}),
            );
            let item = reply::message_item(&message.id, &message.text);
            self.emit(
                out,
                json!({"type": "response.output_item.done",
                "output_index": message.output_index, "item": item}),
            );
            self.output.push((message.output_index, item));
        }
        for call in std::mem::take(&mut self.calls) {
            self.emit(
                out,
                json!({"type": "response.function_call_arguments.done",
                "item_id": call.id, "output_index": call.output_index,
                "name": call.name, "arguments": call.arguments}),
            );
            let item =
                reply::function_call_item(&call.id, &call.call_id, &call.name, &call.arguments);
            self.emit(
                out,
                json!({"type": "response.output_item.done",
                "output_index": call.output_index, "item": item}),
            );
            self.output.push((call.output_index, item));
        }
    }

    /// One `data:` payload of the chat stream.
    pub fn data(&mut self, data: &str) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.finished.is_some() {
            return out;
        }
        self.start(&mut out);
        if data.trim() == "[DONE]" {
            self.complete(&mut out);
            return out;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return self.fail("the provider's stream could not be read");
        };
        if let Some(error) = chunk.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the upstream stream failed")
                .to_owned();
            let mut failed = self.fail(&message);
            out.append(&mut failed);
            return out;
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return out;
        };
        if let Some(delta) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !delta.is_empty()
        {
            self.text_delta(&mut out, delta);
        }
        if let Some(calls) = choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
        {
            for call in calls {
                self.call_delta(&mut out, call);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(reason.to_owned());
        }
        out
    }

    fn complete(&mut self, out: &mut Vec<Bytes>) {
        self.close_items(out);
        let (status, incomplete) = status(self.finish.as_deref());
        let mut response = self.snapshot(status);
        response["incomplete_details"] = incomplete;
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, json!({"type": kind, "response": response}));
        self.finished = Some(response);
    }

    /// The stream failed: what was built so far, as a failed response.
    pub fn fail(&mut self, message: &str) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.finished.is_some() {
            return out;
        }
        self.start(&mut out);
        self.close_items(&mut out);
        let mut response = self.snapshot("failed");
        response["error"] = json!({"code": "server_error", "message": message});
        self.emit(
            &mut out,
            json!({"type": "response.failed", "response": response}),
        );
        self.finished = Some(response);
        out
    }

    /// The chat stream ended without `[DONE]`.
    pub fn ended_early(&mut self) -> Vec<Bytes> {
        self.fail("the provider's stream ended before it was complete")
    }
}
