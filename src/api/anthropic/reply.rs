//! An OpenAI chat completion → an Anthropic `message`. Pure.

use serde_json::{Value, json};

pub fn stop_reason(finish_reason: Option<&str>) -> Value {
    match finish_reason {
        None => Value::Null,
        Some("length") => "max_tokens".into(),
        Some("tool_calls" | "function_call") => "tool_use".into(),
        Some("content_filter") => "refusal".into(),
        Some(_) => "end_turn".into(),
    }
}

/// Anthropic's `input_tokens` excludes cache reads; OpenAI's prompt_tokens includes them.
pub fn usage(openai: Option<&Value>) -> Value {
    let get = |pointer: &str| {
        openai
            .and_then(|u| u.pointer(pointer))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = get("/prompt_tokens_details/cached_tokens");
    json!({
        "input_tokens": get("/prompt_tokens").saturating_sub(cached),
        "output_tokens": get("/completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    })
}

/// Tool-call arguments as the `input` object Anthropic clients expect.
pub fn tool_input(arguments: Option<&str>) -> Value {
    match arguments.map(serde_json::from_str::<Value>) {
        Some(Ok(object @ Value::Object(_))) => object,
        None => json!({}),
        Some(_) => {
            tracing::warn!("a tool call's arguments are not a JSON object; sent as an empty input");
            json!({})
        }
    }
}

pub fn message(completion: &Value, id: &str, model: &str) -> Value {
    let choice = completion.pointer("/choices/0").unwrap_or(&Value::Null);
    let reply = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(text) = reply
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in reply
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        content.push(json!({
            "type": "tool_use",
            "id": call.get("id"),
            "name": call.pointer("/function/name"),
            "input": tool_input(call.pointer("/function/arguments").and_then(Value::as_str)),
        }));
    }
    json!({
        "id": id, "type": "message", "role": "assistant", "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason").and_then(Value::as_str)),
        "stop_sequence": null,
        "usage": usage(completion.get("usage")),
    })
}
