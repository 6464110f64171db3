//! Failures on demand, selected by the request's `model`, so a gateway
//! configuration can route a model name straight into a failure mode.
//!
//! Bodies are OpenAI's own wording, kept as static bytes.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::{MockState, json_response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `fault-500`: OpenAI's generic server error.
    ServerError,
    /// `fault-503`: OpenAI's overload answer.
    Overloaded,
    /// `fault-429`: a rate limit with `Retry-After` and `x-ratelimit-*`.
    RateLimited,
    /// `fault-400`: a client error the gateway must pass through unchanged.
    BadRequest,
    /// `fault-403`: OpenAI refusing the account behind the key (its region);
    /// the gateway must not pass it on as the client's own 403.
    Forbidden,
    /// `fault-slow`: nothing at all, headers included, for a while.
    Slow,
    /// `fault-truncate`: the body stops partway.
    Truncate,
    /// `fault-malformed`: a 200 JSON response that is not JSON.
    Malformed,
    /// `fault-context`: the prompt is longer than the model's context window.
    ContextTooLong,
}

const SERVER_ERROR: &str = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;
const OVERLOADED: &str = r#"{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}"#;
const RATE_LIMITED: &str = r#"{"error":{"message":"Rate limit reached for fault-429 in organization org-mock on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const BAD_REQUEST: &str = r#"{"error":{"message":"Invalid 'messages[0].content': string too long. Expected a string with maximum length 10485760, but got a string with length 10485761 instead.","type":"invalid_request_error","param":"messages","code":"string_above_max_length"}}"#;
const FORBIDDEN: &str = r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;
const CONTEXT_TOO_LONG: &str = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
const MALFORMED: &str = "<html><body>upstream proxy error</body></html>";

const RATE_LIMIT_HEADERS: &[(&str, &str)] = &[
    ("retry-after", "1"),
    ("x-ratelimit-limit-requests", "500"),
    ("x-ratelimit-remaining-requests", "0"),
    ("x-ratelimit-reset-requests", "1s"),
    ("x-ratelimit-limit-tokens", "200000"),
    ("x-ratelimit-remaining-tokens", "199990"),
    ("x-ratelimit-reset-tokens", "3ms"),
];

impl Fault {
    pub(crate) fn from_model(model: &str) -> Option<Fault> {
        Some(match model.strip_prefix("fault-")? {
            "500" => Fault::ServerError,
            "503" => Fault::Overloaded,
            "429" => Fault::RateLimited,
            "400" => Fault::BadRequest,
            "403" => Fault::Forbidden,
            "slow" => Fault::Slow,
            "truncate" => Fault::Truncate,
            "malformed" => Fault::Malformed,
            "context" => Fault::ContextTooLong,
            _ => return None,
        })
    }

    /// Runs the part of the fault that comes before any normal processing:
    /// returns the response that replaces the normal answer, or `None` when
    /// the request should go on (after a delay, for `fault-slow`).
    pub(crate) async fn before(self, state: &MockState) -> Option<Response> {
        let (status, body) = match self {
            Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR),
            Fault::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, OVERLOADED),
            Fault::RateLimited => (StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED),
            Fault::BadRequest => (StatusCode::BAD_REQUEST, BAD_REQUEST),
            Fault::Forbidden => (StatusCode::FORBIDDEN, FORBIDDEN),
            Fault::Malformed => (StatusCode::OK, MALFORMED),
            Fault::ContextTooLong => (StatusCode::BAD_REQUEST, CONTEXT_TOO_LONG),
            Fault::Slow => {
                tokio::time::sleep(state.options().slow_first_byte).await;
                return None;
            }
            Fault::Truncate => return None,
        };
        let mut resp = json_response(status, Bytes::from_static(body.as_bytes()));
        if self == Fault::RateLimited {
            let headers = resp.headers_mut();
            for (name, value) in RATE_LIMIT_HEADERS {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
        }
        Some(resp)
    }
}

/// A 200 whose JSON body stops halfway, as when an upstream connection is
/// cut after the headers went out.
pub(crate) fn truncated(body: String) -> Response {
    let mut body = body.into_bytes();
    let mut half = body.len() / 2;
    // Keep the cut away from the closing brace even for tiny bodies.
    if half == 0 {
        half = body.len().saturating_sub(1);
    }
    body.truncate(half);
    json_response(StatusCode::OK, body)
}
