//! A tool call as the HTTP request the operation describes, sent with the
//! credentials the gateway holds for the API (never the client's), and the
//! answer as MCP content.

use super::operations::{BODY, Operation, ParamLocation};
use crate::shapes::Secret;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};
use std::time::Duration;

/// Characters escaped in a path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where the API's credential goes.
#[derive(Debug, Clone)]
pub enum AuthPlacement {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(<secret>)`, the secret being `user:password`.
    Basic,
    /// A header of this name carries the secret.
    Header(String),
    /// A query parameter of this name carries the secret.
    Query(String),
}

#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub placement: AuthPlacement,
    pub secret: Secret,
}

/// One REST API: where it is, how to sign in, and the bounds of a call.
#[derive(Debug, Clone)]
pub struct Api {
    pub base_url: String,
    pub auth: Option<ApiAuth>,
    pub client: reqwest::Client,
    pub timeout: Duration,
    /// Longest answer body passed on; longer ones are cut, with a note.
    pub max_response_bytes: usize,
}

/// A scalar argument as it is written in a URL or header.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Api {
    /// The request an operation's (already validated) arguments make.
    pub fn request(
        &self,
        operation: &Operation,
        arguments: &Map<String, Value>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let mut path = operation.path.clone();
        let mut query: Vec<(String, String)> = Vec::new();
        let mut headers = http::HeaderMap::new();
        for parameter in &operation.parameters {
            let Some(value) = arguments.get(&parameter.name) else {
                continue;
            };
            match parameter.location {
                ParamLocation::Path => {
                    let text = match value {
                        Value::Array(items) => {
                            items.iter().map(scalar).collect::<Vec<_>>().join(",")
                        }
                        other => scalar(other),
                    };
                    let encoded = utf8_percent_encode(&text, SEGMENT).to_string();
                    path = path.replace(&format!("{{{}}}", parameter.name), &encoded);
                }
                ParamLocation::Query => match value {
                    Value::Array(items) if parameter.explode => {
                        query.extend(items.iter().map(|i| (parameter.name.clone(), scalar(i))));
                    }
                    Value::Array(items) => query.push((
                        parameter.name.clone(),
                        items.iter().map(scalar).collect::<Vec<_>>().join(","),
                    )),
                    Value::Object(fields) if parameter.explode => {
                        query.extend(fields.iter().map(|(k, v)| (k.clone(), scalar(v))));
                    }
                    other => query.push((parameter.name.clone(), scalar(other))),
                },
                ParamLocation::Header => {
                    if let (Ok(name), Ok(value)) = (
                        http::HeaderName::try_from(parameter.name.as_str()),
                        http::HeaderValue::try_from(scalar(value)),
                    ) {
                        headers.insert(name, value);
                    }
                }
            }
        }
        if let Some(ApiAuth {
            placement: AuthPlacement::Query(name),
            secret,
        }) = &self.auth
        {
            query.push((name.clone(), secret.expose().to_owned()));
        }
        let url = format!("{}{}", self.base_url.trim_end_matches('/'), path);
        let mut url = reqwest::Url::parse(&url).map_err(|error| format!("`{url}`: {error}"))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let method =
            http::Method::from_bytes(operation.method.as_bytes()).unwrap_or(http::Method::GET);
        let mut request = self
            .client
            .request(method, url)
            .timeout(self.timeout)
            .headers(headers)
            .header(http::header::ACCEPT, "application/json, */*;q=0.5");
        if let Some(auth) = &self.auth {
            request = match &auth.placement {
                AuthPlacement::Bearer => request.bearer_auth(auth.secret.expose()),
                AuthPlacement::Basic => {
                    let (user, password) = auth
                        .secret
                        .expose()
                        .split_once(':')
                        .unwrap_or((auth.secret.expose(), ""));
                    request.basic_auth(user, Some(password))
                }
                AuthPlacement::Header(name) => {
                    let mut value = http::HeaderValue::try_from(auth.secret.expose())
                        .unwrap_or(http::HeaderValue::from_static(""));
                    value.set_sensitive(true);
                    request.header(name.as_str(), value)
                }
                AuthPlacement::Query(_) => request,
            };
        }
        if operation.body.is_some()
            && let Some(body) = arguments.get(BODY)
        {
            request = request.json(body);
        }
        Ok(request)
    }

    /// Send the call and turn the answer into a tool result: a 2xx as its
    /// body (and structured content when the operation declares an object
    /// answer and got one), anything else as a tool error naming the status.
    /// A failure to reach the API is an `Err` (the upstream is unavailable).
    pub async fn call(
        &self,
        operation: &Operation,
        arguments: &Map<String, Value>,
    ) -> Result<CallToolResult, String> {
        let mut response = self
            .request(operation, arguments)?
            .send()
            .await
            .map_err(|error| {
                format!(
                    "{} {}: {}",
                    operation.method,
                    operation.path,
                    error.without_url()
                )
            })?;
        let status = response.status();
        let mut body = Vec::new();
        let mut cut = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| format!("reading the answer: {}", error.without_url()))?
        {
            let room = self.max_response_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let mut text = String::from_utf8_lossy(&body).into_owned();
        if cut {
            text.push_str(&format!(
                "\n[answer cut at {} bytes by the gateway]",
                self.max_response_bytes
            ));
        }
        if !status.is_success() {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "HTTP {}: {text}",
                status.as_u16()
            ))]));
        }
        let structured = match (&operation.output_schema, cut) {
            (Some(_), false) => serde_json::from_slice::<Value>(&body)
                .ok()
                .filter(Value::is_object),
            _ => None,
        };
        Ok(match structured {
            Some(value) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(value);
                result
            }
            None => CallToolResult::success(vec![ContentBlock::text(text)]),
        })
    }
}
