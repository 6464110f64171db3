//! The Anthropic Messages wire: `POST {base_url}/v1/messages` with
//! `x-api-key` and `anthropic-version: 2023-06-01`. Translation lives in
//! `request.rs` and `response.rs` as pure functions, tested by golden files.

pub mod request;
pub mod response;
#[cfg(test)]
mod tests;

use super::upstream::Upstream;
use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, StreamItem};
use crate::error::GatewayError;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeMap;

pub const VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    upstream: Upstream,
    messages_url: reqwest::Url,
    /// `max_output_tokens` by model, the default for Anthropic's required `max_tokens`.
    max_output: BTreeMap<String, u32>,
}

impl AnthropicProvider {
    pub fn new(
        upstream: Upstream,
        base_url: &str,
        max_output: BTreeMap<String, u32>,
    ) -> Result<Self, String> {
        let messages_url =
            reqwest::Url::parse(&format!("{}/v1/messages", base_url.trim_end_matches('/')))
                .map_err(|error| format!("base URL `{base_url}`: {error}"))?;
        Ok(Self {
            upstream,
            messages_url,
            max_output,
        })
    }
}

pub use crate::shapes::unix_seconds as now;

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        let default_max = self
            .max_output
            .get(call.upstream_model)
            .copied()
            .unwrap_or(request::FALLBACK_MAX_TOKENS);
        let body = request::translate(call.request, call.upstream_model, default_max)?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let response = self
            .upstream
            .post(self.messages_url.clone(), body, &[])
            .await?;
        if !call.request.is_stream() {
            let bytes = self.upstream.body(response).await?;
            let message: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|_| self.upstream.invalid_json())?;
            let (body, usage) =
                response::complete(&message, now()).map_err(|_| self.upstream.invalid_json())?;
            return Ok(ChatReply::Complete(Complete {
                body: Bytes::from(body.to_string()),
                usage: Some(usage),
            }));
        }
        let mut translator = response::StreamTranslator::new(now());
        let items = self.upstream.sse(response).flat_map(move |event| {
            let items: Vec<Result<StreamItem, GatewayError>> = match event {
                Ok((_, data)) if data.is_empty() => Vec::new(),
                Ok((_, data)) => match translator.event(&data) {
                    Ok(items) => items.into_iter().map(Ok).collect(),
                    Err(error) => vec![Err(error)],
                },
                Err(error) => vec![Err(error)],
            };
            futures::stream::iter(items)
        });
        Ok(ChatReply::Stream(Box::pin(items)))
    }

    async fn embeddings(&self, _call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        Err(GatewayError::invalid(
            "Anthropic offers no embedding models",
            Some("model"),
        ))
    }
}
