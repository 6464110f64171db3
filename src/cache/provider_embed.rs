//! Questions embedded by a provider (`[cache] embedding = { provider = ... }`):
//! one `/v1/embeddings` call per question, through the provider's own
//! adapter, so the call carries only the provider key from the environment
//! and follows that wire's rules.

use crate::api::embeddings::EmbeddingsRequest;
use crate::provider::{EmbeddingsCall, Provider};
use crate::seams::embedding::normalize;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ProviderEmbedder {
    adapter: Arc<dyn Provider>,
    /// The model name the provider knows (without `provider/`).
    model: Arc<str>,
    dimensions: usize,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
}

impl ProviderEmbedder {
    pub fn new(
        adapter: Arc<dyn Provider>,
        model: &str,
        dimensions: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            adapter,
            model: model.into(),
            dimensions,
            timeout,
        }
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The unit vector of `text`, or `None` (logged) when the provider
    /// fails, is slow, or answers with the wrong length.
    pub async fn embed(&self, text: &str) -> Option<Vec<f32>> {
        let mut extra = serde_json::Map::new();
        extra.insert("dimensions".into(), self.dimensions.into());
        let request = EmbeddingsRequest {
            model: self.model.to_string(),
            input: text.into(),
            extra,
        };
        let call = self.adapter.embeddings(EmbeddingsCall {
            request: &request,
            upstream_model: &self.model,
        });
        let complete = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(complete)) => complete,
            Ok(Err(error)) => {
                tracing::warn!(%error, model = %self.model, "cache embedding call failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(model = %self.model, "cache embedding call timed out");
                return None;
            }
        };
        let mut vector = match serde_json::from_slice::<Answer>(&complete.body) {
            Ok(answer) => answer.data.into_iter().next()?.embedding,
            Err(error) => {
                tracing::warn!(%error, model = %self.model, "cache embedding answer unreadable");
                return None;
            }
        };
        if vector.len() != self.dimensions {
            tracing::warn!(
                got = vector.len(),
                want = self.dimensions,
                model = %self.model,
                "cache embedding has the wrong length"
            );
            return None;
        }
        normalize(&mut vector);
        Some(vector)
    }
}
