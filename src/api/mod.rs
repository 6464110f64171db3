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
    // Most bodies are valid: decode them without tracking the path, which
    // costs an allocation per field; only a body that fails is decoded
    // again, to name the field at fault.
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => Err(decode_error::<T>(body)),
    }
}

/// The error of decoding `body`, naming the field at fault (decoded again
/// with the path tracked).
fn decode_error<T: DeserializeOwned>(body: &[u8]) -> GatewayError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(error) => error,
        Ok(_) => {
            return match deserializer.end() {
                Err(error) => GatewayError::invalid(
                    format!("the request body is not valid JSON: {error}"),
                    None,
                ),
                // Not reached: the same decoder failed on the same body.
                Ok(()) => GatewayError::invalid("invalid request body", None),
            };
        }
    };
    let path = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return GatewayError::invalid(format!("the request body is not valid JSON: {inner}"), None);
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
}
