//! The OpenAI wire format: Chat Completions and Embeddings. The request is
//! already OpenAI-shaped, so translation is only the model name and the
//! stream-usage option; responses pass through as bytes.

use super::upstream::Upstream;
use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, StreamItem};
use crate::api::chat::Message;
use crate::cost::{Usage, WireUsage};
use crate::error::GatewayError;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub struct OpenAiProvider {
    /// The shared HTTP exchange; its headers carry the provider credential,
    /// marked sensitive so it never reaches a log.
    upstream: Upstream,
    chat_url: reqwest::Url,
    embeddings_url: reqwest::Url,
    /// Set for Azure OpenAI deployments: the `api-version` to send, and the
    /// model name is the deployment name in the URL
    /// (`{base}/openai/deployments/{model}/...?api-version=`).
    azure_api_version: Option<String>,
    base_url: String,
}

impl OpenAiProvider {
    pub fn new(
        upstream: Upstream,
        base_url: &str,
        azure_api_version: Option<String>,
    ) -> Result<Self, String> {
        let base_url = base_url.trim_end_matches('/');
        let join = |path: &str| {
            reqwest::Url::parse(&format!("{base_url}/{path}"))
                .map_err(|error| format!("base URL `{base_url}`: {error}"))
        };
        Ok(Self {
            chat_url: join("chat/completions")?,
            embeddings_url: join("embeddings")?,
            azure_api_version,
            base_url: base_url.to_owned(),
            upstream,
        })
    }

    /// The endpoint for `path` (`chat/completions`, `embeddings`) and `model`.
    fn url(&self, path: &str, model: &str) -> Result<reqwest::Url, GatewayError> {
        let Some(version) = &self.azure_api_version else {
            return Ok(if path == "embeddings" {
                self.embeddings_url.clone()
            } else {
                self.chat_url.clone()
            });
        };
        let mut url = reqwest::Url::parse(&format!("{}/openai/deployments/", self.base_url))
            .map_err(|error| GatewayError::Internal(format!("azure base URL: {error}")))?;
        url.path_segments_mut()
            .map_err(|()| GatewayError::Internal("azure base URL cannot be a base".into()))?
            .pop_if_empty()
            .push(model)
            .extend(path.split('/'));
        url.query_pairs_mut().append_pair("api-version", version);
        Ok(url)
    }

    async fn complete(&self, response: reqwest::Response) -> Result<Complete, GatewayError> {
        let body = self.upstream.body(response).await?;
        let usage = serde_json::from_slice::<UsageOnly>(&body)
            .map_err(|_| self.upstream.invalid_json())?
            .usage
            .map(Usage::from);
        Ok(Complete { body, usage })
    }
}

/// Only the part of a response the gateway reads; the rest is skipped unparsed.
#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// The request as sent upstream: the client's, with the provider's model name
/// and, for streams, usage always requested.
#[derive(Serialize)]
struct OutgoingChat<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<OutgoingStreamOptions<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct OutgoingStreamOptions<'a> {
    include_usage: bool,
    #[serde(flatten)]
    extra: Option<&'a Map<String, Value>>,
}

/// The upstream request body for a chat call. Pure, so it is tested directly.
pub fn chat_body(call: &ChatCall<'_>) -> Vec<u8> {
    let request = call.request;
    let stream_options = request.is_stream().then(|| OutgoingStreamOptions {
        include_usage: true,
        extra: request.stream_options.as_ref().map(|o| &o.extra),
    });
    let outgoing = OutgoingChat {
        model: call.upstream_model,
        messages: &request.messages,
        stream: request.stream,
        stream_options,
        max_tokens: request.max_tokens,
        max_completion_tokens: request.max_completion_tokens,
        extra: &request.extra,
    };
    serde_json::to_vec(&outgoing).unwrap_or_default()
}

#[derive(Serialize)]
struct OutgoingEmbeddings<'a> {
    model: &'a str,
    input: &'a Value,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[async_trait::async_trait]
impl Provider for OpenAiProvider {
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        let body = chat_body(&call);
        let url = self.url("chat/completions", call.upstream_model)?;
        let response = self.upstream.post(url, body, &[]).await?;
        if !call.request.is_stream() {
            return self.complete(response).await.map(ChatReply::Complete);
        }
        let events = self.upstream.sse(response).filter_map(|event| {
            let item = match event {
                Ok((_, data)) if data == "[DONE]" => Some(Ok(StreamItem::Done)),
                Ok((_, data)) if data.is_empty() => None,
                Ok((_, data)) => Some(Ok(StreamItem::Chunk(Bytes::from(data)))),
                Err(error) => Some(Err(error)),
            };
            std::future::ready(item)
        });
        Ok(ChatReply::Stream(Box::pin(events)))
    }

    async fn embeddings(&self, call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        let outgoing = OutgoingEmbeddings {
            model: call.upstream_model,
            input: &call.request.input,
            extra: &call.request.extra,
        };
        let body = serde_json::to_vec(&outgoing).unwrap_or_default();
        let url = self.url("embeddings", call.upstream_model)?;
        let response = self.upstream.post(url, body, &[]).await?;
        self.complete(response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::chat::ChatRequest;
    use crate::api::decode_json;

    fn translate(body: &str, model: &str) -> Value {
        let request: ChatRequest = decode_json(body.as_bytes()).unwrap();
        let call = ChatCall {
            request: &request,
            upstream_model: model,
        };
        serde_json::from_slice(&chat_body(&call)).unwrap()
    }

    #[test]
    fn model_is_rewritten_and_everything_else_kept() {
        let out = translate(
            r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}],"temperature":0.2,"user":"u1"}"#,
            "gpt-4o-mini",
        );
        assert_eq!(
            out,
            serde_json::json!({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
                "tools":[{"type":"function"}],"temperature":0.2,"user":"u1"})
        );
    }

    #[test]
    fn streams_always_ask_for_usage() {
        let out = translate(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            "x",
        );
        assert_eq!(
            out["stream_options"],
            serde_json::json!({"include_usage": true})
        );
        let out = translate(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"continuous_usage_stats":true}}"#,
            "x",
        );
        assert_eq!(
            out["stream_options"],
            serde_json::json!({"include_usage": true, "continuous_usage_stats": true})
        );
    }
}
