//! The Responses mock's objects: the response (in progress, then finished
//! with its output and usage) and its output items.

use serde_json::{Value, json};

use super::responses::{Answer, Asked};

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The id of the answer's output item: a message's or a function call's.
pub(crate) fn item_id(answer: &Answer) -> String {
    new_id(if answer.call.is_some() { "fc" } else { "msg" })
}

/// A function call's `call_id`, derived from its item id so a stream and
/// its final response agree.
pub(crate) fn call_id(item_id: &str) -> String {
    let suffix = item_id.split_once('_').map_or(item_id, |(_, rest)| rest);
    format!("call_{suffix}")
}

/// The assistant message item, `status` as given.
pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{"type": "output_text", "annotations": [], "logprobs": [], "text": text}])
    } else {
        json!([])
    };
    json!({"id": id, "type": "message", "status": status, "content": content, "role": "assistant"})
}

pub(crate) fn usage(asked: &Asked, answer: &Answer) -> Value {
    json!({
        "input_tokens": asked.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": answer.words,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": asked.input_tokens + answer.words,
    })
}

/// The response object: `status` `in_progress` (output empty, no usage)
/// while streaming, then `completed` or `incomplete` with the answer.
pub(crate) fn response_shell(asked: &Asked, id: &str, status: &str) -> Value {
    let body = &asked.body;
    let echo = |name: &str, default: Value| body.get(name).cloned().unwrap_or(default);
    json!({
        "id": id,
        "object": "response",
        "created_at": super::chat::unix_now(),
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": echo("max_tool_calls", Value::Null),
        "model": asked.model,
        "output": [],
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "auto",
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_logprobs": 0,
        "top_p": echo("top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": null,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({})),
    })
}

/// The finished response object.
pub(crate) fn response_object(asked: &Asked, answer: &Answer, id: &str, item_id: &str) -> Value {
    let status = if answer.incomplete {
        "incomplete"
    } else {
        "completed"
    };
    let mut object = response_shell(asked, id, status);
    object["service_tier"] = json!("default");
    object["output"] = match &answer.call {
        Some(call) => json!([super::responses_tools::call_item(
            item_id,
            &call_id(item_id),
            call,
            "completed"
        )]),
        None => json!([message_item(item_id, &answer.text, "completed")]),
    };
    object["usage"] = usage(asked, answer);
    if answer.incomplete {
        object["incomplete_details"] = json!({"reason": "max_output_tokens"});
    }
    object
}
