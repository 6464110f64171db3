//! OpenAI chat request → Anthropic Messages request. Pure.
//!
//! Mapping rules (Anthropic's documented constraints in brackets):
//! - `system`/`developer` messages → top-level `system` [system is top-level only];
//! - consecutive messages of one role are merged, tool messages become
//!   `tool_result` blocks of a user turn [roles alternate, first is user];
//! - a conversation that does not start with a user turn is rejected (400);
//! - `max_tokens` [required] defaults to the model's `max_output_tokens`;
//! - `temperature` above 1 is rejected [Anthropic's range is 0..1];
//! - fields in `RULES` are dropped with a warning or rejected with a 400.

use super::super::fields::{self, Rule, invalid};
use super::super::turns::{self, TurnWire};
use crate::api::chat::ChatRequest;
use crate::error::GatewayError;
use serde_json::{Map, Value, json};

/// Fields the Anthropic wire translates itself.
const TRANSLATED: &[&str] = &[
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stop",
    "temperature",
    "top_p",
    "user",
    "n",
];

/// What happens to OpenAI fields Anthropic has no counterpart for.
pub const RULES: &[(&str, Rule)] = &[
    ("logprobs", Rule::Reject),
    ("top_logprobs", Rule::Reject),
    ("logit_bias", Rule::Reject),
    ("audio", Rule::Reject),
    ("modalities", Rule::Reject),
    ("prediction", Rule::Reject),
    ("presence_penalty", Rule::Drop),
    ("frequency_penalty", Rule::Drop),
    ("seed", Rule::Drop),
    ("service_tier", Rule::Drop),
    ("store", Rule::Drop),
    ("metadata", Rule::Drop),
    ("reasoning_effort", Rule::Drop),
    ("response_format", Rule::Drop),
];

/// Used when neither the request nor the model data gives a limit.
pub const FALLBACK_MAX_TOKENS: u32 = 4096;

pub fn translate(
    request: &ChatRequest,
    model: &str,
    default_max_tokens: u32,
) -> Result<Value, GatewayError> {
    fields::apply(
        "the anthropic wire format",
        &request.extra,
        TRANSLATED,
        RULES,
    )?;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert(
        "max_tokens".into(),
        request
            .max_output_tokens()
            .unwrap_or(default_max_tokens)
            .into(),
    );
    let (system, messages) = conversation(request)?;
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if request.is_stream() {
        body.insert("stream".into(), true.into());
    }
    sampling(request, &mut body)?;
    tools(request, &mut body)?;
    Ok(Value::Object(body))
}

fn sampling(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), GatewayError> {
    let extra = &request.extra;
    if let Some(n) = extra.get("n").and_then(Value::as_u64)
        && n > 1
    {
        return Err(invalid(
            "n",
            "`n` above 1 is not supported by the anthropic wire format",
        ));
    }
    if let Some(temperature) = extra.get("temperature").filter(|v| !v.is_null()) {
        if temperature.as_f64().is_some_and(|t| t > 1.0) {
            return Err(invalid(
                "temperature",
                "`temperature` must be between 0 and 1 for Anthropic models",
            ));
        }
        body.insert("temperature".into(), temperature.clone());
    }
    if let Some(top_p) = extra.get("top_p").filter(|v| !v.is_null()) {
        body.insert("top_p".into(), top_p.clone());
    }
    match extra.get("stop") {
        Some(Value::String(stop)) => {
            body.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            body.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(user) = extra.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(())
}

fn tools(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), GatewayError> {
    let extra = &request.extra;
    if let Some(Value::Array(tools)) = extra.get("tools") {
        let mut out = Vec::with_capacity(tools.len());
        for (index, tool) in tools.iter().enumerate() {
            let function = tool
                .get("function")
                .filter(|_| tool.get("type").and_then(Value::as_str) == Some("function"))
                .ok_or_else(|| {
                    invalid(
                        format!("tools[{index}].type"),
                        "only `function` tools are supported by the anthropic wire format",
                    )
                })?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(
                        format!("tools[{index}].function.name"),
                        "a tool needs a name",
                    )
                })?;
            let mut tool = Map::new();
            tool.insert("name".into(), name.into());
            if let Some(description) = function.get("description") {
                tool.insert("description".into(), description.clone());
            }
            let schema = function
                .get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            tool.insert("input_schema".into(), schema);
            out.push(Value::Object(tool));
        }
        if !out.is_empty() {
            body.insert("tools".into(), Value::Array(out));
        }
    }
    let mut choice = match extra.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) => Some(match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => {
                return Err(invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{mode}`"),
                ));
            }
        }),
        Some(object) => {
            let name = object
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice", "`tool_choice` names no function"))?;
            Some(json!({"type": "tool", "name": name}))
        }
    };
    if extra.get("parallel_tool_calls") == Some(&Value::Bool(false)) && body.contains_key("tools") {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        choice["disable_parallel_tool_use"] = true.into();
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    Ok(())
}

/// The system blocks and the alternating user/assistant turns.
fn conversation(request: &ChatRequest) -> Result<(Vec<Value>, Vec<Value>), GatewayError> {
    let (system, turns) = turns::fold(
        &request.messages,
        &TurnWire {
            name: "the anthropic wire format",
            assistant_role: "assistant",
            system: |text| json!({"type": "text", "text": text}),
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
                "Anthropic models need the conversation to start with a user message",
            ));
        }
        None => return Err(invalid("messages", "no user or assistant message to send")),
    }
    let messages = turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect();
    Ok((system, messages))
}

fn user_blocks(index: usize, content: Option<&Value>) -> Result<Vec<Value>, GatewayError> {
    match content {
        Some(Value::String(text)) => Ok(vec![json!({"type": "text", "text": text})]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(part_index, part)| {
                content_block(part, &format!("messages[{index}].content[{part_index}]"))
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// One OpenAI content part as an Anthropic block.
fn content_block(part: &Value, path: &str) -> Result<Value, GatewayError> {
    match part.get("type").and_then(Value::as_str) {
        Some("text") => Ok(
            json!({"type": "text", "text": part.get("text").and_then(Value::as_str).unwrap_or_default()}),
        ),
        Some("image_url") => {
            let url = part
                .pointer("/image_url/url")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(format!("{path}.image_url.url"), "an image part needs a URL")
                })?;
            let source = match fields::data_url(url) {
                Some((media_type, data)) => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            Ok(json!({"type": "image", "source": source}))
        }
        other => Err(invalid(
            format!("{path}.type"),
            format!(
                "content part type `{}` is not supported by the anthropic wire format",
                other.unwrap_or("(none)")
            ),
        )),
    }
}

fn assistant_blocks(
    index: usize,
    message: &crate::api::chat::Message,
) -> Result<Vec<Value>, GatewayError> {
    let mut blocks = Vec::new();
    let text = fields::content_text(message.content.as_ref());
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    if let Some(Value::Array(calls)) = message.extra.get("tool_calls") {
        for (call_index, call) in calls.iter().enumerate() {
            let path = format!("messages[{index}].tool_calls[{call_index}]");
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(format!("{path}.function.name"), "a tool call needs a name")
                })?;
            let input = fields::tool_call_arguments(call, format!("{path}.function.arguments"))?;
            blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
    }
    Ok(blocks)
}

fn tool_result(index: usize, message: &crate::api::chat::Message) -> Result<Value, GatewayError> {
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
    let content = match message.content.as_ref() {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(_)) => Value::Array(user_blocks(index, message.content.as_ref())?),
        _ => Value::String(String::new()),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}
