//! The wire types of the OpenAI-compatible front door. OpenAI's chat schema is
//! the gateway's internal lingua franca: fields the gateway does not use are
//! kept in `extra` and sent on untouched.

pub mod anthropic;
pub mod chat;
pub mod embeddings;
pub mod responses;

use crate::error::GatewayError;
use serde::de::DeserializeOwned;

/// Decode a JSON body, naming the field at fault on error.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    if let Err(error) = std::str::from_utf8(body) {
        return Err(GatewayError::invalid(
            format!(
                "the request body is not valid UTF-8 (at byte {})",
                error.valid_up_to()
            ),
            None,
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return GatewayError::invalid(
                format!("the request body is not valid JSON: {inner}"),
                None,
            );
        }
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = inner
            .to_string()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        let param = match (path.as_str(), missing) {
            (".", Some(field)) => Some(field),
            (_, Some(field)) => Some(format!("{path}.{field}")),
            (".", None) => None,
            (_, None) => Some(path),
        };
        let message = match &param {
            Some(path) => format!("invalid `{path}`: {inner}"),
            None => format!("invalid request body: {inner}"),
        };
        GatewayError::InvalidRequest { message, param }
    })?;
    deserializer.end().map_err(|error| {
        GatewayError::invalid(format!("the request body is not valid JSON: {error}"), None)
    })?;
    Ok(value)
}
