//! One error type for the whole request path, rendered in OpenAI's error shape.
//!
//! Every variant knows its HTTP status, the OpenAI `type`/`code` strings and a
//! low-cardinality label for metrics. The status mapping is one exhaustive
//! `match`, so a new variant is a compile error until someone decides its status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

/// What a refused budget or rate limit tells the client. The quota area
/// defines the refusal; the error only renders it, so it needs no quota type.
pub trait LimitRefusal: std::fmt::Debug + Send + Sync + 'static {
    fn message(&self) -> String;
    /// OpenAI's error `type`.
    fn openai_type(&self) -> &'static str;
    /// OpenAI's error `code`.
    fn code(&self) -> &'static str;
    /// Extra members of the error object that name the limit.
    fn fields(&self) -> serde_json::Value;
    /// `Retry-After` and the rate headers.
    fn headers(&self, headers: &mut axum::http::HeaderMap);
    /// The refusal itself, for code that knows its type.
    fn as_any(&self) -> &dyn std::any::Any;
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The body is not valid JSON, not UTF-8, or a field has the wrong type.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// No key, or a key that matches nothing.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller is known but policy forbids this request.
    #[error("{message}")]
    Forbidden { message: String },
    /// A guardrail rule blocked the request or the response.
    #[error("blocked by guardrail rule `{rule}` ({phase})")]
    ContentPolicy {
        rule: String,
        phase: &'static str,
        param: Option<String>,
    },
    /// The model is not known, or its provider is not configured.
    #[error("{message}")]
    ModelNotFound { message: String },
    /// What an admin request names does not exist (an MCP server, ...).
    #[error("{message}")]
    NotFound { message: String },
    /// What an admin request would create exists already.
    #[error("{message}")]
    Conflict {
        message: String,
        param: Option<String>,
    },
    /// The path is not one the gateway serves.
    #[error("unknown path {0}")]
    UnknownPath(String),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The prompt is longer than the context window of every target that could serve it.
    #[error("{message}")]
    ContextLengthExceeded { message: String },
    /// The request body is larger than `server.max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The upstream answered with a 4xx; its body is passed through untouched.
    #[error("upstream answered {status}")]
    UpstreamRejected {
        status: StatusCode,
        body: Bytes,
        retry_after: Option<HeaderValue>,
    },
    /// The upstream could not be reached, answered 5xx, or answered garbage.
    #[error("{message}")]
    UpstreamFailed { message: String },
    /// The provider refused the gateway's own credentials for it (401/403).
    /// A client's key never goes upstream, so this is never the client's
    /// fault: it is a 502 naming the provider, never the provider's 401/403
    /// (which would tell the client that its own key was wrong), and the
    /// provider's body (which may echo part of the gateway's key) is dropped.
    #[error(
        "provider `{provider}` refused the gateway's own credentials for it (HTTP {status}); \
         your key was accepted: the gateway's operator must fix the key configured for `{provider}`"
    )]
    UpstreamAuth {
        provider: String,
        status: StatusCode,
    },
    /// The upstream did not answer in time.
    #[error("{message}")]
    UpstreamTimeout { message: String },
    /// `Cache-Control: only-if-cached` and the cache has no answer.
    #[error("no cached response for this request (Cache-Control: only-if-cached)")]
    NotCached,
    /// A budget or rate limit would be passed; the refusal names which.
    #[error("{}", .0.message())]
    QuotaExceeded(Box<dyn LimitRefusal>),
    /// The shared quota store is unreachable and the policy is to fail closed.
    #[error("the quota store is unavailable; try again shortly")]
    QuotaUnavailable,
    /// A bug or an invariant broken inside the gateway. The detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where an error came from: drives log level and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    Client,
    Upstream,
    Internal,
}

impl GatewayError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::ContentPolicy { .. } => StatusCode::BAD_REQUEST,
            Self::ModelNotFound { .. } | Self::UnknownPath(_) | Self::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ContextLengthExceeded { .. } => StatusCode::BAD_REQUEST,
            Self::UpstreamRejected { status, .. } => *status,
            Self::UpstreamFailed { .. } | Self::UpstreamAuth { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } | Self::NotCached => StatusCode::GATEWAY_TIMEOUT,
            Self::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn source_kind(&self) -> ErrorSource {
        match self {
            Self::InvalidRequest { .. }
            | Self::Unauthenticated(_)
            | Self::Forbidden { .. }
            | Self::ContentPolicy { .. }
            | Self::ModelNotFound { .. }
            | Self::NotFound { .. }
            | Self::Conflict { .. }
            | Self::UnknownPath(_)
            | Self::MethodNotAllowed
            | Self::PayloadTooLarge { .. }
            | Self::ContextLengthExceeded { .. }
            | Self::NotCached
            | Self::QuotaExceeded(_) => ErrorSource::Client,
            Self::UpstreamRejected { .. }
            | Self::UpstreamFailed { .. }
            | Self::UpstreamAuth { .. }
            | Self::UpstreamTimeout { .. } => ErrorSource::Upstream,
            Self::Internal(_) | Self::QuotaUnavailable => ErrorSource::Internal,
        }
    }

    /// Whether trying again (the same or another target) may succeed: the
    /// provider could not be reached, failed (5xx, garbage), timed out, or
    /// asked to slow down (429, and 408 which OpenAI's SDKs also retry).
    pub fn retryable(&self) -> bool {
        match self {
            Self::UpstreamFailed { .. } | Self::UpstreamTimeout { .. } => true,
            Self::UpstreamRejected { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || *status == StatusCode::REQUEST_TIMEOUT
            }
            // The same credentials would be refused again.
            Self::UpstreamAuth { .. }
            | Self::InvalidRequest { .. }
            | Self::Unauthenticated(_)
            | Self::Forbidden { .. }
            | Self::ContentPolicy { .. }
            | Self::ModelNotFound { .. }
            | Self::NotFound { .. }
            | Self::Conflict { .. }
            | Self::UnknownPath(_)
            | Self::MethodNotAllowed
            | Self::PayloadTooLarge { .. }
            | Self::ContextLengthExceeded { .. }
            | Self::NotCached
            | Self::QuotaExceeded(_)
            | Self::QuotaUnavailable
            | Self::Internal(_) => false,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::ContentPolicy { .. } => "content_policy_violation",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::UnknownPath(_) => "unknown_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::ContextLengthExceeded { .. } => "context_length_exceeded",
            Self::UpstreamRejected { .. } => "upstream_rejected",
            Self::UpstreamFailed { .. } => "upstream_failed",
            Self::UpstreamAuth { .. } => "upstream_auth",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::NotCached => "not_cached",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::QuotaUnavailable => "quota_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// OpenAI's `type` and `code` for this error.
    fn kind_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::InvalidRequest { .. } => ("invalid_request_error", None),
            Self::Unauthenticated(_) => ("invalid_request_error", Some("invalid_api_key")),
            Self::Forbidden { .. } => ("permission_error", Some("model_not_allowed")),
            Self::ContentPolicy { .. } => {
                ("invalid_request_error", Some("content_policy_violation"))
            }
            Self::ModelNotFound { .. } => ("invalid_request_error", Some("model_not_found")),
            Self::NotFound { .. } => ("invalid_request_error", Some("not_found")),
            Self::Conflict { .. } => ("invalid_request_error", Some("conflict")),
            Self::UnknownPath(_) => ("invalid_request_error", Some("unknown_url")),
            Self::MethodNotAllowed => ("invalid_request_error", Some("method_not_allowed")),
            Self::PayloadTooLarge { .. } => ("invalid_request_error", Some("request_too_large")),
            Self::ContextLengthExceeded { .. } => {
                ("invalid_request_error", Some("context_length_exceeded"))
            }
            Self::UpstreamRejected { .. } => ("upstream_error", None),
            Self::UpstreamFailed { .. } => ("upstream_error", Some("bad_gateway")),
            Self::UpstreamAuth { .. } => ("upstream_error", Some("provider_auth_failed")),
            Self::UpstreamTimeout { .. } => ("upstream_error", Some("gateway_timeout")),
            Self::NotCached => ("invalid_request_error", Some("not_cached")),
            Self::QuotaExceeded(refusal) => (refusal.openai_type(), Some(refusal.code())),
            Self::QuotaUnavailable => ("server_error", Some("quota_store_unavailable")),
            Self::Internal(_) => ("server_error", Some("internal_error")),
        }
    }

    /// The message the client sees. Internal details stay in the log.
    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "the gateway hit an internal error; see its log".to_owned(),
            other => other.to_string(),
        }
    }

    /// The OpenAI-shaped JSON error body.
    pub fn body(&self) -> Bytes {
        if let Self::UpstreamRejected { body, .. } = self
            && looks_like_openai_error(body)
        {
            return body.clone();
        }
        let (kind, code) = self.kind_and_code();
        let param = match self {
            Self::InvalidRequest { param, .. }
            | Self::ContentPolicy { param, .. }
            | Self::Conflict { param, .. } => param.as_deref(),
            Self::ContextLengthExceeded { .. } => Some("messages"),
            _ => None,
        };
        let mut value = json!({
            "error": {
                "message": self.public_message(),
                "type": kind,
                "param": param,
                "code": code,
            }
        });
        // A refusal names the limit that tripped, next to the usual members.
        if let Self::QuotaExceeded(refusal) = self
            && let (Some(error), serde_json::Value::Object(fields)) =
                (value["error"].as_object_mut(), refusal.fields())
        {
            error.extend(fields);
        }
        Bytes::from(value.to_string())
    }
}

fn looks_like_openai_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").map(serde_json::Value::is_object))
        .unwrap_or(false)
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Self::UpstreamRejected {
            retry_after: Some(value),
            ..
        } = &self
        {
            headers.insert(header::RETRY_AFTER, value.clone());
        }
        if let Self::QuotaExceeded(refusal) = &self {
            refusal.headers(headers);
        }
        if matches!(self, Self::Unauthenticated(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        response.extensions_mut().insert(ErrorLabel(self.label()));
        response
    }
}

/// Left on error responses so the request log can name what went wrong.
#[derive(Debug, Clone, Copy)]
pub struct ErrorLabel(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: GatewayError, status: u16, code: Option<&str>) {
        assert_eq!(error.status().as_u16(), status, "{error:?}");
        let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body["error"]["code"].as_str(), code, "{body}");
        assert!(body["error"]["message"].is_string());
        assert!(body["error"].get("param").is_some());
        assert!(body["error"].get("type").is_some());
    }

    #[test]
    fn statuses_and_codes() {
        check(GatewayError::invalid("bad", Some("model")), 400, None);
        check(
            GatewayError::Unauthenticated("no key"),
            401,
            Some("invalid_api_key"),
        );
        check(
            GatewayError::ModelNotFound {
                message: "x".into(),
            },
            404,
            Some("model_not_found"),
        );
        check(
            GatewayError::ContentPolicy {
                rule: "pii.email".into(),
                phase: "input",
                param: Some("messages[0].content".into()),
            },
            400,
            Some("content_policy_violation"),
        );
        check(
            GatewayError::PayloadTooLarge { limit: 1 },
            413,
            Some("request_too_large"),
        );
        check(
            GatewayError::UpstreamFailed {
                message: "x".into(),
            },
            502,
            Some("bad_gateway"),
        );
        check(
            GatewayError::UpstreamAuth {
                provider: "openai".into(),
                status: StatusCode::UNAUTHORIZED,
            },
            502,
            Some("provider_auth_failed"),
        );
        check(
            GatewayError::UpstreamTimeout {
                message: "x".into(),
            },
            504,
            Some("gateway_timeout"),
        );
        check(
            GatewayError::Internal("secret detail".into()),
            500,
            Some("internal_error"),
        );
    }

    #[test]
    fn internal_detail_is_not_sent() {
        let body = GatewayError::Internal("db password=hunter2".into()).body();
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    }

    #[test]
    fn upstream_openai_body_passes_through() {
        let upstream = Bytes::from_static(
            br#"{"error":{"message":"m","type":"t","param":"messages","code":null}}"#,
        );
        let error = GatewayError::UpstreamRejected {
            status: StatusCode::BAD_REQUEST,
            body: upstream.clone(),
            retry_after: None,
        };
        assert_eq!(error.body(), upstream);
        let garbage = GatewayError::UpstreamRejected {
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from_static(b"<html>"),
            retry_after: None,
        };
        let body: serde_json::Value = serde_json::from_slice(&garbage.body()).unwrap();
        assert_eq!(body["error"]["type"], "upstream_error");
    }
}
