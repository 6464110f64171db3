//! `POST /v1/embeddings` request shape and its checks.

use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingsRequest {
    /// `input` is a string, an array of strings, an array of token ids, or an
    /// array of token-id arrays; none of them empty.
    pub fn check(&self) -> Result<(), GatewayError> {
        if self.model.is_empty() {
            return Err(GatewayError::invalid(
                "`model` must not be empty",
                Some("model"),
            ));
        }
        let bad = || {
            GatewayError::invalid(
                "`input` must be a non-empty string, array of strings, array of token ids or array of token-id arrays",
                Some("input"),
            )
        };
        let is_token = |v: &Value| v.as_u64().is_some();
        match &self.input {
            Value::String(text) if !text.is_empty() => Ok(()),
            Value::Array(items) if !items.is_empty() => {
                let all_strings = items
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| !s.is_empty()));
                let all_tokens = items.iter().all(is_token);
                let all_token_arrays = items.iter().all(|v| {
                    v.as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(is_token))
                });
                if all_strings || all_tokens || all_token_arrays {
                    Ok(())
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }

    /// The texts to count tokens of (token-id inputs count themselves).
    pub fn texts(&self) -> Vec<&str> {
        match &self.input {
            Value::String(text) => vec![text.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::decode_json;

    fn check(body: &str, ok: bool) {
        let result = decode_json::<EmbeddingsRequest>(body.as_bytes()).and_then(|r| r.check());
        assert_eq!(result.is_ok(), ok, "{body}: {result:?}");
    }

    #[test]
    fn input_shapes() {
        check(r#"{"model":"m","input":"hello"}"#, true);
        check(r#"{"model":"m","input":["a","b"]}"#, true);
        check(r#"{"model":"m","input":[1,2,3]}"#, true);
        check(r#"{"model":"m","input":[[1],[2,3]]}"#, true);
        check(r#"{"model":"m","input":""}"#, false);
        check(r#"{"model":"m","input":[]}"#, false);
        check(r#"{"model":"m","input":["a",1]}"#, false);
        check(r#"{"model":"m","input":{"x":1}}"#, false);
        check(r#"{"model":"m"}"#, false);
    }
}
