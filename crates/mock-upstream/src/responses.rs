//! `POST /v1/responses`: OpenAI's Responses API with its request rules (the
//! parameters of `CreateResponse` in OpenAI's API description, anything
//! else refused naming it; `model` required; `input` a string or items;
//! `max_output_tokens` at least 16; ranges of `temperature` and `top_p`),
//! and the same deterministic echo answer as chat, as a response object
//! with `usage` or as the documented event stream (`responses_stream.rs`).
//! The mock keeps no responses, so `previous_response_id` always names one
//! it does not have, as it would at OpenAI after `store: false`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::faults::Fault;
use super::json::Kind;
use super::responses_object::{item_id, new_id, response_object};
use super::wire_common;
use super::{MockState, json_response};

/// Every parameter `CreateResponse` has.
const PARAMETERS: &[&str] = &[
    "background",
    "context_management",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "moderation",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];
const ROLES: &str = "'user', 'assistant', 'system', and 'developer'";
const ASSISTANT_PARTS: &str = "'output_text' and 'refusal'";
const INPUT_PARTS: &str = "'input_text', 'input_image', 'input_file', and 'input_audio'";
const ITEM_TYPES: &str = "'message', 'function_call', 'function_call_output', 'reasoning', and \
'item_reference'";
/// OpenAI's floor for `max_output_tokens`.
const MIN_OUTPUT_TOKENS: i64 = 16;

/// A validated request: what the answer needs.
pub(crate) struct Asked {
    pub(crate) model: String,
    pub(crate) body: Map<String, Value>,
    pub(crate) last_user: String,
    pub(crate) input_tokens: u64,
    pub(crate) max_output_tokens: Option<u64>,
    pub(crate) stream: bool,
}

/// The answer: the echo text, cut at `max_output_tokens` words, or a call
/// of the first function tool.
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) words: u64,
    pub(crate) incomplete: bool,
    pub(crate) call: Option<(String, Value)>,
}

pub(crate) async fn handle(State(state): State<Arc<MockState>>, req: Request) -> Response {
    match super::authorized_body(&state, req, MockState::count_responses).await {
        Ok(body) => super::answer(respond(&state, &body).await),
        Err(refused) => refused,
    }
}

async fn respond(state: &MockState, body: &[u8]) -> Result<Response, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = (first == Some(&b'{'))
        .then(|| serde_json::from_slice::<Map<String, Value>>(body).ok())
        .flatten();
    let Some(body) = parsed else {
        return Err(ApiError::bad_json());
    };
    state.record_responses_request(&body);
    let asked = validate(body)?;
    let fault = Fault::from_model(&asked.model);
    if let Some(fault) = fault
        && let Some(resp) = fault.before(state).await
    {
        return Ok(resp);
    }
    state.record_user_message(&asked.last_user);
    let answer = answer(&asked);
    let truncate = fault == Some(Fault::Truncate);
    if asked.stream {
        return Ok(super::responses_stream::response(&asked, &answer, truncate));
    }
    let object = response_object(&asked, &answer, &new_id("resp"), &item_id(&answer));
    if truncate {
        return Ok(super::faults::truncated(object.to_string()));
    }
    Ok(json_response(StatusCode::OK, object.to_string()))
}

fn kind(value: &Value) -> Kind {
    match value {
        Value::String(_) => Kind::String,
        Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Integer,
        Value::Number(_) => Kind::Decimal,
        Value::Bool(_) => Kind::Boolean,
        Value::Object(_) => Kind::Object,
        Value::Array(_) => Kind::Array,
        Value::Null => Kind::Null,
    }
}

fn invalid(message: String, param: &str, code: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        message.into(),
        "invalid_request_error",
        Some(param.to_owned().into()),
        Some(code),
    )
}

/// A number parameter within `[min, max]`, worded as OpenAI words it.
fn number_in(body: &Map<String, Value>, param: &str, min: f64, max: f64) -> Result<(), ApiError> {
    let Some(value) = body.get(param).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let Some(number) = value.as_f64() else {
        return Err(ApiError::invalid_type(param, "a number", kind(value)));
    };
    if number < min {
        return Err(invalid(
            format!(
                "Invalid '{param}': decimal below minimum value. Expected a value >= {min}, \
                 but got {value} instead."
            ),
            param,
            "decimal_below_min_value",
        ));
    }
    if number > max {
        return Err(invalid(
            format!(
                "Invalid '{param}': decimal above maximum value. Expected a value <= {max}, \
                 but got {value} instead."
            ),
            param,
            "decimal_above_max_value",
        ));
    }
    Ok(())
}

fn boolean(body: &Map<String, Value>, param: &str) -> Result<Option<bool>, ApiError> {
    match body.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid_type(param, "a boolean", kind(other))),
    }
}

fn validate(body: Map<String, Value>) -> Result<Asked, ApiError> {
    if let Some(name) = body.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(invalid(
            format!("Unknown parameter: '{name}'."),
            name,
            "unknown_parameter",
        ));
    }
    let model = match body.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing("model")),
        Some(Value::String(model)) => model.clone(),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", kind(other))),
    };
    if let Some(id) = body.get("previous_response_id").and_then(Value::as_str) {
        return Err(invalid(
            format!("Previous response with id '{id}' not found."),
            "previous_response_id",
            "previous_response_not_found",
        ));
    }
    let (input_tokens, last_user) = match body.get("input") {
        None | Some(Value::Null) if body.contains_key("prompt") => (0, String::new()),
        None | Some(Value::Null) => return Err(ApiError::missing("input")),
        Some(Value::String(text)) => (words(text) + 3, text.clone()),
        Some(Value::Array(items)) => {
            super::responses_tools::check_outputs(items)?;
            input_items(items)?
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                "input",
                "one of a string or array of input items",
                kind(other),
            ));
        }
    };
    let instructions = match body.get("instructions") {
        None | Some(Value::Null) => 0,
        Some(Value::String(text)) => words(text) + 3,
        Some(other) => {
            return Err(ApiError::invalid_type(
                "instructions",
                "a string",
                kind(other),
            ));
        }
    };
    let max_output_tokens = match body.get("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let Some(n) = value.as_i64().filter(|_| kind(value) == Kind::Integer) else {
                return Err(ApiError::invalid_type(
                    "max_output_tokens",
                    "an integer",
                    kind(value),
                ));
            };
            if n < MIN_OUTPUT_TOKENS {
                return Err(ApiError::below_min(
                    "max_output_tokens",
                    MIN_OUTPUT_TOKENS,
                    &n.to_string(),
                ));
            }
            Some(n as u64)
        }
    };
    number_in(&body, "temperature", 0.0, 2.0)?;
    number_in(&body, "top_p", 0.0, 1.0)?;
    let stream = boolean(&body, "stream")?.unwrap_or(false);
    boolean(&body, "store")?;
    boolean(&body, "parallel_tool_calls")?;
    if body.get("stream_options").is_some_and(|v| !v.is_null()) && !stream {
        return Err(ApiError::stream_options_without_stream());
    }
    match body.get("tools") {
        None | Some(Value::Null | Value::Array(_)) => {}
        Some(other) => return Err(ApiError::invalid_type("tools", "an array", kind(other))),
    }
    match body.get("metadata") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => return Err(ApiError::invalid_type("metadata", "an object", kind(other))),
    }
    Ok(Asked {
        model,
        last_user,
        input_tokens: input_tokens + instructions,
        max_output_tokens,
        stream,
        body,
    })
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Validates `input` items; returns the input's token count and the text
/// of the last user message.
fn input_items(items: &[Value]) -> Result<(u64, String), ApiError> {
    let mut tokens = 0;
    let mut last_user = String::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let Some(object) = item.as_object() else {
            return Err(ApiError::invalid_type(&at, "an object", kind(item)));
        };
        let required_string = |field: &str| match object.get(field) {
            Some(Value::String(text)) => Ok(text.as_str()),
            None | Some(Value::Null) => Err(ApiError::missing(&format!("{at}.{field}"))),
            Some(other) => Err(ApiError::invalid_type(
                &format!("{at}.{field}"),
                "a string",
                kind(other),
            )),
        };
        let item_type = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            None if object.contains_key("role") => "message",
            None => return Err(ApiError::missing(&format!("{at}.type"))),
            Some(other) => {
                return Err(ApiError::invalid_type(
                    &format!("{at}.type"),
                    "a string",
                    kind(other),
                ));
            }
        };
        match item_type {
            "message" => {
                let role = required_string("role")?;
                if !["user", "assistant", "system", "developer"].contains(&role) {
                    return Err(ApiError::invalid_value(&format!("{at}.role"), role, ROLES));
                }
                let text = message_text(object.get("content"), &at, role == "assistant")?;
                tokens += words(&text) + 3;
                if role == "user" {
                    last_user = text;
                }
            }
            "function_call" => {
                for field in ["call_id", "name", "arguments"] {
                    tokens += words(required_string(field)?);
                }
            }
            "function_call_output" => {
                required_string("call_id")?;
                match object.get("output") {
                    Some(Value::String(text)) => tokens += words(text),
                    Some(Value::Array(_)) => {}
                    None | Some(Value::Null) => {
                        return Err(ApiError::missing(&format!("{at}.output")));
                    }
                    Some(other) => {
                        return Err(ApiError::invalid_type(
                            &format!("{at}.output"),
                            "one of a string or array of objects",
                            kind(other),
                        ));
                    }
                }
            }
            "reasoning" | "item_reference" => {}
            other => {
                return Err(ApiError::invalid_value(
                    &format!("{at}.type"),
                    other,
                    ITEM_TYPES,
                ));
            }
        }
    }
    Ok((tokens, last_user))
}

/// A message's text: the string, or its text parts joined by a space. An
/// assistant's parts are output parts, anyone else's input parts.
fn message_text(content: Option<&Value>, at: &str, assistant: bool) -> Result<String, ApiError> {
    let parts = match content {
        Some(Value::String(text)) => return Ok(text.clone()),
        Some(Value::Array(parts)) => parts,
        None | Some(Value::Null) => return Err(ApiError::missing(&format!("{at}.content"))),
        Some(other) => {
            return Err(ApiError::invalid_type(
                &format!("{at}.content"),
                "one of a string or array of input content",
                kind(other),
            ));
        }
    };
    let mut texts = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let path = format!("{at}.content[{j}]");
        let part_type = part.get("type").and_then(Value::as_str).unwrap_or("");
        let allowed: &[&str] = if assistant {
            &["output_text", "refusal"]
        } else {
            &["input_text", "input_image", "input_file", "input_audio"]
        };
        if !allowed.contains(&part_type) {
            let supported = if assistant {
                ASSISTANT_PARTS
            } else {
                INPUT_PARTS
            };
            return Err(ApiError::invalid_value(
                &format!("{path}.type"),
                part_type,
                supported,
            ));
        }
        if matches!(part_type, "input_text" | "output_text") {
            match part.get("text") {
                Some(Value::String(text)) => texts.push(text.as_str()),
                _ => return Err(ApiError::missing(&format!("{path}.text"))),
            }
        }
    }
    Ok(texts.join(" "))
}

pub(crate) fn answer(asked: &Asked) -> Answer {
    if let Some(call) = super::responses_tools::call(&asked.body) {
        let words = wire_common::text_tokens(&call.1.to_string()).max(1);
        return Answer {
            text: String::new(),
            words,
            incomplete: false,
            call: Some(call),
        };
    }
    let all: Vec<&str> = std::iter::once("Echo:")
        .chain(asked.last_user.split_whitespace())
        .collect();
    let kept = asked
        .max_output_tokens
        .map_or(all.len(), |max| all.len().min(max as usize));
    Answer {
        text: all[..kept].join(" "),
        words: kept as u64,
        incomplete: kept < all.len(),
        call: None,
    }
}
