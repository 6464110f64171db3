//! `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent`: a mock of the Gemini API that enforces its
//! request rules (an API key in `x-goog-api-key` or `?key=`, `contents` with
//! roles `user`/`model` only, one data field per part, no unknown fields)
//! and answers in its shapes, including Google's error body
//! `{"error":{"code","message","status"}}`. Streams are SSE with `alt=sse`
//! and a JSON array without it, as the real API does.
//!
//! Faults by model name: `fault-429`, `fault-500`, `fault-prompt-blocked`
//! (`promptFeedback.blockReason`), `fault-answer-blocked` (`finishReason`
//! SAFETY), `fault-truncate` (the stream stops before a `finishReason`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::wire_common::{self, Reply, echo_words, text_tokens};
use super::{MockState, json_response, read_body};

const TOP_LEVEL: &[&str] = &[
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
];
const PART_FIELDS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "thought",
    "thoughtSignature",
];

fn error(code: u16, status: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": code, "message": message.into(), "status": status}});
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        body.to_string(),
    )
}

fn invalid(message: impl Into<String>) -> Response {
    error(400, "INVALID_ARGUMENT", message)
}

pub(crate) async fn handle(
    State(state): State<Arc<MockState>>,
    Path(call): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let header = parts.headers.get("x-goog-api-key");
    state.record_credential(header);
    let key = header
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| query.get("key").map(|k| k.as_bytes().to_vec()));
    match key {
        None => {
            return error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            );
        }
        Some(key) if key != state.options().api_key.as_bytes() => {
            return invalid("API key not valid. Please pass a valid API key.");
        }
        Some(_) => {}
    }
    let Some((model, method)) = call.split_once(':') else {
        return error(
            404,
            "NOT_FOUND",
            format!("models/{call} is not found for API version v1beta"),
        );
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return error(404, "NOT_FOUND", format!("Method {method} is not found")),
    };
    state.count_chat();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(_) => return invalid("could not read the request body"),
    };
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Invalid JSON payload received.");
    };
    match model {
        "fault-429" => {
            return error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            );
        }
        "fault-500" => {
            return error(
                500,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            );
        }
        _ => {}
    }
    let reply = match validate(&request) {
        Ok(reply) => reply,
        Err(message) => return invalid(message),
    };
    let chunks = answer(model, &reply);
    if !stream {
        return json_response(StatusCode::OK, merged(&chunks).to_string());
    }
    if query.get("alt").map(String::as_str) != Some("sse") {
        return json_response(StatusCode::OK, Value::Array(chunks).to_string());
    }
    let events = chunks
        .iter()
        .map(|chunk| Bytes::from(format!("data: {chunk}\r\n\r\n")))
        .collect();
    wire_common::sse_response(events, Duration::from_millis(1))
}

fn validate(request: &Map<String, Value>) -> Result<Reply, String> {
    for key in request.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
            ));
        }
    }
    let contents = request
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let mut prompt_tokens = 0;
    if let Some(system) = request.get("systemInstruction") {
        for part in system
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            prompt_tokens += text_tokens(part.get("text").and_then(Value::as_str).unwrap_or(""));
        }
    }
    let mut last_user_text = String::new();
    let mut last_is_function_response = false;
    for (index, content) in contents.iter().enumerate() {
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        if role != "user" && role != "model" {
            return Err("Please use a valid role: user, model.".into());
        }
        let parts = content.get("parts").and_then(Value::as_array).filter(|p| !p.is_empty())
            .ok_or(format!("* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty."))?;
        let mut text = String::new();
        let mut responses = false;
        for (part_index, part) in parts.iter().enumerate() {
            let object = part
                .as_object()
                .ok_or("Invalid JSON payload received. Expected an object.")?;
            let data: Vec<&String> = object
                .keys()
                .filter(|k| *k != "thought" && *k != "thoughtSignature")
                .collect();
            if let Some(unknown) = object.keys().find(|k| !PART_FIELDS.contains(&k.as_str())) {
                return Err(format!(
                    "Invalid JSON payload received. Unknown name \"{unknown}\" at 'contents[{index}].parts[{part_index}]': Cannot find field."
                ));
            }
            if data.len() != 1 {
                return Err(format!(
                    "* GenerateContentRequest.contents[{index}].parts[{part_index}].data: required oneof field 'data' must have one initialized field"
                ));
            }
            if let Some(t) = part.get("text").and_then(Value::as_str) {
                text.push_str(t);
                prompt_tokens += text_tokens(t);
            }
            if part.get("functionCall").is_some() && role != "model" {
                return Err(format!(
                    "* contents[{index}]: functionCall parts must be in a `model` turn"
                ));
            }
            if let Some(response) = part.get("functionResponse") {
                if !response.get("name").is_some_and(Value::is_string)
                    || !response.get("response").is_some_and(Value::is_object)
                {
                    return Err(format!(
                        "* GenerateContentRequest.contents[{index}].parts[{part_index}].function_response: name and response (an object) are required"
                    ));
                }
                responses = true;
            }
        }
        if role == "user" {
            last_user_text = text;
            last_is_function_response = responses;
        }
    }
    let mut tools = Vec::new();
    for tool in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for declaration in tool
            .get("functionDeclarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = declaration.get("name").and_then(Value::as_str)
                .ok_or("* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.")?;
            let schema = declaration.get("parameters").cloned().unwrap_or(json!({}));
            tools.push((name.to_owned(), wire_common::input_for(&schema)));
        }
    }
    let config = request.get("generationConfig");
    let max_tokens = config
        .and_then(|c| c.get("maxOutputTokens"))
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let mode = request
        .get("toolConfig")
        .and_then(|c| c.pointer("/functionCallingConfig/mode"))
        .and_then(Value::as_str);
    let call = match tools.first() {
        Some(first) if !last_is_function_response && mode != Some("NONE") => {
            let allowed = request
                .get("toolConfig")
                .and_then(|c| c.pointer("/functionCallingConfig/allowedFunctionNames/0"))
                .and_then(Value::as_str);
            Some(
                allowed
                    .and_then(|name| tools.iter().find(|t| t.0 == name))
                    .unwrap_or(first)
                    .clone(),
            )
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

fn usage(reply: &Reply, done: bool) -> Value {
    let candidates = if done { reply.completion_tokens } else { 0 };
    json!({"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": candidates,
           "totalTokenCount": reply.prompt_tokens + candidates})
}

/// The stream chunks of the answer; the complete answer is their merge.
fn answer(model: &str, reply: &Reply) -> Vec<Value> {
    let chunk = |parts: Value, finish: Option<&str>| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = finish.into();
        }
        json!({"candidates": [candidate], "usageMetadata": usage(reply, finish.is_some()),
               "modelVersion": model, "responseId": reply.id})
    };
    match model {
        "fault-prompt-blocked" => {
            return vec![
                json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": usage(reply, false), "modelVersion": model, "responseId": reply.id}),
            ];
        }
        "fault-answer-blocked" => {
            return vec![
                json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true}]}],
                "usageMetadata": usage(reply, true), "modelVersion": model, "responseId": reply.id}),
            ];
        }
        _ => {}
    }
    let finish = if reply.truncated {
        "MAX_TOKENS"
    } else {
        "STOP"
    };
    if let Some((name, input)) = &reply.call {
        return vec![chunk(
            json!([{"functionCall": {"name": name, "args": input}}]),
            Some(finish),
        )];
    }
    let words = echo_words(&reply.text);
    let last = words.len().saturating_sub(1);
    let truncate = model == "fault-truncate";
    words
        .iter()
        .enumerate()
        .filter(|(i, _)| !truncate || *i < last)
        .map(|(i, word)| chunk(json!([{"text": word}]), (i == last).then_some(finish)))
        .collect()
}

/// A `generateContent` answer: the stream chunks folded into one.
fn merged(chunks: &[Value]) -> Value {
    let Some(mut last) = chunks.last().cloned() else {
        return json!({});
    };
    if chunks.len() > 1 {
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/candidates/0/content/parts/0/text")
                    .and_then(Value::as_str)
            })
            .collect();
        last["candidates"][0]["content"]["parts"] = json!([{"text": text}]);
    }
    last
}
