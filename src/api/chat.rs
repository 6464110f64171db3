//! `POST /v1/chat/completions` request shape and its checks.

use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most completions one chat request may ask for, through `n` or
/// `best_of` (OpenAI's own maximum for `n`). Each one is reserved against
/// the caller's budget, so the count is bounded before anything is estimated.
pub const MAX_CHOICES: u64 = 128;

/// Request fields that multiply the output: `n` (OpenAI) and `best_of`
/// (OpenAI-compatible servers such as vLLM generate that many candidates
/// and bill for each).
const CHOICE_FIELDS: [&str; 2] = ["n", "best_of"];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Everything else (tools, response_format, temperature, ...), passed on untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// Calls `f` with every piece of text in the message: string content,
    /// text parts, and tool-call arguments.
    pub fn for_each_text(&self, mut f: impl FnMut(&str)) {
        match &self.content {
            Some(Value::String(text)) => f(text),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        f(text);
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(calls)) = self.extra.get("tool_calls") {
            for call in calls {
                if let Some(function) = call.get("function") {
                    for key in ["name", "arguments"] {
                        if let Some(text) = function.get(key).and_then(Value::as_str) {
                            f(text);
                        }
                    }
                }
            }
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.extra.get("name").and_then(Value::as_str)
    }
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for the final usage chunk of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The completion limit the client set, under either name.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// How many completions the upstream may generate, and bill, for this
    /// request: the larger of `n` and `best_of`, 1 when neither is set.
    pub fn choices(&self) -> u64 {
        CHOICE_FIELDS
            .iter()
            .filter_map(|field| self.extra.get(*field).and_then(Value::as_u64))
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Checks that JSON types alone cannot express; each error names its field.
    pub fn check(&self) -> Result<(), GatewayError> {
        if self.model.is_empty() {
            return Err(GatewayError::invalid(
                "`model` must not be empty",
                Some("model"),
            ));
        }
        if self.messages.is_empty() {
            return Err(GatewayError::invalid(
                "`messages` must contain at least one message",
                Some("messages"),
            ));
        }
        for (index, message) in self.messages.iter().enumerate() {
            let needs_content = matches!(
                message.role,
                Role::System | Role::Developer | Role::User | Role::Tool
            );
            let param = || format!("messages[{index}].content");
            match &message.content {
                Some(Value::String(_)) => {}
                Some(Value::Array(parts)) => {
                    if let Some(bad) = parts.iter().position(|part| !part.is_object()) {
                        return Err(GatewayError::InvalidRequest {
                            message: format!(
                                "`messages[{index}].content[{bad}]` must be an object"
                            ),
                            param: Some(format!("messages[{index}].content[{bad}]")),
                        });
                    }
                }
                None | Some(Value::Null) if !needs_content => {}
                None | Some(Value::Null) => {
                    return Err(GatewayError::InvalidRequest {
                        message: format!("`{}` is required for this role", param()),
                        param: Some(param()),
                    });
                }
                Some(_) => {
                    return Err(GatewayError::InvalidRequest {
                        message: format!("`{}` must be a string or an array of parts", param()),
                        param: Some(param()),
                    });
                }
            }
        }
        if self.stream_options.is_some() && !self.is_stream() {
            return Err(GatewayError::invalid(
                "`stream_options` is only allowed when `stream` is true",
                Some("stream_options"),
            ));
        }
        for (field, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if value == Some(0) {
                return Err(GatewayError::invalid(
                    format!("`{field}` must be at least 1"),
                    Some(field),
                ));
            }
        }
        for field in CHOICE_FIELDS {
            match self.extra.get(field) {
                None | Some(Value::Null) => {}
                Some(value) => {
                    if !value
                        .as_u64()
                        .is_some_and(|count| (1..=MAX_CHOICES).contains(&count))
                    {
                        return Err(GatewayError::invalid(
                            format!("`{field}` must be an integer from 1 to {MAX_CHOICES}"),
                            Some(field),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::decode_json;

    /// Decode and check `body`; `Ok` or the name of the field at fault.
    fn check(body: &str, expected: Result<(), Option<&str>>) {
        let result = decode_json::<ChatRequest>(body.as_bytes()).and_then(|r| r.check());
        match (result, expected) {
            (Ok(()), Ok(())) => {}
            (Err(GatewayError::InvalidRequest { param, message }), Err(field)) => {
                assert_eq!(param.as_deref(), field, "{body} -> {message}")
            }
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let ok = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        check(ok, Ok(()));
        check(
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            Err(Some("model")),
        );
        check(r#"{"model":"m"}"#, Err(Some("messages")));
        check(r#"{"model":"m","messages":"hi"}"#, Err(Some("messages")));
        check(r#"{"model":"m","messages":[]}"#, Err(Some("messages")));
        check(r#"{"model":7,"messages":[]}"#, Err(Some("model")));
        check(
            r#"{"model":"m","messages":[{"role":"wizard","content":"hi"}]}"#,
            Err(Some("messages[0].role")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user"}]}"#,
            Err(Some("messages[0].content")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            Err(Some("messages[0].content")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[]}]}"#,
            Ok(()),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            Err(Some("stream")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
            Err(Some("max_tokens")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
            Err(Some("max_tokens")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#,
            Err(Some("stream_options")),
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}"#,
            Err(None),
        );
        check(r#"{"model":"m","messages":[]} trailing"#, Err(None));
        check("[1,2]", Err(None));
    }

    #[test]
    fn choices_are_bounded_and_counted() {
        let with = |fields: &str| {
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{fields}}}"#)
        };
        for (fields, expected) in [
            ("", Ok(())),
            (r#","n":null"#, Ok(())),
            (r#","n":1"#, Ok(())),
            (r#","n":128"#, Ok(())),
            (r#","n":129"#, Err(Some("n"))),
            (r#","n":1000000"#, Err(Some("n"))),
            (r#","n":0"#, Err(Some("n"))),
            (r#","n":-1"#, Err(Some("n"))),
            (r#","n":1.5"#, Err(Some("n"))),
            (r#","n":"4""#, Err(Some("n"))),
            (r#","best_of":129"#, Err(Some("best_of"))),
            (r#","n":2,"best_of":5"#, Ok(())),
        ] {
            check(&with(fields), expected);
        }
        let choices = |fields: &str| {
            decode_json::<ChatRequest>(with(fields).as_bytes())
                .unwrap()
                .choices()
        };
        assert_eq!(choices(""), 1);
        assert_eq!(choices(r#","n":null"#), 1);
        assert_eq!(choices(r#","n":7"#), 7);
        assert_eq!(choices(r#","n":2,"best_of":5"#), 5);
        assert_eq!(choices(r#","best_of":3"#), 3);
    }

    #[test]
    fn unknown_fields_survive_the_round_trip() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"x","name":"bob"}],
            "tools":[{"type":"function","function":{"name":"f"}}],"logprobs":true,"response_format":{"type":"json_object"}}"#;
        let request: ChatRequest = decode_json(body.as_bytes()).unwrap();
        let out = serde_json::to_value(&request).unwrap();
        let original: Value = serde_json::from_str(body).unwrap();
        assert_eq!(out, original);
    }

    #[test]
    fn invalid_utf8_is_a_clear_error() {
        let result = decode_json::<ChatRequest>(b"{\"model\":\"\xff\"}");
        assert!(matches!(result, Err(GatewayError::InvalidRequest { .. })));
    }
}
