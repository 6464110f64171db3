//! The HTTP exchange every HTTP adapter shares: send a JSON body with the
//! provider's headers under the first-byte timeout, and turn failures into
//! `GatewayError`s. Upstream 4xx bodies of other wires are rewritten into
//! OpenAI's error shape by the wire's own `ErrorBody` function, so a client of
//! the OpenAI door never sees another vendor's error format; OpenAI-wire
//! bodies pass through untouched.

use crate::error::GatewayError;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use http::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// Reads a vendor error body; returns `(message, type)` when it has one.
pub type ErrorBody = fn(&[u8]) -> Option<(String, String)>;

pub struct Upstream {
    pub id: Arc<str>,
    pub client: reqwest::Client,
    /// Sent on every request; credentials are marked sensitive.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
    /// `None` for the OpenAI wire: its 4xx bodies are already OpenAI's shape.
    pub error_body: Option<ErrorBody>,
}

impl Upstream {
    /// POSTs `body`; `extra` headers are per request (e.g. a SigV4 signature).
    pub async fn post(
        &self,
        url: reqwest::Url,
        body: Vec<u8>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<reqwest::Response, GatewayError> {
        let mut request = self
            .client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in self.headers.iter().chain(extra) {
            request = request.header(name, value);
        }
        if let Some(traceparent) = crate::shapes::trace_context::current_traceparent() {
            request = request.header(
                crate::shapes::trace_context::TRACEPARENT_HEADER,
                traceparent,
            );
        }
        let response = tokio::time::timeout(self.first_byte_timeout, request.send())
            .await
            .map_err(|_| GatewayError::UpstreamTimeout {
                message: format!(
                    "provider `{}` sent no response within {:?}",
                    self.id, self.first_byte_timeout
                ),
            })?
            .map_err(|error| self.transport_error(&error))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(response).await)
        }
    }

    pub fn transport_error(&self, error: &reqwest::Error) -> GatewayError {
        if error.is_timeout() {
            return GatewayError::UpstreamTimeout {
                message: format!("provider `{}` timed out", self.id),
            };
        }
        let what = if error.is_connect() {
            "cannot connect to"
        } else {
            "lost the connection to"
        };
        GatewayError::UpstreamFailed {
            message: format!("{what} provider `{}`", self.id),
        }
    }

    /// 4xx: the vendor's message in OpenAI's shape, same status, except
    /// 401/403 (the gateway's own credentials): 502; 5xx: 502.
    async fn status_error(&self, response: reqwest::Response) -> GatewayError {
        const MAX_ERROR_BODY: usize = 64 * 1024;
        let status = response.status();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
        let body = tokio::time::timeout(self.first_byte_timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let body = body.slice(..body.len().min(MAX_ERROR_BODY));
        if !status.is_client_error() {
            return GatewayError::UpstreamFailed {
                message: format!("provider `{}` answered {status}", self.id),
            };
        }
        // Only the gateway's own provider key goes upstream, so a 401/403 is
        // about it, never about the client's key: a 502 naming the provider.
        // Its body is not passed on (OpenAI's echoes part of the key).
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            return GatewayError::UpstreamAuth {
                provider: self.id.to_string(),
                status,
            };
        }
        let Some(error_body) = self.error_body else {
            return GatewayError::UpstreamRejected {
                status,
                body,
                retry_after,
            };
        };
        let (message, kind) = error_body(&body).unwrap_or_else(|| {
            (
                format!("provider `{}` answered {status}", self.id),
                "upstream_error".to_owned(),
            )
        });
        let openai = serde_json::json!({"error": {
            "message": message, "type": kind, "param": null, "code": null,
        }});
        GatewayError::UpstreamRejected {
            status,
            body: Bytes::from(openai.to_string()),
            retry_after,
        }
    }

    /// The whole body of a successful response, under the total timeout.
    pub async fn body(&self, response: reqwest::Response) -> Result<Bytes, GatewayError> {
        tokio::time::timeout(self.total_timeout, response.bytes())
            .await
            .map_err(|_| GatewayError::UpstreamTimeout {
                message: format!(
                    "provider `{}` did not finish within {:?}",
                    self.id, self.total_timeout
                ),
            })?
            .map_err(|error| self.transport_error(&error))
    }

    /// The `data:` payloads (and event names) of an SSE response.
    pub fn sse(
        &self,
        response: reqwest::Response,
    ) -> impl Stream<Item = Result<(String, String), GatewayError>> + Send + 'static {
        let id = self.id.clone();
        response.bytes_stream().eventsource().map(move |event| {
            event
                .map(|event| (event.event, event.data))
                .map_err(|error| GatewayError::UpstreamFailed {
                    message: format!("the stream from provider `{id}` broke: {error}"),
                })
        })
    }

    pub fn invalid_json(&self) -> GatewayError {
        GatewayError::UpstreamFailed {
            message: format!("provider `{}` answered with invalid JSON", self.id),
        }
    }
}

/// A header value that must not reach a log.
pub fn secret_header(value: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| "the provider key contains characters not allowed in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}
