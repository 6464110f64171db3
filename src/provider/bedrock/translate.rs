//! OpenAI chat ↔ AWS Bedrock Converse. Pure: `created` is passed in.
//!
//! Rules (Converse's constraints in brackets):
//! - `system`/`developer` messages → top-level `system` blocks;
//! - turns of one role are merged, tool messages become `toolResult` blocks
//!   of a user turn [roles alternate, the first is user]; a conversation that
//!   starts with an assistant turn is rejected (400);
//! - images must be `data:` URLs of png/jpeg/gif/webp [bytes only]; others 400;
//! - `tool_choice: "none"` is dropped with a warning [Converse has no "none"];
//! - fields in `RULES` are dropped with a warning or rejected with a 400.

use super::super::fields::{self, Rule, invalid};
use super::super::turns::{self, TurnWire};
use crate::api::chat::{ChatRequest, Message};
use crate::cost::Usage;
use crate::error::GatewayError;
use crate::provider::StreamItem;
use crate::provider::anthropic::response::openai_usage;
use bytes::Bytes;
use serde_json::{Map, Value, json};

const TRANSLATED: &[&str] = &["tools", "tool_choice", "stop", "temperature", "top_p", "n"];

pub const RULES: &[(&str, Rule)] = &[
    ("logprobs", Rule::Reject),
    ("top_logprobs", Rule::Reject),
    ("logit_bias", Rule::Reject),
    ("audio", Rule::Reject),
    ("modalities", Rule::Reject),
    ("prediction", Rule::Reject),
    ("response_format", Rule::Reject),
    ("presence_penalty", Rule::Drop),
    ("frequency_penalty", Rule::Drop),
    ("seed", Rule::Drop),
    ("parallel_tool_calls", Rule::Drop),
    ("user", Rule::Drop),
    ("service_tier", Rule::Drop),
    ("store", Rule::Drop),
    ("metadata", Rule::Drop),
    ("reasoning_effort", Rule::Drop),
];

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];

pub fn request(request: &ChatRequest) -> Result<Value, GatewayError> {
    fields::apply("the bedrock wire format", &request.extra, TRANSLATED, RULES)?;
    if request
        .extra
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(invalid(
            "n",
            "`n` above 1 is not supported by the bedrock wire format",
        ));
    }
    let (system, turns) = turns::fold(
        &request.messages,
        &TurnWire {
            name: "the bedrock wire format",
            assistant_role: "assistant",
            system: |text| json!({"text": text}),
            user: &user_blocks,
            assistant: &assistant_blocks,
            tool: &tool_result,
        },
    )?;
    match turns.first() {
        Some(("user", _)) => {}
        Some(_) => {
            return Err(invalid(
                "messages",
                "Bedrock needs the conversation to start with a user message",
            ));
        }
        None => return Err(invalid("messages", "no user or assistant message to send")),
    }
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        turns
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect(),
    );
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut config = Map::new();
    if let Some(max) = request.max_output_tokens() {
        config.insert("maxTokens".into(), max.into());
    }
    for (openai, bedrock) in [("temperature", "temperature"), ("top_p", "topP")] {
        if let Some(value) = request.extra.get(openai).filter(|v| !v.is_null()) {
            config.insert(bedrock.into(), value.clone());
        }
    }
    match request.extra.get("stop") {
        Some(Value::String(stop)) => {
            config.insert("stopSequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            config.insert("stopSequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if !config.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(config));
    }
    if let Some(tool_config) = tool_config(request)? {
        body.insert("toolConfig".into(), tool_config);
    }
    Ok(Value::Object(body))
}

fn tool_config(request: &ChatRequest) -> Result<Option<Value>, GatewayError> {
    let Some(Value::Array(tools)) = request.extra.get("tools") else {
        return Ok(None);
    };
    let mut specs = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        let function = tool
            .get("function")
            .filter(|_| tool.get("type").and_then(Value::as_str) == Some("function"))
            .ok_or_else(|| {
                invalid(
                    format!("tools[{index}].type"),
                    "only `function` tools are supported by the bedrock wire format",
                )
            })?;
        let mut spec = Map::new();
        spec.insert(
            "name".into(),
            function.get("name").cloned().unwrap_or(Value::Null),
        );
        if let Some(description) = function.get("description") {
            spec.insert("description".into(), description.clone());
        }
        let schema = function
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        spec.insert("inputSchema".into(), json!({"json": schema}));
        specs.push(json!({"toolSpec": spec}));
    }
    if specs.is_empty() {
        return Ok(None);
    }
    let mut config = json!({"tools": specs});
    match request.extra.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(mode)) => match mode.as_str() {
            "auto" => config["toolChoice"] = json!({"auto": {}}),
            "required" => config["toolChoice"] = json!({"any": {}}),
            "none" => tracing::warn!(
                field = "tool_choice",
                wire = "bedrock",
                "Converse has no `none` tool choice; dropped"
            ),
            _ => {
                return Err(invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{mode}`"),
                ));
            }
        },
        Some(object) => {
            let name = object
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice", "`tool_choice` names no function"))?;
            config["toolChoice"] = json!({"tool": {"name": name}});
        }
    }
    Ok(Some(config))
}

fn user_blocks(index: usize, content: Option<&Value>) -> Result<Vec<Value>, GatewayError> {
    match content {
        Some(Value::String(text)) => Ok(vec![json!({"text": text})]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(part_index, part)| {
                let path = format!("messages[{index}].content[{part_index}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => Ok(json!({"text": part.get("text").and_then(Value::as_str).unwrap_or("")})),
                    Some("image_url") => {
                        let url = part.pointer("/image_url/url").and_then(Value::as_str).unwrap_or("");
                        let format = fields::data_url(url)
                            .and_then(|(media, data)| Some((media.strip_prefix("image/")?, data)))
                            .filter(|(format, _)| IMAGE_FORMATS.contains(format));
                        let (format, data) = format.ok_or_else(|| {
                            invalid(format!("{path}.image_url.url"), "the bedrock wire format takes png, jpeg, gif or webp images as data: URLs only")
                        })?;
                        Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
                    }
                    other => Err(invalid(
                        format!("{path}.type"),
                        format!("content part type `{}` is not supported by the bedrock wire format", other.unwrap_or("(none)")),
                    )),
                }
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

fn assistant_blocks(index: usize, message: &Message) -> Result<Vec<Value>, GatewayError> {
    let mut blocks = Vec::new();
    let text = fields::content_text(message.content.as_ref());
    if !text.is_empty() {
        blocks.push(json!({"text": text}));
    }
    if let Some(Value::Array(calls)) = message.extra.get("tool_calls") {
        for (call_index, call) in calls.iter().enumerate() {
            let path = format!("messages[{index}].tool_calls[{call_index}].function");
            let input = fields::tool_call_arguments(call, format!("{path}.arguments"))?;
            blocks.push(json!({"toolUse": {"toolUseId": call.get("id"), "name": call.pointer("/function/name"), "input": input}}));
        }
    }
    Ok(blocks)
}

fn tool_result(index: usize, message: &Message) -> Result<Value, GatewayError> {
    let id = message
        .extra
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid(
                format!("messages[{index}].tool_call_id"),
                "a tool message needs `tool_call_id`",
            )
        })?;
    let text = fields::content_text(message.content.as_ref());
    Ok(json!({"toolResult": {"toolUseId": id, "content": [{"text": text}]}}))
}

pub fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

pub fn usage(value: Option<&Value>) -> Usage {
    let get = |key: &str| {
        value
            .and_then(|u| u.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cache_read = get("cacheReadInputTokens");
    Usage {
        prompt_tokens: get("inputTokens") + cache_read + get("cacheWriteInputTokens"),
        completion_tokens: get("outputTokens"),
        cached_prompt_tokens: cache_read,
    }
}

pub fn complete(response: &Value, model: &str, created: u64) -> Result<(Value, Usage), String> {
    let blocks = response
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or("no output message")?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = block.get("toolUse") {
            calls.push(json!({"id": call.get("toolUseId"), "type": "function", "function": {
                "name": call.get("name"), "arguments": call.get("input").map_or_else(|| "{}".to_owned(), Value::to_string)}}));
        }
    }
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let usage = usage(response.get("usage"));
    let stop = response
        .get("stopReason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let body = json!({"id": "", "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(stop)}],
        "usage": openai_usage(&usage)});
    Ok((body, usage))
}

/// Converse stream events (`:event-type` and JSON payload) → OpenAI chunks.
/// The stream is complete after `metadata`, which follows `messageStop`.
pub struct StreamTranslator {
    model: String,
    created: u64,
    /// Converse content-block index → OpenAI tool-call index.
    tools: Vec<(u64, usize)>,
    pub finished: bool,
}

impl StreamTranslator {
    pub fn new(model: &str, created: u64) -> Self {
        Self {
            model: model.to_owned(),
            created,
            tools: Vec::new(),
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> StreamItem {
        StreamItem::Chunk(Bytes::from(
            json!({"id": "", "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            .to_string(),
        ))
    }

    /// `kind` is the `:event-type`, or for an exception `:exception-type`.
    pub fn event(
        &mut self,
        kind: &str,
        exception: bool,
        payload: &[u8],
    ) -> Result<Vec<StreamItem>, GatewayError> {
        let event: Value =
            serde_json::from_slice(payload).map_err(|_| GatewayError::UpstreamFailed {
                message: "the Bedrock stream sent invalid JSON".to_owned(),
            })?;
        if exception {
            let message = event
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(GatewayError::UpstreamFailed {
                message: format!("the Bedrock stream failed: {kind}: {message}"),
            });
        }
        let block = event
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok(match kind {
            "messageStart" => vec![self.chunk(json!({"role": "assistant", "content": ""}), None)],
            "contentBlockStart" => match event.pointer("/start/toolUse") {
                Some(tool) => {
                    let index = self.tools.len();
                    self.tools.push((block, index));
                    vec![self.chunk(json!({"tool_calls": [{"index": index, "id": tool.get("toolUseId"), "type": "function",
                        "function": {"name": tool.get("name"), "arguments": ""}}]}), None)]
                }
                None => Vec::new(),
            },
            "contentBlockDelta" => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    vec![self.chunk(json!({"content": text}), None)]
                } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str)
                {
                    let index = self.tools.iter().find(|(b, _)| *b == block).map(|(_, i)| *i).ok_or_else(|| {
                        GatewayError::UpstreamFailed { message: "the Bedrock stream sent tool input for a block that is not a tool call".to_owned() }
                    })?;
                    vec![self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": input}}]}),
                        None,
                    )]
                } else {
                    Vec::new()
                }
            }
            "messageStop" => {
                let stop = event
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                vec![self.chunk(json!({}), Some(finish_reason(stop)))]
            }
            "metadata" => {
                self.finished = true;
                let usage = openai_usage(&usage(event.get("usage")));
                let chunk = json!({"id": "", "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage});
                vec![
                    StreamItem::Chunk(Bytes::from(chunk.to_string())),
                    StreamItem::Done,
                ]
            }
            // contentBlockStop, and event types added later
            _ => Vec::new(),
        })
    }
}

/// `(message, type)` of a Bedrock error body, `{"message": "..."}`.
pub fn error_body(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .get("message")
        .or_else(|| value.get("Message"))?
        .as_str()?;
    Some((message.to_owned(), "upstream_error".to_owned()))
}
