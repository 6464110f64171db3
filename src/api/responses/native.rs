//! A Responses request as it goes to a provider that serves the Responses
//! API itself, and its answer as the gateway returns it.
//!
//! The gateway keeps the conversation (`previous_response_id`) itself, so
//! continuing works whichever provider served the earlier turns: the
//! upstream gets the whole conversation as input items and `store: false`,
//! and never sees a response id of the gateway. The input is built from
//! the chat messages the input guardrails checked (and redacted), so what
//! goes upstream is what the guardrails passed, on both paths.

use super::request::ResponsesRequest;
use crate::api::chat::{Message, Role};
use serde_json::{Map, Value, json};

/// Parameters the gateway answers itself and never sends upstream:
/// `previous_response_id` (expanded into the input), `prompt` (rendered into
/// it), `store` (always `false` upstream: the gateway keeps responses),
/// `tool_loop` (the gateway's own tool loop's limits).
const GATEWAY_OWNED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "previous_response_id",
    "prompt",
    "store",
    "tool_loop",
];

/// The upstream body, but for `model` (the adapter sets the provider's
/// name): the client's parameters as sent (`raw`, already checked), with
/// `instructions` and `input` from the guarded chat `messages` (the
/// instructions first when the request has them), and `store: false`.
pub fn upstream_body(
    raw: &Map<String, Value>,
    request: &ResponsesRequest,
    messages: &[Message],
) -> Map<String, Value> {
    let mut body: Map<String, Value> = raw
        .iter()
        .filter(|(name, _)| !GATEWAY_OWNED.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let mut messages = messages.iter().peekable();
    if request.instructions.is_some()
        && let Some(first) = messages.next_if(|m| m.role == Role::System)
    {
        body.insert(
            "instructions".into(),
            first.content.clone().unwrap_or_default(),
        );
    }
    let input: Vec<Value> = messages.flat_map(message_items).collect();
    body.insert("input".into(), Value::Array(input));
    body.insert("store".into(), Value::Bool(false));
    body
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::Assistant => "assistant",
        Role::User | Role::Tool | Role::Function => "user",
    }
}

/// A chat content part as a Responses content part (`output_text` in an
/// assistant's message, `input_*` otherwise).
fn part(part: &Value, assistant: bool) -> Option<Value> {
    match part.get("type").and_then(Value::as_str)? {
        "text" if assistant => {
            Some(json!({"type": "output_text", "text": part.get("text")?, "annotations": []}))
        }
        "text" => Some(json!({"type": "input_text", "text": part.get("text")?})),
        "image_url" => {
            let image = part.get("image_url")?;
            let mut out = json!({"type": "input_image", "image_url": image.get("url")?});
            out["detail"] = image.get("detail").cloned().unwrap_or(json!("auto"));
            Some(out)
        }
        _ => None,
    }
}

/// One chat message as Responses input items: a message (when it has
/// content), then each of an assistant's tool calls as a `function_call`;
/// a tool message is a `function_call_output`.
fn message_items(message: &Message) -> Vec<Value> {
    if matches!(message.role, Role::Tool | Role::Function) {
        let output = match &message.content {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let call_id = message.extra.get("tool_call_id").cloned();
        return vec![json!({
            "type": "function_call_output",
            "call_id": call_id.unwrap_or_default(),
            "output": output,
        })];
    }
    let assistant = message.role == Role::Assistant;
    let mut items = Vec::new();
    let content = match &message.content {
        Some(Value::String(text)) if !text.is_empty() => Some(Value::String(text.clone())),
        Some(Value::Array(parts)) => {
            let parts: Vec<Value> = parts.iter().filter_map(|p| part(p, assistant)).collect();
            (!parts.is_empty()).then_some(Value::Array(parts))
        }
        _ => None,
    };
    if let Some(content) = content {
        items.push(json!({
            "type": "message",
            "role": role_name(message.role),
            "content": content,
        }));
    }
    let calls = message.extra.get("tool_calls").and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        items.push(json!({
            "type": "function_call",
            "call_id": call.get("id").cloned().unwrap_or_default(),
            "name": call.pointer("/function/name").cloned().unwrap_or_default(),
            "arguments": call.pointer("/function/arguments").cloned().unwrap_or_default(),
        }));
    }
    items
}

/// The upstream's response object as the gateway's: its own id, and the
/// request's settings the upstream did not see (`previous_response_id`,
/// `store`, the model name the client asked for, its instructions).
pub fn adopt(object: &mut Value, request: &ResponsesRequest, id: &str, created_at: u64) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    map.insert("id".into(), json!(id));
    map.insert("created_at".into(), json!(created_at));
    map.insert("model".into(), json!(request.model));
    map.insert(
        "previous_response_id".into(),
        json!(request.previous_response_id),
    );
    map.insert("store".into(), json!(request.store.unwrap_or(true)));
    map.insert("instructions".into(), json!(request.instructions));
}

/// A Responses event's `response` object adopted the same way, when it
/// carries one (`response.created`, `.in_progress`, `.completed`, ...).
pub fn adopt_event(event: &mut Value, request: &ResponsesRequest, id: &str, created_at: u64) {
    if let Some(response) = event.get_mut("response") {
        adopt(response, request, id, created_at);
    }
}

/// Every text an output item carries for the output guardrails: an
/// assistant message's `output_text` parts (output), a function call's
/// arguments (tool arguments).
pub fn output_texts(output: &mut [Value]) -> Vec<(bool, &mut String)> {
    let mut texts = Vec::new();
    for item in output {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = item.get_mut("content").and_then(Value::as_array_mut);
                for part in parts.into_iter().flatten() {
                    if part.get("type").and_then(Value::as_str) == Some("output_text")
                        && let Some(Value::String(text)) = part.get_mut("text")
                    {
                        texts.push((false, text));
                    }
                }
            }
            Some("function_call") => {
                if let Some(Value::String(arguments)) = item.get_mut("arguments") {
                    texts.push((true, arguments));
                }
            }
            _ => {}
        }
    }
    texts
}

#[cfg(test)]
#[path = "native_tests.rs"]
mod tests;
