//! Sampling answered by the gateway. A server whose entry names a
//! `sampling_model` has its `sampling/createMessage` requests answered by
//! that model (or route), called for the team whose tool call caused the
//! request, through every chat stage: its guardrails, its budget, the
//! request log. The client is never asked. The chat stages live in the
//! pipeline, above this area, so they are reached through `ModelSampler`,
//! which the gateway provides.

// Sampling is deprecated in the 2026-07-28 revision (SEP-2577), and rmcp
// marks its types so; servers of both revisions still send it.
#![allow(deprecated)]

use crate::auth::Caller;
use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{CreateMessageRequestParams, CreateMessageResult};
use serde_json::{Value, json};

/// A chat completion through the gateway's chat stages.
pub trait ModelSampler: Send + Sync {
    /// The completion (OpenAI's chat completion object) of `body` for
    /// `caller`, or the error the stages answered with.
    fn complete(&self, caller: Caller, body: Value) -> BoxFuture<'static, Result<Value, String>>;
}

/// The chat request for a sampling request: its system prompt and text
/// messages, its token limit, temperature and stop sequences, for `model`
/// (the server's hints name models the gateway does not choose by).
pub fn chat_body(model: &str, params: &CreateMessageRequestParams) -> Result<Value, ErrorData> {
    let mut messages = Vec::new();
    if let Some(system) = params.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &params.messages {
        let message = serde_json::to_value(message).unwrap_or_default();
        let blocks = match &message["content"] {
            Value::Array(blocks) => blocks.clone(),
            block => vec![block.clone()],
        };
        let mut text = String::new();
        for block in &blocks {
            match (block["type"].as_str(), block["text"].as_str()) {
                (Some("text"), Some(part)) => text.push_str(part),
                (kind, _) => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "sampling/createMessage: the gateway's model takes text only, not `{}` content",
                            kind.unwrap_or("unknown")
                        ),
                        None,
                    ));
                }
            }
        }
        messages.push(json!({"role": message["role"], "content": text}));
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": params.max_tokens,
    });
    if let Some(temperature) = params.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(stop) = params.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
        body["stop"] = json!(stop);
    }
    Ok(body)
}

/// The sampling result of a chat completion: its text, the model that
/// served, and why it stopped, in MCP's words.
pub fn result_of(completion: &Value) -> Result<CreateMessageResult, ErrorData> {
    let text = completion
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stop_reason = match completion
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
    {
        Some("length") => "maxTokens",
        Some("stop") if completion["stop_sequence"].is_string() => "stopSequence",
        _ => "endTurn",
    };
    let result = json!({
        "model": completion["model"].as_str().unwrap_or_default(),
        "stopReason": stop_reason,
        "role": "assistant",
        "content": {"type": "text", "text": text},
    });
    serde_json::from_value(result).map_err(|error| {
        ErrorData::internal_error(format!("sampling/createMessage: {error}"), None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> CreateMessageRequestParams {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_sampling_request_becomes_a_chat_request_and_back() {
        let request = params(json!({
            "systemPrompt": "Be brief.",
            "messages": [
                {"role": "user", "content": {"type": "text", "text": "Name a colour."}},
                {"role": "assistant", "content": [{"type": "text", "text": "Red."}]},
                {"role": "user", "content": {"type": "text", "text": "Another."}}
            ],
            "maxTokens": 20,
            "temperature": 0.5,
            "stopSequences": ["\n"],
            "modelPreferences": {"hints": [{"name": "claude"}]}
        }));
        let body = chat_body("fast", &request).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "fast",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Name a colour."},
                    {"role": "assistant", "content": "Red."},
                    {"role": "user", "content": "Another."}
                ],
                "max_tokens": 20,
                "temperature": 0.5,
                "stop": ["\n"]
            })
        );
        let completion = json!({
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Blue."}, "finish_reason": "length"}]
        });
        let result = serde_json::to_value(result_of(&completion).unwrap()).unwrap();
        assert_eq!(result["model"], "gpt-4o-mini");
        assert_eq!(result["stopReason"], "maxTokens");
        assert_eq!(result["role"], "assistant");
        assert_eq!(result["content"]["text"], "Blue.");
    }

    #[test]
    fn content_the_model_cannot_take_is_refused() {
        let request = params(json!({
            "messages": [{"role": "user", "content": {"type": "image", "data": "AAAA", "mimeType": "image/png"}}],
            "maxTokens": 5
        }));
        let error = chat_body("fast", &request).unwrap_err();
        assert!(error.message.contains("image"), "{error:?}");
    }
}
