//! The AWS Bedrock Converse wire: `{base_url}/model/{modelId}/converse` and
//! `/converse-stream` (AWS event-stream framing, decoded with
//! `aws-smithy-eventstream`), every request signed with SigV4 (`aws-sigv4`).
//! Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//! AWS_SESSION_TOKEN; the region from the provider's `region_env`.

pub mod sigv4;
#[cfg(test)]
mod tests;
pub mod translate;

use super::anthropic::now;
use super::upstream::{Upstream, secret_header};
use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, StreamItem};
use crate::error::GatewayError;
use aws_credential_types::Credentials;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderName, HeaderValue};

pub struct BedrockProvider {
    upstream: Upstream,
    base_url: String,
    region: String,
    credentials: Credentials,
}

impl BedrockProvider {
    pub fn new(
        upstream: Upstream,
        base_url: &str,
        region: String,
        credentials: Credentials,
    ) -> Result<Self, String> {
        reqwest::Url::parse(base_url).map_err(|error| format!("base URL `{base_url}`: {error}"))?;
        Ok(Self {
            upstream,
            base_url: base_url.trim_end_matches('/').to_owned(),
            region,
            credentials,
        })
    }

    /// The signed headers for one request.
    fn signature(
        &self,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
        let signed = sigv4::sign_request(
            url,
            &[("content-type", "application/json")],
            body,
            &self.credentials,
            &self.region,
            std::time::SystemTime::now(),
        )
        .map_err(GatewayError::Internal)?;
        signed
            .headers
            .into_iter()
            .map(|(name, value)| {
                let value = secret_header(&value).map_err(GatewayError::Internal)?;
                Ok((HeaderName::from_static(name), value))
            })
            .collect()
    }
}

/// A model id as one URL path segment: everything but unreserved characters
/// percent-encoded, as the AWS SDKs do (`anthropic.x-v1:0` → `anthropic.x-v1%3A0`).
pub fn encode_model_id(model: &str) -> String {
    let mut out = String::with_capacity(model.len() + 8);
    for byte in model.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `:event-type` (or `:exception-type`) of a frame, and whether it is an exception.
fn frame_kind(message: &Message) -> (String, bool) {
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str().to_owned())
    };
    match header(":message-type").as_deref() {
        Some("exception") | Some("error") => (
            header(":exception-type")
                .or_else(|| header(":error-code"))
                .unwrap_or_else(|| "exception".to_owned()),
            true,
        ),
        _ => (header(":event-type").unwrap_or_default(), false),
    }
}

/// Decodes event-stream frames from byte chunks and translates them.
pub struct FrameReader {
    buffer: BytesMut,
    decoder: MessageFrameDecoder,
    pub translator: translate::StreamTranslator,
}

impl FrameReader {
    pub fn new(translator: translate::StreamTranslator) -> Self {
        Self {
            buffer: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            translator,
        }
    }

    /// The OpenAI items for the frames `bytes` completes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamItem>, GatewayError> {
        self.buffer.extend_from_slice(bytes);
        let mut items = Vec::new();
        loop {
            match self.decoder.decode_frame(&mut self.buffer) {
                Ok(DecodedFrame::Complete(message)) => {
                    let (kind, exception) = frame_kind(&message);
                    items.extend(self.translator.event(&kind, exception, message.payload())?);
                }
                Ok(DecodedFrame::Incomplete) => return Ok(items),
                Err(error) => {
                    return Err(GatewayError::UpstreamFailed {
                        message: format!("the Bedrock event stream is malformed: {error}"),
                    });
                }
            }
        }
    }

    pub fn end(&self) -> Result<Vec<StreamItem>, GatewayError> {
        if self.translator.finished {
            Ok(Vec::new())
        } else {
            Err(GatewayError::UpstreamFailed {
                message: "the Bedrock stream ended before it was complete".to_owned(),
            })
        }
    }
}

#[async_trait::async_trait]
impl Provider for BedrockProvider {
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        let body = translate::request(call.request)?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let stream = call.request.is_stream();
        let action = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        let url = format!(
            "{}/model/{}/{action}",
            self.base_url,
            encode_model_id(call.upstream_model)
        );
        let signature = self.signature(&url, &body)?;
        let parsed = reqwest::Url::parse(&url)
            .map_err(|error| GatewayError::Internal(format!("bedrock URL: {error}")))?;
        let response = self.upstream.post(parsed, body, &signature).await?;
        if !stream {
            let bytes = self.upstream.body(response).await?;
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|_| self.upstream.invalid_json())?;
            let (body, usage) = translate::complete(&value, call.upstream_model, now())
                .map_err(|_| self.upstream.invalid_json())?;
            return Ok(ChatReply::Complete(Complete {
                body: Bytes::from(body.to_string()),
                usage: Some(usage),
            }));
        }
        let mut reader =
            FrameReader::new(translate::StreamTranslator::new(call.upstream_model, now()));
        let mut failed = false;
        let id = self.upstream.id.clone();
        let items = response
            .bytes_stream()
            .map(Some)
            .chain(futures::stream::once(std::future::ready(None)))
            .flat_map(move |chunk| {
                let result = match chunk {
                    _ if failed => Ok(Vec::new()),
                    Some(Ok(bytes)) => reader.push(&bytes),
                    Some(Err(error)) => Err(GatewayError::UpstreamFailed {
                        message: format!("the stream from provider `{id}` broke: {error}"),
                    }),
                    None => reader.end(),
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
        Ok(ChatReply::Stream(Box::pin(items)))
    }

    async fn embeddings(&self, _call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        Err(GatewayError::invalid(
            "embeddings are not offered through the bedrock wire format yet",
            Some("model"),
        ))
    }
}
