//! The `Provider` seam: one adapter per wire format. An adapter turns the
//! gateway's OpenAI-shaped request into the provider's wire format, calls it,
//! and turns the answer back into OpenAI shape. Only adapters talk to upstreams.

mod adapters;
pub mod anthropic;
pub mod bedrock;
pub mod fields;
pub mod gemini;
#[cfg(test)]
mod golden;
mod http_client;
mod mock;
mod openai;
mod registry;
mod settings;
mod turns;
mod upstream;

pub use http_client::build_client;
pub use mock::MockProvider;
pub use openai::{OpenAiProvider, chat_body as openai_chat_body, responses_usage};
pub use registry::{ProviderEntry, Providers};
pub use settings::{ProviderSettings, RawProviderOverride, UpstreamSettings};

use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::cost::Usage;
use crate::error::GatewayError;
use bytes::Bytes;
use futures::Stream;
use std::pin::Pin;

/// One call to a chat model.
pub struct ChatCall<'a> {
    pub request: &'a ChatRequest,
    /// The model name the provider knows (without the `provider/` prefix).
    pub upstream_model: &'a str,
}

/// One call to an embedding model.
pub struct EmbeddingsCall<'a> {
    pub request: &'a EmbeddingsRequest,
    pub upstream_model: &'a str,
}

/// One call to OpenAI's Responses API, for a provider that serves it.
pub struct ResponsesCall<'a> {
    /// The Responses request as it goes upstream, but for `model`.
    pub body: &'a serde_json::Map<String, serde_json::Value>,
    pub upstream_model: &'a str,
    pub stream: bool,
}

/// A complete, OpenAI-shaped response body and the usage it reports.
pub struct Complete {
    pub body: Bytes,
    pub usage: Option<Usage>,
}

/// One event of an OpenAI-shaped stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// The JSON of one `chat.completion.chunk`.
    Chunk(Bytes),
    /// The provider said the stream is complete.
    Done,
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamItem, GatewayError>> + Send>>;

pub enum ChatReply {
    Complete(Complete),
    Stream(ChunkStream),
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// A chat completion. For streaming requests the adapter asks the upstream
    /// for usage in the stream; the pipeline decides what the client sees.
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError>;

    async fn embeddings(&self, call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError>;

    /// Whether `responses` reaches the provider's own Responses API (its
    /// data says `responses_api = true`).
    fn serves_responses(&self) -> bool {
        false
    }

    /// A Responses API call: a complete response object (usage read from
    /// its Responses names), or a stream whose chunks are the `data:` of
    /// each Responses event.
    async fn responses(&self, _call: ResponsesCall<'_>) -> Result<ChatReply, GatewayError> {
        Err(GatewayError::Internal(
            "this provider does not serve the Responses API".into(),
        ))
    }
}
