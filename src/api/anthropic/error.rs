//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}`,
//! with the status the gateway decided. The message is the one the OpenAI
//! door would send, so both doors say the same thing.

use crate::error::{ErrorLabel, GatewayError};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Value, json};

/// Anthropic's error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The Anthropic error body for `error`.
pub fn body(error: &GatewayError) -> Value {
    let openai: Value = serde_json::from_slice(&error.body()).unwrap_or(Value::Null);
    let message = openai
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the request failed");
    json!({"type": "error", "error": {"type": error_type(error.status().as_u16()), "message": message}})
}

pub fn response(error: GatewayError) -> Response {
    let status = error.status();
    let body = body(&error).to_string();
    let label = error.label();
    let retry_after = match &error {
        GatewayError::UpstreamRejected { retry_after, .. } => retry_after.clone(),
        _ => None,
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = retry_after {
        headers.insert(header::RETRY_AFTER, value);
    }
    response.extensions_mut().insert(ErrorLabel(label));
    response
}
