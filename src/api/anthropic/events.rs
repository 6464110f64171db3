//! An OpenAI chunk stream → Anthropic SSE events, one chunk at a time:
//! `message_start`, then per content block `content_block_start`, deltas
//! (`text_delta`, `input_json_delta`) and `content_block_stop`, then
//! `message_delta` (stop reason, usage) and `message_stop`. An error event of
//! the OpenAI stream becomes an Anthropic `error` event.

use super::error::error_type;
use super::reply::{stop_reason, usage};
use bytes::Bytes;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text(usize),
    /// OpenAI tool-call index, Anthropic block index.
    Tool(u64, usize),
}

pub struct EventTranslator {
    id: String,
    model: String,
    started: bool,
    open: Option<Block>,
    blocks: usize,
    /// OpenAI tool-call index → Anthropic block index.
    tools: Vec<(u64, usize)>,
    finish: Option<String>,
    usage: Option<Value>,
    pub finished: bool,
}

/// `event: <name>\ndata: <json>\n\n`
pub fn sse(name: &str, data: &Value) -> Bytes {
    crate::shapes::named_sse_event(name, data.to_string().as_bytes())
}

impl EventTranslator {
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            started: false,
            open: None,
            blocks: 0,
            tools: Vec::new(),
            finish: None,
            usage: None,
            finished: false,
        }
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            let message = json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}});
            out.push(sse("message_start", &message));
        }
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if let Some(block) = self.open.take() {
            let index = match block {
                Block::Text(index) | Block::Tool(_, index) => index,
            };
            out.push(sse(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open_block(
        &mut self,
        block: impl FnOnce(usize) -> (Block, Value),
        out: &mut Vec<Bytes>,
    ) -> usize {
        self.close(out);
        let index = self.blocks;
        self.blocks += 1;
        let (block, content_block) = block(index);
        self.open = Some(block);
        out.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        index
    }

    /// The Anthropic events for one `data:` payload of the OpenAI stream.
    pub fn data(&mut self, data: &str) -> Vec<Bytes> {
        let mut out = Vec::new();
        if data == "[DONE]" {
            self.done(&mut out);
            return out;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return self.error(
                "api_error",
                "the gateway received an unreadable stream event",
            );
        };
        if let Some(error) = chunk.get("error") {
            let kind = error
                .get("code")
                .and_then(Value::as_str)
                .map_or("api_error", |code| match code {
                    "gateway_timeout" => "timeout_error",
                    _ => "api_error",
                });
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the stream failed");
            return self.error(kind, message);
        }
        self.start(&mut out);
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return out;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let index = match self.open {
                Some(Block::Text(index)) => index,
                _ => self.open_block(
                    |i| (Block::Text(i), json!({"type": "text", "text": ""})),
                    &mut out,
                ),
            };
            out.push(sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let index = match self.tools.iter().find(|(t, _)| *t == tool) {
                Some((_, index)) => *index,
                None => {
                    let id = call.get("id").cloned().unwrap_or(Value::Null);
                    let name = call
                        .pointer("/function/name")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let index = self.open_block(
                        |i| {
                            (
                                Block::Tool(tool, i),
                                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                            )
                        },
                        &mut out,
                    );
                    self.tools.push((tool, index));
                    index
                }
            };
            if let Some(arguments) = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                out.push(sse(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                ));
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(reason.to_owned());
        }
        out
    }

    fn done(&mut self, out: &mut Vec<Bytes>) {
        self.start(out);
        self.close(out);
        self.finished = true;
        let delta = json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish.as_deref().or(Some("stop"))), "stop_sequence": null},
            "usage": usage(self.usage.as_ref())});
        out.push(sse("message_delta", &delta));
        out.push(sse("message_stop", &json!({"type": "message_stop"})));
    }

    fn error(&mut self, kind: &str, message: &str) -> Vec<Bytes> {
        self.finished = true;
        vec![sse(
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        )]
    }

    /// The upstream stream ended without `[DONE]` or an error event.
    pub fn ended_early(&mut self) -> Vec<Bytes> {
        self.error("api_error", "the stream ended before it was complete")
    }

    /// For `status` codes: keeps `error_type` in one place.
    pub fn error_for_status(&mut self, status: u16, message: &str) -> Vec<Bytes> {
        self.error(error_type(status), message)
    }
}
