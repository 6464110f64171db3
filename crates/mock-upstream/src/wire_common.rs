//! What the non-OpenAI mock wires share: the echo answer, the tool call a
//! mock makes, ids, and SSE responses paced like a real upstream.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};

/// The answer a mock gives, in wire-neutral terms.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) id: String,
    pub(crate) call_id: String,
    /// `Echo: <last user text>`, cut at `max_tokens` words.
    pub(crate) text: String,
    pub(crate) truncated: bool,
    /// A tool to call, with its input, instead of text.
    pub(crate) call: Option<(String, Value)>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

/// One token per whitespace-separated word, as the OpenAI mock counts.
pub(crate) fn text_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

pub(crate) fn request_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn reply(
    prompt_tokens: u64,
    last_user_text: &str,
    max_tokens: u64,
    call: Option<(String, Value)>,
) -> Reply {
    let words: Vec<&str> = std::iter::once("Echo:")
        .chain(last_user_text.split_whitespace())
        .collect();
    let kept = words
        .len()
        .min(usize::try_from(max_tokens).unwrap_or(usize::MAX));
    let completion_tokens = match &call {
        Some((_, input)) => text_tokens(&input.to_string()).max(1),
        None => kept as u64,
    };
    Reply {
        id: request_id("msg_mock_"),
        call_id: request_id("toolu_mock_"),
        text: words[..kept].join(" "),
        truncated: kept < words.len(),
        call,
        prompt_tokens: prompt_tokens.max(1),
        completion_tokens,
    }
}

/// The text split the way the OpenAI mock streams it: `Echo:`, ` word`, ...
pub(crate) fn echo_words(text: &str) -> Vec<String> {
    text.split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// A tool input that satisfies `schema`'s required properties: strings get
/// `"mock"`, numbers 1, booleans true, others null.
pub(crate) fn input_for(schema: &Value) -> Value {
    let mut input = Map::new();
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let kind = schema
            .pointer(&format!("/properties/{name}/type"))
            .and_then(Value::as_str);
        let value = match kind {
            Some("string") => json!("mock"),
            Some("integer" | "number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
        input.insert(name.to_owned(), value);
    }
    Value::Object(input)
}

/// A streamed response (`text/event-stream` unless the caller changes it)
/// sending `events` one by one, `pace` apart.
pub(crate) fn sse_response(events: Vec<Bytes>, pace: Duration) -> Response {
    let stream = futures::stream::iter(events).then(move |event| async move {
        tokio::time::sleep(pace).await;
        Ok::<_, std::convert::Infallible>(event)
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
