//! OpenAI chat ↔ Gemini `generateContent`. Pure: `created` is passed in.
//!
//! Rules:
//! - `system`/`developer` messages → `systemInstruction`; `assistant` → role `model`;
//!   tool messages → `functionResponse` parts of a user turn, named after the
//!   assistant tool call they answer; turns of one role are merged.
//! - images must be `data:` URLs (→ `inlineData`); other URLs are rejected.
//! - safety: a prompt Gemini blocks (`promptFeedback.blockReason`) is a 400
//!   naming `messages` (the caller can change it); a response withheld for
//!   safety (`finishReason` SAFETY and friends, no content) is a 502.
//! - Gemini gives function calls no ids; they are numbered `call_<n>`.

use super::super::fields::{self, Rule, invalid};
use super::super::turns::{self, TurnWire};
use crate::api::chat::{ChatRequest, Message};
use crate::cost::Usage;
use crate::error::GatewayError;
use crate::provider::StreamItem;
use crate::provider::anthropic::response::openai_usage;
use bytes::Bytes;
use serde_json::{Map, Value, json};

const TRANSLATED: &[&str] = &[
    "tools",
    "tool_choice",
    "stop",
    "temperature",
    "top_p",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
];

pub const RULES: &[(&str, Rule)] = &[
    ("logprobs", Rule::Reject),
    ("top_logprobs", Rule::Reject),
    ("logit_bias", Rule::Reject),
    ("audio", Rule::Reject),
    ("modalities", Rule::Reject),
    ("prediction", Rule::Reject),
    ("parallel_tool_calls", Rule::Drop),
    ("user", Rule::Drop),
    ("service_tier", Rule::Drop),
    ("store", Rule::Drop),
    ("metadata", Rule::Drop),
    ("reasoning_effort", Rule::Drop),
];

/// Finish reasons that mean the answer was withheld.
const BLOCKED: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

pub fn request(request: &ChatRequest) -> Result<Value, GatewayError> {
    fields::apply("the gemini wire format", &request.extra, TRANSLATED, RULES)?;
    let mut body = Map::new();
    let tool =
        |index: usize, message: &Message| function_response(index, message, &request.messages);
    let (system, contents) = turns::fold(
        &request.messages,
        &TurnWire {
            name: "the gemini wire format",
            assistant_role: "model",
            system: |text| json!({"text": text}),
            user: &user_parts,
            assistant: &model_parts,
            tool: &tool,
        },
    )?;
    if contents.is_empty() {
        return Err(invalid("messages", "no user or assistant message to send"));
    }
    body.insert(
        "contents".into(),
        contents
            .into_iter()
            .map(|(role, parts)| json!({"role": role, "parts": parts}))
            .collect(),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    tools(request, &mut body)?;
    let config = generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

fn generation_config(request: &ChatRequest) -> Result<Map<String, Value>, GatewayError> {
    let mut config = Map::new();
    let extra = &request.extra;
    for (openai, gemini) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(value) = extra.get(openai).filter(|v| !v.is_null()) {
            config.insert(gemini.into(), value.clone());
        }
    }
    if let Some(max) = request.max_output_tokens() {
        config.insert("maxOutputTokens".into(), max.into());
    }
    match extra.get("stop") {
        Some(Value::String(stop)) => {
            config.insert("stopSequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            config.insert("stopSequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(format) = extra.get("response_format").filter(|v| !v.is_null()) {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), "application/json".into());
                if let Some(schema) = format.pointer("/json_schema/schema") {
                    config.insert("responseJsonSchema".into(), schema.clone());
                }
            }
            _ => return Err(invalid("response_format.type", "unknown response format")),
        }
    }
    Ok(config)
}

fn tools(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), GatewayError> {
    if let Some(Value::Array(tools)) = request.extra.get("tools") {
        let mut declarations = Vec::new();
        for (index, tool) in tools.iter().enumerate() {
            let function = tool
                .get("function")
                .filter(|_| tool.get("type").and_then(Value::as_str) == Some("function"))
                .ok_or_else(|| {
                    invalid(
                        format!("tools[{index}].type"),
                        "only `function` tools are supported by the gemini wire format",
                    )
                })?;
            let mut declaration = Map::new();
            for key in ["name", "description", "parameters"] {
                if let Some(value) = function.get(key) {
                    declaration.insert(key.into(), value.clone());
                }
            }
            declarations.push(Value::Object(declaration));
        }
        if !declarations.is_empty() {
            body.insert(
                "tools".into(),
                json!([{"functionDeclarations": declarations}]),
            );
        }
    }
    let config = match request.extra.get("tool_choice") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(mode)) => match mode.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "required" => json!({"mode": "ANY"}),
            "none" => json!({"mode": "NONE"}),
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
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
    };
    body.insert(
        "toolConfig".into(),
        json!({"functionCallingConfig": config}),
    );
    Ok(())
}

fn user_parts(index: usize, content: Option<&Value>) -> Result<Vec<Value>, GatewayError> {
    match content {
        Some(Value::String(text)) => Ok(vec![json!({"text": text})]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(part_index, part)| {
                let path = format!("messages[{index}].content[{part_index}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        Ok(json!({"text": part.get("text").and_then(Value::as_str).unwrap_or("")}))
                    }
                    Some("image_url") => {
                        let url = part
                            .pointer("/image_url/url")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let (mime_type, data) = fields::data_url(url).ok_or_else(|| {
                            invalid(
                                format!("{path}.image_url.url"),
                                "the gemini wire format takes images as data: URLs only",
                            )
                        })?;
                        Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}))
                    }
                    other => Err(invalid(
                        format!("{path}.type"),
                        format!(
                            "content part type `{}` is not supported by the gemini wire format",
                            other.unwrap_or("(none)")
                        ),
                    )),
                }
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

fn model_parts(index: usize, message: &Message) -> Result<Vec<Value>, GatewayError> {
    let mut parts = Vec::new();
    let text = fields::content_text(message.content.as_ref());
    if !text.is_empty() {
        parts.push(json!({"text": text}));
    }
    if let Some(Value::Array(calls)) = message.extra.get("tool_calls") {
        for (call_index, call) in calls.iter().enumerate() {
            let path = format!("messages[{index}].tool_calls[{call_index}].function");
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let args = fields::tool_call_arguments(call, format!("{path}.arguments"))?;
            parts.push(json!({"functionCall": {"name": name, "args": args}}));
        }
    }
    Ok(parts)
}

fn function_response(
    index: usize,
    message: &Message,
    all: &[Message],
) -> Result<Value, GatewayError> {
    let id = message
        .extra
        .get("tool_call_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Gemini matches results to calls by function name.
    let name = all[..index]
        .iter()
        .rev()
        .filter_map(|m| m.extra.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .find(|call| call.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|call| call.pointer("/function/name").and_then(Value::as_str))
        .ok_or_else(|| {
            invalid(
                format!("messages[{index}].tool_call_id"),
                format!("no earlier assistant tool call has id `{id}`"),
            )
        })?;
    let text = fields::content_text(message.content.as_ref());
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({"content": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

pub fn usage(metadata: Option<&Value>) -> Usage {
    let get = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Usage {
        prompt_tokens: get("promptTokenCount"),
        // Thinking tokens are billed as output.
        completion_tokens: get("candidatesTokenCount") + get("thoughtsTokenCount"),
        cached_prompt_tokens: get("cachedContentTokenCount"),
    }
}

fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        _ => "stop",
    }
}

/// A 400 for a blocked prompt, a 502 for a withheld answer, else `None`.
fn safety_error(response: &Value) -> Option<GatewayError> {
    if let Some(reason) = response
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Some(invalid(
            "messages",
            format!("Gemini blocked the prompt (blockReason {reason})"),
        ));
    }
    let reason = response
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)?;
    BLOCKED
        .contains(&reason)
        .then(|| GatewayError::UpstreamFailed {
            message: format!("Gemini withheld the answer (finishReason {reason})"),
        })
}

/// Text and function calls of the first candidate, as an OpenAI delta/message.
fn message_of(response: &Value, role: bool, call_offset: usize) -> (Value, usize) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = response
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        // Thought summaries are not part of the answer.
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            let index = call_offset + calls.len();
            calls.push(json!({"index": index, "id": format!("call_{index}"), "type": "function", "function": {
                "name": call.get("name"), "arguments": call.get("args").map_or_else(|| "{}".to_owned(), Value::to_string)}}));
        }
    }
    let count = calls.len();
    let mut message = Map::new();
    if role {
        message.insert("role".into(), "assistant".into());
    }
    if !text.is_empty() || calls.is_empty() {
        message.insert("content".into(), text.into());
    } else if role {
        message.insert("content".into(), Value::Null);
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    (Value::Object(message), count)
}

pub fn complete(
    response: &Value,
    model: &str,
    created: u64,
) -> Result<(Value, Usage), GatewayError> {
    if let Some(error) = safety_error(response) {
        return Err(error);
    }
    let (mut message, calls) = message_of(response, true, 0);
    if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
        for call in calls {
            call.as_object_mut().map(|c| c.remove("index"));
        }
    }
    let reason = response
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    let finish = if calls > 0 {
        "tool_calls"
    } else {
        finish_reason(reason)
    };
    let usage = usage(response.get("usageMetadata"));
    let body = json!({
        "id": response.get("responseId").cloned().unwrap_or(Value::Null),
        "object": "chat.completion", "created": created,
        "model": response.get("modelVersion").and_then(Value::as_str).unwrap_or(model),
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": openai_usage(&usage),
    });
    Ok((body, usage))
}

/// Gemini stream chunks → OpenAI chunks. Gemini sends no end marker: the
/// stream is complete when a chunk carried a `finishReason` and the
/// connection closes; `end` says which.
pub struct StreamTranslator {
    model: String,
    created: u64,
    started: bool,
    calls: usize,
    finish: Option<&'static str>,
    usage: Option<Value>,
}

impl StreamTranslator {
    pub fn new(model: &str, created: u64) -> Self {
        Self {
            model: model.to_owned(),
            created,
            started: false,
            calls: 0,
            finish: None,
            usage: None,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> StreamItem {
        StreamItem::Chunk(Bytes::from(
            json!({"id": "", "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            .to_string(),
        ))
    }

    pub fn event(&mut self, data: &str) -> Result<Vec<StreamItem>, GatewayError> {
        let response: Value =
            serde_json::from_str(data).map_err(|_| GatewayError::UpstreamFailed {
                message: "the Gemini stream sent invalid JSON".to_owned(),
            })?;
        if let Some(error) = safety_error(&response) {
            return Err(error);
        }
        if let Some(version) = response.get("modelVersion").and_then(Value::as_str) {
            version.clone_into(&mut self.model);
        }
        if let Some(usage) = response.get("usageMetadata") {
            self.usage = Some(usage.clone());
        }
        let (delta, calls) = message_of(&response, !self.started, self.calls);
        self.started = true;
        self.calls += calls;
        let mut items = vec![self.chunk(delta, None)];
        if let Some(reason) = response
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str)
        {
            let finish = if self.calls > 0 {
                "tool_calls"
            } else {
                finish_reason(reason)
            };
            self.finish = Some(finish);
            items.push(self.chunk(json!({}), Some(finish)));
        }
        Ok(items)
    }

    /// At the end of the upstream stream: the usage chunk and `Done`, or an
    /// error when no chunk said the answer was finished.
    pub fn end(&self) -> Result<Vec<StreamItem>, GatewayError> {
        if self.finish.is_none() {
            return Err(GatewayError::UpstreamFailed {
                message: "the Gemini stream ended before the answer was finished".to_owned(),
            });
        }
        let usage = openai_usage(&usage(self.usage.as_ref()));
        let chunk = json!({"id": "", "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [], "usage": usage});
        Ok(vec![
            StreamItem::Chunk(Bytes::from(chunk.to_string())),
            StreamItem::Done,
        ])
    }
}

/// `(message, status)` of a Google API error body.
pub fn error_body(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    Some((
        error.get("message")?.as_str()?.to_owned(),
        error
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("upstream_error")
            .to_owned(),
    ))
}
