//! What happens to an OpenAI request field a target wire cannot express.
//! Each wire lists its rules as a table; a field it does not list and does not
//! translate is dropped with a warning. Nothing is changed silently.

use crate::error::GatewayError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Sent nowhere; a warning names the field.
    Drop,
    /// The request fails with a 400 naming the field: dropping it would change
    /// what the caller gets in a way they would not notice.
    Reject,
}

/// Checks `extra` against `rules`, skipping the fields the wire `translated`.
/// `wire` completes "not supported by ..." (e.g. "the gemini wire format").
pub fn apply(
    wire: &str,
    extra: &Map<String, Value>,
    translated: &[&str],
    rules: &[(&str, Rule)],
) -> Result<(), GatewayError> {
    for (field, value) in extra {
        if translated.contains(&field.as_str()) || value.is_null() {
            continue;
        }
        let rule = rules
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(Rule::Drop, |(_, rule)| *rule);
        match rule {
            Rule::Drop => {
                tracing::warn!(field = %field, wire, "request field not supported by the provider; dropped");
            }
            Rule::Reject => {
                return Err(GatewayError::InvalidRequest {
                    message: format!("`{field}` is not supported by {wire}"),
                    param: Some(field.clone()),
                });
            }
        }
    }
    Ok(())
}

/// `messages[i].content[j]`-style parameter names.
pub fn at(path: impl std::fmt::Display) -> Option<String> {
    Some(path.to_string())
}

/// A 400 naming `param`.
pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidRequest {
        message: message.into(),
        param: Some(param.into()),
    }
}

/// The parsed `function.arguments` of an OpenAI tool call; empty or absent
/// arguments are `{}`. `param` names the field in the 400 when they are not JSON.
pub fn tool_call_arguments(call: &Value, param: String) -> Result<Value, GatewayError> {
    let arguments = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    if arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(arguments)
        .map_err(|_| invalid(param, "tool call arguments must be a JSON object"))
}

/// An OpenAI `data:` image URL split into media type and base64 data.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media_type, data) = rest.split_once(";base64,")?;
    Some((media_type, data))
}

/// The text of an OpenAI content value (string, or text parts joined).
pub fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_drop_or_reject() {
        let rules = [("logprobs", Rule::Reject), ("seed", Rule::Drop)];
        let check = |body: Value, expected: Result<(), &str>| {
            let extra = body.as_object().unwrap().clone();
            match (
                apply("the test wire format", &extra, &["tools"], &rules),
                expected,
            ) {
                (Ok(()), Ok(())) => {}
                (Err(GatewayError::InvalidRequest { param, .. }), Err(field)) => {
                    assert_eq!(param.as_deref(), Some(field))
                }
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        };
        check(serde_json::json!({"seed": 1, "tools": []}), Ok(()));
        check(serde_json::json!({"unknown": 1}), Ok(()));
        check(serde_json::json!({"logprobs": null}), Ok(()));
        check(serde_json::json!({"logprobs": true}), Err("logprobs"));
    }

    #[test]
    fn data_urls_split() {
        assert_eq!(
            data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(data_url("https://x/y.png"), None);
    }
}
