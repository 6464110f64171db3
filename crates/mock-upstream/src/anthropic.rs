//! `POST /v1/messages`: a mock of Anthropic's Messages API that enforces its
//! documented request rules (a key in `x-api-key` or as a bearer token, an
//! `anthropic-version` header,
//! `max_tokens` required, roles alternating from a first user turn, `system`
//! only at the top level, every `tool_result` answering a `tool_use` of the
//! previous turn) and answers in its shapes: the message object, the SSE
//! event sequence, and `{"type":"error","error":{...}}` bodies.
//!
//! The answer echoes the last user text (`Echo: ...`, one token per word,
//! cut at `max_tokens`), or calls a tool when tools are offered and the last
//! turn is not a tool result. Faults by model name: `fault-429`, `fault-500`,
//! `fault-529` (overloaded), `fault-stream-error` (an `error` event
//! mid-stream), `fault-truncate` (the stream stops before `message_stop`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::wire_common::{self, Reply, echo_words, text_tokens};
use super::{MockState, json_response, read_body};

const ALLOWED_TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stream",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "thinking",
    "service_tier",
];
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// An Anthropic error response.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message.into()},
                      "request_id": wire_common::request_id("req_")});
    json_response(status, body.to_string())
}

fn invalid(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

pub(crate) async fn handle(State(state): State<Arc<MockState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Anthropic takes the key in `x-api-key` or, as its current SDKs send
    // it, as a bearer token.
    let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| {
        let v = v.as_bytes();
        (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
            .then(|| HeaderValue::from_bytes(&v[7..]).ok())?
    });
    let key = parts.headers.get("x-api-key").cloned().or(bearer);
    state.record_credential(key.as_ref());
    match key {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "x-api-key header is required",
            );
        }
        Some(key) if key.as_bytes() != state.options().api_key.as_bytes() => {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            );
        }
        Some(_) => {}
    }
    if parts.headers.get("anthropic-version").is_none() {
        return invalid("anthropic-version: header is required");
    }
    state.count_chat();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(_) => return invalid("could not read the request body"),
    };
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("There was an issue with your request. Please check your JSON body.");
    };
    let model = match request.get("model") {
        Some(Value::String(model)) => model.clone(),
        _ => return invalid("model: Field required"),
    };
    if let Some(response) = fault_before(&model) {
        return response;
    }
    let reply = match validate(&request) {
        Ok(reply) => reply,
        Err(message) => return invalid(message),
    };
    let mut response = if request.get("stream") == Some(&Value::Bool(true)) {
        stream(&model, &reply, &model)
    } else {
        json_response(StatusCode::OK, message(&model, &reply).to_string())
    };
    if let Ok(id) = HeaderValue::from_str(&wire_common::request_id("req_")) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

fn fault_before(model: &str) -> Option<Response> {
    Some(match model {
        "fault-429" => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute.",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
        "fault-500" => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        ),
        "fault-529" => error(
            StatusCode::from_u16(529).ok()?,
            "overloaded_error",
            "Overloaded",
        ),
        _ => return None,
    })
}

/// Checks the request as Anthropic does; the error message names the field
/// the way Anthropic's do (`messages.1.content.0.tool_use_id: ...`).
fn validate(request: &Map<String, Value>) -> Result<Reply, String> {
    for key in request.keys() {
        if !ALLOWED_TOP_LEVEL.contains(&key.as_str()) {
            return Err(format!("{key}: Extra inputs are not permitted"));
        }
    }
    let max_tokens = match request.get("max_tokens") {
        None => return Err("max_tokens: Field required".into()),
        Some(value) => value
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or("max_tokens: Input should be a valid integer greater than or equal to 1")?,
    };
    if let Some(t) = request.get("temperature")
        && !t.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t))
    {
        return Err("temperature: Input should be less than or equal to 1".into());
    }
    let mut prompt_tokens = match request.get("system") {
        None => 0,
        Some(Value::String(text)) => text_tokens(text),
        Some(Value::Array(blocks)) => {
            let mut tokens = 0;
            for (index, block) in blocks.iter().enumerate() {
                match (
                    block.get("type").and_then(Value::as_str),
                    block.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => tokens += text_tokens(text),
                    _ => {
                        return Err(format!(
                            "system.{index}: Input should be a valid text block"
                        ));
                    }
                }
            }
            tokens
        }
        Some(_) => {
            return Err("system: Input should be a valid string or list of text blocks".into());
        }
    };
    let tools = check_tools(request)?;
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut previous: Option<(&str, Vec<String>)> = None;
    let mut last_user_text = String::new();
    let mut last_is_tool_result = false;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "system" {
            return Err(format!(
                "messages.{index}.role: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role."
            ));
        }
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{index}.role: Input should be 'user' or 'assistant'"
            ));
        }
        if index == 0 && role != "user" {
            return Err("messages: first message must use the \"user\" role".into());
        }
        if let Some((previous_role, _)) = &previous
            && *previous_role == role
        {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            ));
        }
        let pending: Vec<String> = previous.take().map(|(_, ids)| ids).unwrap_or_default();
        let blocks = match message.get("content") {
            Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
            Some(Value::Array(blocks)) if !blocks.is_empty() => blocks.clone(),
            _ => {
                return Err(format!(
                    "messages.{index}.content: Input should be a valid string or non-empty list"
                ));
            }
        };
        let mut tool_uses = Vec::new();
        let mut answered = Vec::new();
        let mut text = String::new();
        for (block_index, block) in blocks.iter().enumerate() {
            let at = format!("messages.{index}.content.{block_index}");
            match (role, block.get("type").and_then(Value::as_str)) {
                (_, Some("text")) => {
                    let t = block
                        .get("text")
                        .and_then(Value::as_str)
                        .ok_or(format!("{at}.text: Field required"))?;
                    if t.is_empty() {
                        return Err(format!("{at}: text content blocks must be non-empty"));
                    }
                    text.push_str(t);
                    prompt_tokens += text_tokens(t);
                }
                ("user", Some("image")) => check_image(block, &at)?,
                ("user", Some("tool_result")) => {
                    let id = block
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .ok_or(format!("{at}.tool_use_id: Field required"))?;
                    if !pending.iter().any(|p| p == id) {
                        return Err(format!(
                            "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        ));
                    }
                    answered.push(id.to_owned());
                    prompt_tokens += text_tokens(
                        &block
                            .get("content")
                            .map(Value::to_string)
                            .unwrap_or_default(),
                    );
                }
                ("assistant", Some("tool_use")) => {
                    let id = block
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or(format!("{at}.id: Field required"))?;
                    if !block.get("input").is_some_and(Value::is_object) {
                        return Err(format!("{at}.input: Input should be a valid dictionary"));
                    }
                    tool_uses.push(id.to_owned());
                }
                (_, other) => {
                    return Err(format!(
                        "{at}.type: Input tag '{}' is not allowed for role {role}",
                        other.unwrap_or("")
                    ));
                }
            }
        }
        if let Some(missing) = pending.iter().find(|id| !answered.contains(id)) {
            return Err(format!(
                "messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            ));
        }
        if role == "user" {
            last_user_text = text;
            last_is_tool_result = !answered.is_empty();
        }
        previous = Some((if role == "user" { "user" } else { "assistant" }, tool_uses));
    }
    if messages.is_empty() {
        return Err("messages: List should have at least 1 item after validation, not 0".into());
    }
    let forced = request
        .get("tool_choice")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    let call = match (tools.first(), last_is_tool_result) {
        (Some(_), false)
            if request
                .get("tool_choice")
                .and_then(|c| c.get("type"))
                .and_then(Value::as_str)
                != Some("none") =>
        {
            let tool = forced
                .and_then(|name| tools.iter().find(|t| t.0 == name))
                .unwrap_or(&tools[0]);
            Some(tool.clone())
        }
        _ => None,
    };
    Ok(wire_common::reply(
        prompt_tokens,
        &last_user_text,
        max_tokens,
        call,
    ))
}

/// `(name, input)` of every tool, the input built from its schema.
fn check_tools(request: &Map<String, Value>) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for (index, tool) in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .ok_or(format!("tools.{index}.name: Field required"))?;
        let schema = tool
            .get("input_schema")
            .filter(|s| s.is_object())
            .ok_or(format!("tools.{index}.input_schema: Field required"))?;
        out.push((name.to_owned(), wire_common::input_for(schema)));
    }
    if let Some(choice) = request.get("tool_choice") {
        match choice.get("type").and_then(Value::as_str) {
            Some("auto" | "any" | "none") => {}
            Some("tool") if choice.get("name").is_some_and(Value::is_string) => {}
            _ => return Err("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'".into()),
        }
    }
    Ok(out)
}

fn check_image(block: &Value, at: &str) -> Result<(), String> {
    let source = block
        .get("source")
        .ok_or(format!("{at}.source: Field required"))?;
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !IMAGE_TYPES.contains(&media) {
                return Err(format!(
                    "{at}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                ));
            }
            if !source.get("data").is_some_and(Value::is_string) {
                return Err(format!("{at}.source.base64.data: Field required"));
            }
            Ok(())
        }
        Some("url") if source.get("url").is_some_and(Value::is_string) => Ok(()),
        _ => Err(format!(
            "{at}.source: Input tag does not match any of the expected tags: 'base64', 'url'"
        )),
    }
}

fn usage(reply: &Reply) -> Value {
    json!({"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens,
           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

fn stop_reason(reply: &Reply) -> &'static str {
    match (&reply.call, reply.truncated) {
        (Some(_), _) => "tool_use",
        (None, true) => "max_tokens",
        (None, false) => "end_turn",
    }
}

fn message(model: &str, reply: &Reply) -> Value {
    let content = match &reply.call {
        Some((name, input)) => {
            json!([{"type": "tool_use", "id": reply.call_id, "name": name, "input": input}])
        }
        None => json!([{"type": "text", "text": reply.text}]),
    };
    json!({"id": reply.id, "type": "message", "role": "assistant", "model": model, "content": content,
           "stop_reason": stop_reason(reply), "stop_sequence": null, "usage": usage(reply)})
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn stream(model: &str, reply: &Reply, fault: &str) -> Response {
    let mut start = message(model, reply);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = 1.into();
    let mut events = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": start}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    match &reply.call {
        Some((name, input)) => {
            events.push(event("content_block_start", &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": reply.call_id, "name": name, "input": {}}})));
            let input = input.to_string();
            let (first, second) = input.split_at(input.len() / 2);
            for piece in ["", first, second] {
                events.push(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
        }
        None => {
            events.push(event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ));
            for word in echo_words(&reply.text) {
                events.push(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": word}}),
                ));
            }
        }
    }
    if fault == "fault-stream-error" {
        events.push(event("error", &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    } else if fault != "fault-truncate" {
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(event(
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
            "usage": {"output_tokens": reply.completion_tokens}}),
        ));
        events.push(event("message_stop", &json!({"type": "message_stop"})));
    }
    wire_common::sse_response(events, Duration::from_millis(1))
}
