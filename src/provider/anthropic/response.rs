//! Anthropic Messages response and SSE events → OpenAI chat completion and
//! `chat.completion.chunk`s. Pure: `created` is passed in.
//!
//! Usage: Anthropic's `input_tokens` excludes cached tokens, OpenAI's
//! `prompt_tokens` includes them, so `prompt_tokens` = input + cache read +
//! cache write, and `cached_tokens` = cache read. (Cache writes are billed at
//! the plain input rate here: the price tables have no cache-write rate.)

use crate::cost::Usage;
use crate::error::GatewayError;
use crate::provider::StreamItem;
use bytes::Bytes;
use serde_json::{Value, json};

pub fn finish_reason(stop_reason: Option<&str>) -> Option<&'static str> {
    Some(match stop_reason? {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn
        _ => "stop",
    })
}

/// Usage from an Anthropic `usage` object.
pub fn usage(value: &Value) -> Usage {
    let get = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = get("cache_read_input_tokens");
    Usage {
        prompt_tokens: get("input_tokens") + cache_read + get("cache_creation_input_tokens"),
        completion_tokens: get("output_tokens"),
        cached_prompt_tokens: cache_read,
    }
}

pub fn openai_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
    })
}

/// A complete Anthropic message as an OpenAI chat completion.
pub fn complete(message: &Value, created: u64) -> Result<(Value, Usage), String> {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no `content` array")?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => tool_calls.push(json!({
                "id": block.get("id").cloned().unwrap_or(Value::Null),
                "type": "function",
                "function": {
                    "name": block.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            })),
            // thinking and redacted_thinking have no OpenAI counterpart.
            _ => {}
        }
    }
    let mut reply = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) },
    });
    if !tool_calls.is_empty() {
        reply["tool_calls"] = Value::Array(tool_calls);
    }
    let usage = usage(message.get("usage").unwrap_or(&Value::Null));
    let stop = message.get("stop_reason").and_then(Value::as_str);
    let body = json!({
        "id": message.get("id").cloned().unwrap_or(Value::Null),
        "object": "chat.completion",
        "created": created,
        "model": message.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{"index": 0, "message": reply, "logprobs": null, "finish_reason": finish_reason(stop)}],
        "usage": openai_usage(&usage),
    });
    Ok((body, usage))
}

/// Turns Anthropic stream events into OpenAI chunks, one event at a time.
pub struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    usage: Value,
    /// Anthropic content-block index → OpenAI tool-call index.
    tool_blocks: Vec<(u64, usize)>,
    finish: Option<&'static str>,
}

impl StreamTranslator {
    pub fn new(created: u64) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            usage: json!({}),
            tool_blocks: Vec::new(),
            finish: None,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> StreamItem {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        StreamItem::Chunk(Bytes::from(chunk.to_string()))
    }

    fn tool_index(&self, block: u64) -> Option<usize> {
        self.tool_blocks
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, t)| *t)
    }

    /// The OpenAI items for one SSE `data:` payload.
    pub fn event(&mut self, data: &str) -> Result<Vec<StreamItem>, GatewayError> {
        let broken = |what: &str| GatewayError::UpstreamFailed {
            message: format!("the Anthropic stream sent {what}"),
        };
        let event: Value = serde_json::from_str(data).map_err(|_| broken("invalid JSON"))?;
        let block_index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        Ok(match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message").ok_or_else(|| broken("no message"))?;
                let text = |key: &str| {
                    message
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                self.id = text("id");
                self.model = text("model");
                if let Some(usage) = message.get("usage") {
                    self.usage = usage.clone();
                }
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            Some("content_block_start") => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let index = self.tool_blocks.len();
                        self.tool_blocks.push((block_index, index));
                        vec![self.chunk(
                            json!({"tool_calls": [{"index": index, "id": block.get("id"), "type": "function",
                                "function": {"name": block.get("name"), "arguments": ""}}]}),
                            None,
                        )]
                    }
                    Some("text") => match block.get("text").and_then(Value::as_str) {
                        Some(text) if !text.is_empty() => {
                            vec![self.chunk(json!({"content": text}), None)]
                        }
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                }
            }
            Some("content_block_delta") => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => vec![self.chunk(json!({"content": delta.get("text")}), None)],
                    Some("input_json_delta") => match self.tool_index(block_index) {
                        Some(index) => vec![self.chunk(
                            json!({"tool_calls": [{"index": index, "function": {"arguments": delta.get("partial_json")}}]}),
                            None,
                        )],
                        None => return Err(broken("tool input for a block that is not a tool call")),
                    },
                    // thinking_delta, signature_delta, citations_delta
                    _ => Vec::new(),
                }
            }
            Some("message_delta") => {
                if let Some(usage) = event.get("usage").and_then(Value::as_object) {
                    for (key, value) in usage {
                        if !value.is_null() {
                            self.usage[key] = value.clone();
                        }
                    }
                }
                let stop = event.pointer("/delta/stop_reason").and_then(Value::as_str);
                self.finish = finish_reason(stop);
                vec![self.chunk(json!({}), self.finish)]
            }
            Some("message_stop") => {
                let usage = openai_usage(&usage(&self.usage));
                let chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage});
                vec![
                    StreamItem::Chunk(Bytes::from(chunk.to_string())),
                    StreamItem::Done,
                ]
            }
            Some("error") => {
                let message = event
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(GatewayError::UpstreamFailed {
                    message: format!("the Anthropic stream failed: {message}"),
                });
            }
            // ping, content_block_stop, and event types added later
            _ => Vec::new(),
        })
    }
}

/// `(message, type)` of an Anthropic error body.
pub fn error_body(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    Some((
        error.get("message")?.as_str()?.to_owned(),
        error
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("upstream_error")
            .to_owned(),
    ))
}
