//! A chat completion as a Responses object.

use super::new_id;
use super::request::ResponsesRequest;
use serde_json::{Value, json};

/// Chat usage in the Responses names.
pub fn usage(chat: Option<&Value>) -> Value {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let chat = chat.unwrap_or(&Value::Null);
    let input = number(chat.get("prompt_tokens"));
    let output = number(chat.get("completion_tokens"));
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": number(chat.pointer("/prompt_tokens_details/cached_tokens"))},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": number(chat.pointer("/completion_tokens_details/reasoning_tokens"))},
        "total_tokens": number(chat.get("total_tokens")).max(input + output),
    })
}

/// The status a chat finish reason means, and why a response is incomplete.
pub fn status(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A finished assistant message item.
pub fn message_item(id: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    })
}

/// A finished function call item.
pub fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": "completed",
    })
}

/// The output items of a chat completion's first choice: its text (or
/// refusal) as a message, then each tool call as a function call.
pub fn output_items(completion: &Value) -> Vec<Value> {
    let message = completion
        .pointer("/choices/0/message")
        .unwrap_or(&Value::Null);
    let mut items = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str)
        && !text.is_empty()
    {
        items.push(message_item(&new_id("msg"), text));
    } else if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        items.push(json!({
            "type": "message", "id": new_id("msg"), "status": "completed", "role": "assistant",
            "content": [{"type": "refusal", "refusal": refusal}],
        }));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        items.push(function_call_item(
            &new_id("fc"),
            text("/id"),
            text("/function/name"),
            text("/function/arguments"),
        ));
    }
    items
}

/// The response object around `output`, echoing the request's settings as
/// OpenAI does.
pub fn response(
    request: &ResponsesRequest,
    id: &str,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    usage: Value,
    incomplete_details: Value,
) -> Value {
    let format = request
        .text
        .as_ref()
        .and_then(|t| t.get("format"))
        .cloned()
        .unwrap_or(json!({"type": "text"}));
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": incomplete_details,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": request.model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls.unwrap_or(true),
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": null, "summary": null},
        "store": request.store.unwrap_or(true),
        "temperature": request.temperature.unwrap_or(1.0),
        "text": {"format": format},
        "tool_choice": request.tool_choice.clone().unwrap_or(json!("auto")),
        "tools": request.tools.clone().unwrap_or_default(),
        "top_p": request.top_p.unwrap_or(1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": request.user,
        "metadata": request.metadata.clone().unwrap_or_default(),
    })
}

/// A complete response from a chat completion.
pub fn from_completion(
    request: &ResponsesRequest,
    id: &str,
    created_at: u64,
    completion: &Value,
) -> Value {
    let finish = completion
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str);
    let (status, incomplete) = status(finish);
    response(
        request,
        id,
        created_at,
        status,
        output_items(completion),
        usage(completion.get("usage")),
        incomplete,
    )
}
