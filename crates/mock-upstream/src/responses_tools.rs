//! Function tools on the Responses mock: OpenAI refuses a
//! `function_call_output` whose call is not in the input (with
//! `store: false` there is nothing else to find it in), and, like the
//! Anthropic mock, the mock calls the first function tool it is given
//! unless the input already ends with a tool's output (or `tool_choice` is
//! `none`).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::wire_common;

/// Every `function_call_output` answers a `function_call` of the input.
pub(crate) fn check_outputs(items: &[Value]) -> Result<(), ApiError> {
    let mut calls = Vec::new();
    for item in items {
        let call_id = item.get("call_id").and_then(Value::as_str);
        match (item.get("type").and_then(Value::as_str), call_id) {
            (Some("function_call"), Some(id)) => calls.push(id),
            (Some("function_call_output"), Some(id)) if !calls.contains(&id) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("No tool call found for function call output with call_id {id}.")
                        .into(),
                    "invalid_request_error",
                    Some("input".into()),
                    None,
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The function the mock calls, with arguments that satisfy its schema.
pub(crate) fn call(body: &Map<String, Value>) -> Option<(String, Value)> {
    if body.get("tool_choice") == Some(&json!("none")) {
        return None;
    }
    let answered = body
        .get("input")
        .and_then(Value::as_array)
        .and_then(|items| items.last())
        .is_some_and(|last| last["type"] == "function_call_output");
    if answered {
        return None;
    }
    let tools = body.get("tools").and_then(Value::as_array)?;
    let tool = tools.iter().find(|tool| tool["type"] == "function")?;
    let name = tool.get("name").and_then(Value::as_str)?;
    let schema = tool.get("parameters").cloned().unwrap_or_default();
    Some((name.to_owned(), wire_common::input_for(&schema)))
}

/// The `function_call` output item, `status` as given.
pub(crate) fn call_item(id: &str, call_id: &str, call: &(String, Value), status: &str) -> Value {
    let arguments = if status == "completed" {
        call.1.to_string()
    } else {
        String::new()
    };
    json!({"id": id, "type": "function_call", "status": status, "arguments": arguments,
           "call_id": call_id, "name": call.0})
}
