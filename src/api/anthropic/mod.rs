//! The Anthropic-compatible front door: `POST /v1/messages` and
//! `/v1/messages/count_tokens`. An Anthropic request becomes the gateway's
//! OpenAI-shaped `ChatRequest` (so it can reach any provider), and the
//! OpenAI-shaped answer becomes an Anthropic message or event stream.
//!
//! Request fields without an OpenAI counterpart follow `RULES`: dropped with
//! a warning or rejected with a 400 naming the field. Within content,
//! `cache_control` hints and `thinking` blocks of earlier turns are not
//! carried (neither changes what the model is asked), nor is a tool result's
//! `is_error` flag (its text still says what went wrong); block types the
//! OpenAI shape cannot hold (documents, server tools) are rejected.

pub mod error;
pub mod events;
pub mod reply;
#[cfg(test)]
mod tests;

use crate::api::chat::ChatRequest;
use crate::error::GatewayError;
use crate::provider::fields::{self, Rule, invalid};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    /// Required by `/v1/messages`, not by `count_tokens`.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    pub messages: Vec<InputMessage>,
    #[serde(default)]
    pub system: Option<Value>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct InputMessage {
    pub role: InputRole,
    pub content: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    User,
    Assistant,
}

/// Anthropic fields the OpenAI shape cannot carry.
pub const RULES: &[(&str, Rule)] = &[
    ("top_k", Rule::Drop),
    ("thinking", Rule::Drop),
    ("service_tier", Rule::Drop),
    ("container", Rule::Reject),
    ("mcp_servers", Rule::Reject),
];

impl MessagesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The OpenAI-shaped request. `for_count` skips the `max_tokens` check.
    pub fn to_chat(&self, for_count: bool) -> Result<ChatRequest, GatewayError> {
        fields::apply("this gateway's /v1/messages", &self.extra, &[], RULES)?;
        if self.model.is_empty() {
            return Err(invalid("model", "`model` must not be empty"));
        }
        let max_tokens = match self.max_tokens {
            None if !for_count => return Err(invalid("max_tokens", "`max_tokens` is required")),
            Some(0) => return Err(invalid("max_tokens", "`max_tokens` must be at least 1")),
            other => other,
        };
        if self.messages.is_empty() {
            return Err(invalid(
                "messages",
                "`messages` must contain at least one message",
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = &self.system {
            let text = match system {
                Value::String(text) => text.clone(),
                Value::Array(blocks) => text_of_blocks(blocks, "system")?,
                _ => {
                    return Err(invalid(
                        "system",
                        "`system` must be a string or an array of text blocks",
                    ));
                }
            };
            messages.push(json!({"role": "system", "content": text}));
        }
        for (index, message) in self.messages.iter().enumerate() {
            match message.role {
                InputRole::User => user_messages(index, &message.content, &mut messages)?,
                InputRole::Assistant => messages.push(assistant_message(index, &message.content)?),
            }
        }
        let mut chat = Map::new();
        chat.insert("model".into(), self.model.clone().into());
        chat.insert("messages".into(), Value::Array(messages));
        if let Some(max_tokens) = max_tokens {
            chat.insert("max_tokens".into(), max_tokens.into());
        }
        if self.is_stream() {
            chat.insert("stream".into(), true.into());
            // The door needs the final usage for `message_delta`.
            chat.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if let Some(stops) = self.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
            chat.insert("stop".into(), json!(stops));
        }
        if let Some(temperature) = self.temperature {
            chat.insert("temperature".into(), temperature.into());
        }
        if let Some(top_p) = self.top_p {
            chat.insert("top_p".into(), top_p.into());
        }
        if let Some(user) = self
            .metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
        {
            chat.insert("user".into(), user.into());
        }
        self.tools_into(&mut chat)?;
        serde_json::from_value(Value::Object(chat))
            .map_err(|error| GatewayError::Internal(format!("translated request: {error}")))
    }

    fn tools_into(&self, chat: &mut Map<String, Value>) -> Result<(), GatewayError> {
        if let Some(tools) = self.tools.as_ref().filter(|t| !t.is_empty()) {
            let mut out = Vec::with_capacity(tools.len());
            for (index, tool) in tools.iter().enumerate() {
                if let Some(kind) = tool.get("type").and_then(Value::as_str)
                    && kind != "custom"
                {
                    return Err(invalid(
                        format!("tools[{index}].type"),
                        format!(
                            "server tool `{kind}` is not supported by this gateway; only client tools are"
                        ),
                    ));
                }
                let name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
                    invalid(format!("tools[{index}].name"), "a tool needs a name")
                })?;
                let schema = tool
                    .get("input_schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| {
                        invalid(
                            format!("tools[{index}].input_schema"),
                            "a tool needs an `input_schema` object",
                        )
                    })?;
                let mut function = json!({"name": name, "parameters": schema});
                if let Some(description) = tool.get("description") {
                    function["description"] = description.clone();
                }
                out.push(json!({"type": "function", "function": function}));
            }
            chat.insert("tools".into(), Value::Array(out));
        }
        if let Some(choice) = &self.tool_choice {
            let kind = choice.get("type").and_then(Value::as_str);
            let mapped = match kind {
                Some("auto") => json!("auto"),
                Some("any") => json!("required"),
                Some("none") => json!("none"),
                Some("tool") => {
                    let name = choice.get("name").and_then(Value::as_str).ok_or_else(|| {
                        invalid(
                            "tool_choice.name",
                            "`tool_choice` of type tool needs a name",
                        )
                    })?;
                    json!({"type": "function", "function": {"name": name}})
                }
                _ => {
                    return Err(invalid(
                        "tool_choice.type",
                        "`tool_choice.type` must be auto, any, tool or none",
                    ));
                }
            };
            chat.insert("tool_choice".into(), mapped);
            if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true))
                && kind != Some("none")
            {
                chat.insert("parallel_tool_calls".into(), false.into());
            }
        }
        Ok(())
    }
}

fn text_of_blocks(blocks: &[Value], path: &str) -> Result<String, GatewayError> {
    let mut text = String::new();
    for (index, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            _ => {
                return Err(invalid(
                    format!("{path}[{index}].type"),
                    "only text blocks are allowed here",
                ));
            }
        }
    }
    Ok(text)
}

/// A user turn: its `tool_result` blocks become tool messages (first, since
/// OpenAI wants them right after the assistant's calls), the rest one user message.
fn user_messages(index: usize, content: &Value, out: &mut Vec<Value>) -> Result<(), GatewayError> {
    let blocks = match content {
        Value::String(text) => {
            out.push(json!({"role": "user", "content": text}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                format!("messages[{index}].content"),
                "must be a string or an array of blocks",
            ));
        }
    };
    let mut parts = Vec::new();
    for (block_index, block) in blocks.iter().enumerate() {
        let path = format!("messages[{index}].content[{block_index}]");
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(json!({"type": "text", "text": block.get("text").and_then(Value::as_str).unwrap_or("")})),
            Some("image") => parts.push(image_part(block, &path)?),
            Some("tool_result") => {
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{path}.tool_use_id"), "a tool_result needs `tool_use_id`"))?;
                let content = match block.get("content") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(inner)) => text_of_blocks(inner, &format!("{path}.content"))?,
                    Some(_) => return Err(invalid(format!("{path}.content"), "must be a string or text blocks")),
                };
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            other => {
                return Err(invalid(
                    format!("{path}.type"),
                    format!("block type `{}` is not supported in user messages by this gateway", other.unwrap_or("(none)")),
                ));
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

fn image_part(block: &Value, path: &str) -> Result<Value, GatewayError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let data = source.get("data").and_then(Value::as_str).unwrap_or("");
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => {
            return Err(invalid(
                format!("{path}.source.type"),
                "image source must be base64 or url",
            ));
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn assistant_message(index: usize, content: &Value) -> Result<Value, GatewayError> {
    let blocks = match content {
        Value::String(text) => return Ok(json!({"role": "assistant", "content": text})),
        Value::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                format!("messages[{index}].content"),
                "must be a string or an array of blocks",
            ));
        }
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for (block_index, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"),
                             "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string)},
            })),
            // Earlier reasoning has no OpenAI counterpart and is not needed to continue.
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(invalid(
                    format!("messages[{index}].content[{block_index}].type"),
                    format!("block type `{}` is not supported in assistant messages by this gateway", other.unwrap_or("(none)")),
                ));
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { text.into() }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}
