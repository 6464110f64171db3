//! The Google Gemini wire: `{base_url}/v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent?alt=sse`, key in `x-goog-api-key`.
//! Translation lives in `translate.rs` as pure functions.

#[cfg(test)]
mod tests;
pub mod translate;

use super::anthropic::now;
use super::upstream::Upstream;
use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, StreamItem};
use crate::error::GatewayError;
use bytes::Bytes;
use futures::StreamExt;

pub struct GeminiProvider {
    upstream: Upstream,
    base_url: String,
}

impl GeminiProvider {
    pub fn new(upstream: Upstream, base_url: &str) -> Result<Self, String> {
        reqwest::Url::parse(base_url).map_err(|error| format!("base URL `{base_url}`: {error}"))?;
        Ok(Self {
            upstream,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, model: &str, stream: bool) -> Result<reqwest::Url, GatewayError> {
        let mut url = reqwest::Url::parse(&format!("{}/v1beta/models/", self.base_url))
            .map_err(|error| GatewayError::Internal(format!("gemini base URL: {error}")))?;
        let method = if stream {
            "streamGenerateContent"
        } else {
            "generateContent"
        };
        url.path_segments_mut()
            .map_err(|()| GatewayError::Internal("gemini base URL cannot be a base".into()))?
            .pop_if_empty()
            .push(&format!("{model}:{method}"));
        if stream {
            url.query_pairs_mut().append_pair("alt", "sse");
        }
        Ok(url)
    }
}

#[async_trait::async_trait]
impl Provider for GeminiProvider {
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        let body = translate::request(call.request)?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let stream = call.request.is_stream();
        let url = self.url(call.upstream_model, stream)?;
        let response = self.upstream.post(url, body, &[]).await?;
        if !stream {
            let bytes = self.upstream.body(response).await?;
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|_| self.upstream.invalid_json())?;
            let (body, usage) = translate::complete(&value, call.upstream_model, now())?;
            return Ok(ChatReply::Complete(Complete {
                body: Bytes::from(body.to_string()),
                usage: Some(usage),
            }));
        }
        let mut translator = translate::StreamTranslator::new(call.upstream_model, now());
        let mut failed = false;
        let events = self
            .upstream
            .sse(response)
            .map(Some)
            .chain(futures::stream::once(std::future::ready(None)))
            .flat_map(move |event| {
                let result = match event {
                    _ if failed => Ok(Vec::new()),
                    Some(Ok((_, data))) if data.is_empty() => Ok(Vec::new()),
                    Some(Ok((_, data))) => translator.event(&data),
                    Some(Err(error)) => Err(error),
                    None => translator.end(),
                };
                let items: Vec<Result<StreamItem, GatewayError>> = match result {
                    Ok(items) => items.into_iter().map(Ok).collect(),
                    Err(error) => {
                        failed = true;
                        vec![Err(error)]
                    }
                };
                futures::stream::iter(items)
            });
        Ok(ChatReply::Stream(Box::pin(events)))
    }

    async fn embeddings(&self, _call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        Err(GatewayError::invalid(
            "embeddings are not offered through the gemini wire format yet",
            Some("model"),
        ))
    }
}
