//! The OpenAI wire format: Chat Completions and Embeddings. The request is
//! already OpenAI-shaped, so translation is only the model name and the
//! stream-usage option; responses pass through as bytes.

use super::upstream::Upstream;
use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, ResponsesCall, StreamItem};
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
    /// `{base_url}/responses`, for a provider whose data says it serves the
    /// Responses API.
    responses_url: Option<reqwest::Url>,
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
        responses_api: bool,
    ) -> Result<Self, String> {
        let base_url = base_url.trim_end_matches('/');
        let join = |path: &str| {
            reqwest::Url::parse(&format!("{base_url}/{path}"))
                .map_err(|error| format!("base URL `{base_url}`: {error}"))
        };
        Ok(Self {
            chat_url: join("chat/completions")?,
            embeddings_url: join("embeddings")?,
            responses_url: responses_api.then(|| join("responses")).transpose()?,
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

/// A response object's usage in the Responses API's names.
#[derive(Deserialize)]
struct ResponsesUsageOnly {
    #[serde(default)]
    usage: Option<ResponsesUsage>,
}

#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<crate::cost::PromptTokensDetails>,
}

/// The usage of a Responses API response object (its JSON), if it has one.
pub fn responses_usage(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    let usage = serde_json::from_slice::<ResponsesUsageOnly>(body)?.usage;
    Ok(usage.map(|usage| Usage {
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        cached_prompt_tokens: usage
            .input_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
    }))
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
        Ok(self.chunks(response))
    }

    fn serves_responses(&self) -> bool {
        self.responses_url.is_some()
    }

    async fn responses(&self, call: ResponsesCall<'_>) -> Result<ChatReply, GatewayError> {
        let Some(url) = self.responses_url.clone() else {
            return Err(GatewayError::Internal(
                "this provider does not serve the Responses API".into(),
            ));
        };
        let body = responses_body(&call);
        let response = self.upstream.post(url, body, &[]).await?;
        if !call.stream {
            let body = self.upstream.body(response).await?;
            let usage = responses_usage(&body).map_err(|_| self.upstream.invalid_json())?;
            return Ok(ChatReply::Complete(Complete { body, usage }));
        }
        // Responses streams have no `[DONE]`: the terminal event ends them.
        Ok(self.chunks(response))
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

/// The upstream body of a Responses call: the request with the provider's
/// model name. Pure, so it is tested directly.
pub fn responses_body(call: &ResponsesCall<'_>) -> Vec<u8> {
    let mut body = call.body.clone();
    body.insert(
        "model".into(),
        Value::String(call.upstream_model.to_owned()),
    );
    serde_json::to_vec(&body).unwrap_or_default()
}

impl OpenAiProvider {
    /// An SSE response as stream items: each event's `data:`, `[DONE]` as `Done`.
    fn chunks(&self, response: reqwest::Response) -> ChatReply {
        let events = self.upstream.sse(response).filter_map(|event| {
            let item = match event {
                Ok((_, data)) if data == "[DONE]" => Some(Ok(StreamItem::Done)),
                Ok((_, data)) if data.is_empty() => None,
                Ok((_, data)) => Some(Ok(StreamItem::Chunk(Bytes::from(data)))),
                Err(error) => Some(Err(error)),
            };
            std::future::ready(item)
        });
        ChatReply::Stream(Box::pin(events))
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
    fn a_responses_call_names_the_providers_model_and_reads_its_usage() {
        let body = serde_json::json!({"input": "hi", "store": false});
        let call = ResponsesCall {
            body: body.as_object().unwrap(),
            upstream_model: "gpt-4o-mini",
            stream: false,
        };
        let sent: Value = serde_json::from_slice(&responses_body(&call)).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"model": "gpt-4o-mini", "input": "hi", "store": false})
        );
        let object = br#"{"usage":{"input_tokens":10,"output_tokens":3,
            "input_tokens_details":{"cached_tokens":4},"total_tokens":13}}"#;
        let usage = responses_usage(object).unwrap().unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_prompt_tokens
            ),
            (10, 3, 4)
        );
        assert!(responses_usage(br#"{"usage":null}"#).unwrap().is_none());
        assert!(responses_usage(b"not json").is_err());
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
