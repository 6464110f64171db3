//! A Responses request read and translated to a chat request.

use crate::error::GatewayError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The request fields the gateway understands. OpenAI refuses parameters it
/// does not know, and so does the gateway (`unknown` must stay empty).
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    /// Most tool calls the gateway's tool loop makes for this response.
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    /// A prompt template: `{"id", "version", "variables"}`.
    #[serde(default)]
    pub prompt: Option<Value>,
    /// The gateway's extension for its tool loop: `{"max_cost_usd": ...}`
    /// lowers the loop's dollar limit (`[tool_loop] max_cost_usd`).
    #[serde(default)]
    pub tool_loop: Option<Value>,
    /// Accepted and not acted on: what these ask for does not change a chat
    /// completion (`include` extras, server-side truncation, tiers, cache keys).
    #[serde(default)]
    pub include: Option<Value>,
    #[serde(default)]
    pub truncation: Option<Value>,
    #[serde(default)]
    pub service_tier: Option<Value>,
    #[serde(default)]
    pub prompt_cache_key: Option<Value>,
    #[serde(default)]
    pub safety_identifier: Option<Value>,
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A request as the chat pipeline takes it, and what the response keeps.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The chat completion request.
    pub chat: Value,
    /// This request's input as Responses items (what
    /// `GET /v1/responses/{id}/input_items` lists).
    pub input_items: Vec<Value>,
}

fn invalid(message: impl Into<String>, param: &str) -> GatewayError {
    GatewayError::invalid(message.into(), Some(param))
}

impl ResponsesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Checks that JSON types alone cannot express; each error names its field.
    pub fn check(&self) -> Result<(), GatewayError> {
        if let Some(name) = self.unknown.keys().next() {
            return Err(invalid(format!("Unknown parameter: '{name}'."), name));
        }
        if self.model.is_empty() {
            return Err(invalid("`model` must not be empty", "model"));
        }
        if self.input.is_none() && self.previous_response_id.is_none() && self.prompt.is_none() {
            return Err(invalid("Missing required parameter: 'input'.", "input"));
        }
        if self.max_output_tokens == Some(0) {
            return Err(invalid(
                "`max_output_tokens` must be at least 1",
                "max_output_tokens",
            ));
        }
        Ok(())
    }

    /// This request's input as items: a string is one user message.
    pub fn input_items(&self) -> Result<Vec<Value>, GatewayError> {
        match &self.input {
            None => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(vec![json!({
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}],
            })]),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| normalize_item(item, i))
                .collect(),
            Some(_) => Err(invalid(
                "`input` must be a string or an array of items",
                "input",
            )),
        }
    }

    /// The chat request: `instructions` as the system message, the rendered
    /// prompt template (`prompt`), then the earlier conversation (`history`, chat messages of the responses this
    /// one continues), then this input; tools, tool choice, text format and
    /// limits translated to their chat names.
    pub fn to_chat(
        &self,
        prompt: Option<Value>,
        history: &[Value],
    ) -> Result<Translated, GatewayError> {
        let input_items = self.input_items()?;
        let mut messages = Vec::new();
        if let Some(instructions) = &self.instructions {
            messages.push(json!({"role": "system", "content": instructions}));
        }
        messages.extend(prompt);
        messages.extend(history.iter().cloned());
        messages.extend(items_to_messages(&input_items)?);
        let mut chat = Map::new();
        chat.insert("model".into(), json!(self.model));
        chat.insert("messages".into(), Value::Array(messages));
        if let Some(max) = self.max_output_tokens {
            chat.insert("max_completion_tokens".into(), json!(max));
        }
        for (name, value) in [("temperature", self.temperature), ("top_p", self.top_p)] {
            if let Some(value) = value {
                chat.insert(name.into(), json!(value));
            }
        }
        if let Some(parallel) = self.parallel_tool_calls {
            chat.insert("parallel_tool_calls".into(), json!(parallel));
        }
        if let Some(user) = &self.user {
            chat.insert("user".into(), json!(user));
        }
        if let Some(tools) = &self.tools
            && !tools.is_empty()
        {
            // `mcp` tools are the gateway's to run (`pipeline::tool_loop`).
            let tools = tools
                .iter()
                .enumerate()
                .filter(|(_, tool)| !is_mcp_tool(tool))
                .map(|(i, tool)| chat_tool(tool, i))
                .collect::<Result<Vec<_>, _>>()?;
            if !tools.is_empty() {
                chat.insert("tools".into(), Value::Array(tools));
            }
        }
        if let Some(choice) = &self.tool_choice {
            chat.insert("tool_choice".into(), chat_tool_choice(choice)?);
        }
        if let Some(format) = self.text.as_ref().and_then(|t| t.get("format"))
            && let Some(format) = chat_response_format(format)?
        {
            chat.insert("response_format".into(), format);
        }
        if self.is_stream() {
            chat.insert("stream".into(), json!(true));
            // Usage is part of `response.completed`, so it is always asked for.
            chat.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Ok(Translated {
            chat: Value::Object(chat),
            input_items,
        })
    }
}

/// An input item with its `type` spelled out (`{"role", "content"}` alone is
/// a message) and its content as parts.
fn normalize_item(item: &Value, i: usize) -> Result<Value, GatewayError> {
    let at = format!("input[{i}]");
    let Some(object) = item.as_object() else {
        return Err(invalid(format!("`{at}` must be an object"), &at));
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = object.get("role").and_then(Value::as_str).unwrap_or("");
            if !["user", "assistant", "system", "developer"].contains(&role) {
                return Err(invalid(
                    format!("`{at}.role` must be one of user, assistant, system, developer"),
                    &format!("{at}.role"),
                ));
            }
            let content = match object.get("content") {
                Some(Value::String(text)) => {
                    let part = if role == "assistant" {
                        "output_text"
                    } else {
                        "input_text"
                    };
                    json!([{"type": part, "text": text}])
                }
                Some(Value::Array(parts)) => Value::Array(parts.clone()),
                _ => {
                    return Err(invalid(
                        format!("`{at}.content` must be a string or an array of parts"),
                        &format!("{at}.content"),
                    ));
                }
            };
            let mut out = object.clone();
            out.insert("type".into(), json!("message"));
            out.insert("content".into(), content);
            Ok(Value::Object(out))
        }
        "function_call" => {
            for field in ["call_id", "name", "arguments"] {
                if !object.get(field).is_some_and(Value::is_string) {
                    return Err(invalid(
                        format!("`{at}.{field}` must be a string"),
                        &format!("{at}.{field}"),
                    ));
                }
            }
            Ok(item.clone())
        }
        "function_call_output" => {
            if !object.get("call_id").is_some_and(Value::is_string) {
                return Err(invalid(
                    format!("`{at}.call_id` must be a string"),
                    &format!("{at}.call_id"),
                ));
            }
            Ok(item.clone())
        }
        // Reasoning items carry nothing a chat model can read back; an
        // approval answers the tool loop (`pipeline::tool_loop`).
        "reasoning" | "mcp_approval_response" => Ok(item.clone()),
        other => Err(invalid(
            format!("`{at}.type` `{other}` is not supported by this gateway"),
            &format!("{at}.type"),
        )),
    }
}

/// A content part as a chat content part.
fn chat_part(part: &Value) -> Option<Value> {
    match part.get("type").and_then(Value::as_str)? {
        "input_text" | "output_text" | "text" => {
            Some(json!({"type": "text", "text": part.get("text")?.as_str()?}))
        }
        "refusal" => Some(json!({"type": "text", "text": part.get("refusal")?.as_str()?})),
        "input_image" => {
            let url = part.get("image_url")?.as_str()?;
            let mut image = json!({"url": url});
            if let Some(detail) = part.get("detail") {
                image["detail"] = detail.clone();
            }
            Some(json!({"type": "image_url", "image_url": image}))
        }
        _ => None,
    }
}

/// Responses items as chat messages: consecutive function calls become one
/// assistant message with several tool calls, as chat expects.
pub fn items_to_messages(items: &[Value]) -> Result<Vec<Value>, GatewayError> {
    let mut messages: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let role = item["role"].as_str().unwrap_or("user");
                let parts: Vec<Value> = item["content"]
                    .as_array()
                    .map(|parts| parts.iter().filter_map(chat_part).collect())
                    .unwrap_or_default();
                if parts.is_empty() {
                    return Err(invalid(
                        format!("`input[{i}].content` has no text or image part"),
                        &format!("input[{i}].content"),
                    ));
                }
                // Plain text as a string: every provider adapter reads that.
                let content = if parts.iter().all(|p| p["type"] == "text") {
                    json!(
                        parts
                            .iter()
                            .filter_map(|p| p["text"].as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                } else {
                    Value::Array(parts)
                };
                messages.push(json!({"role": role, "content": content}));
            }
            Some("function_call") => {
                let call = json!({
                    "id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                });
                let joins = messages.last().is_some_and(|last| {
                    last["role"] == "assistant" && last.get("tool_calls").is_some()
                });
                if joins {
                    if let Some(Value::Array(calls)) =
                        messages.last_mut().and_then(|m| m.get_mut("tool_calls"))
                    {
                        calls.push(call);
                    }
                } else {
                    messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
                }
            }
            Some("function_call_output") => {
                let output = match &item["output"] {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                messages.push(
                    json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}),
                );
            }
            _ => {}
        }
    }
    Ok(messages)
}

/// An `{"type": "mcp", ...}` tool: run by the gateway, not offered as is.
pub fn is_mcp_tool(tool: &Value) -> bool {
    tool.get("type").and_then(Value::as_str) == Some("mcp")
}

fn chat_tool(tool: &Value, i: usize) -> Result<Value, GatewayError> {
    let at = format!("tools[{i}]");
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                return Err(invalid(
                    format!("Missing required parameter: '{at}.name'."),
                    &format!("{at}.name"),
                ));
            };
            let mut function = json!({"name": name});
            for field in ["description", "parameters", "strict"] {
                if let Some(value) = tool.get(field).filter(|v| !v.is_null()) {
                    function[field] = value.clone();
                }
            }
            Ok(json!({"type": "function", "function": function}))
        }
        Some(other) => Err(invalid(
            format!("`{at}.type` `{other}` is not supported by this gateway (function tools are)"),
            &format!("{at}.type"),
        )),
        None => Err(invalid(
            format!("Missing required parameter: '{at}.type'."),
            &format!("{at}.type"),
        )),
    }
}

fn chat_tool_choice(choice: &Value) -> Result<Value, GatewayError> {
    match choice {
        Value::String(mode) if ["auto", "none", "required"].contains(&mode.as_str()) => {
            Ok(choice.clone())
        }
        Value::Object(object) if object.get("type") == Some(&json!("function")) => {
            match object.get("name").and_then(Value::as_str) {
                Some(name) => Ok(json!({"type": "function", "function": {"name": name}})),
                None => Err(invalid(
                    "Missing required parameter: 'tool_choice.name'.",
                    "tool_choice.name",
                )),
            }
        }
        _ => Err(invalid(
            "`tool_choice` must be auto, none, required or a function",
            "tool_choice",
        )),
    }
}

fn chat_response_format(format: &Value) -> Result<Option<Value>, GatewayError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let (Some(name), Some(schema)) = (format.get("name"), format.get("schema")) else {
                return Err(invalid(
                    "`text.format` of type json_schema needs `name` and `schema`",
                    "text.format",
                ));
            };
            let mut json_schema = json!({"name": name, "schema": schema});
            for field in ["strict", "description"] {
                if let Some(value) = format.get(field) {
                    json_schema[field] = value.clone();
                }
            }
            Ok(Some(
                json!({"type": "json_schema", "json_schema": json_schema}),
            ))
        }
        _ => Err(invalid(
            "`text.format.type` must be text, json_object or json_schema",
            "text.format.type",
        )),
    }
}
