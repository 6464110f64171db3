//! The built-in `mock` provider: answers in-process, with no network, so the
//! gateway works out of the box and offline. Replies are deterministic.

use super::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, StreamItem};
use crate::catalog::Tokenizer;
use crate::cost::Usage;
use crate::error::GatewayError;
use crate::seams::embedding::HashingEmbedder;
use crate::tokens;
use bytes::Bytes;
use serde_json::{Value, json};

pub struct MockProvider {
    embedder: HashingEmbedder,
}

const TOKENIZER: Tokenizer = Tokenizer::Cl100kBase;

impl Default for MockProvider {
    fn default() -> Self {
        Self {
            embedder: HashingEmbedder::new(64),
        }
    }
}

fn completion_id() -> String {
    format!("chatcmpl-mock-{}", uuid::Uuid::new_v4().simple())
}

/// The reply: the last user text, echoed, cut to `max_words` words.
fn reply_words(call: &ChatCall<'_>) -> (Vec<String>, bool) {
    let mut last_user = String::new();
    for message in &call.request.messages {
        if message.role == crate::api::chat::Role::User {
            last_user.clear();
            message.for_each_text(|text| last_user.push_str(text));
        }
    }
    let text = format!("This is the built-in mock model. You said: {last_user}");
    let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let limit = call.request.max_output_tokens().map(|n| n as usize);
    let truncated = limit.is_some_and(|limit| words.len() > limit);
    if let Some(limit) = limit {
        words.truncate(limit);
    }
    (words, truncated)
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

#[async_trait::async_trait]
impl Provider for MockProvider {
    async fn chat(&self, call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        let (words, truncated) = reply_words(&call);
        let content = words.join(" ");
        let usage = Usage {
            prompt_tokens: tokens::count_messages(TOKENIZER, &call.request.messages),
            completion_tokens: tokens::count_text(TOKENIZER, &content),
            cached_prompt_tokens: 0,
        };
        let finish_reason = if truncated { "length" } else { "stop" };
        let (id, created, model) = (
            completion_id(),
            crate::shapes::unix_seconds(),
            call.upstream_model,
        );
        if !call.request.is_stream() {
            let body = json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                             "logprobs": null, "finish_reason": finish_reason}],
                "usage": usage_json(&usage),
            });
            return Ok(ChatReply::Complete(Complete {
                body: Bytes::from(body.to_string()),
                usage: Some(usage),
            }));
        }
        let chunk = |delta: Value, finish: Option<&str>| {
            let value = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            });
            Ok(StreamItem::Chunk(Bytes::from(value.to_string())))
        };
        let mut items = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        for (index, word) in words.iter().enumerate() {
            let piece = if index == 0 {
                word.clone()
            } else {
                format!(" {word}")
            };
            items.push(chunk(json!({"content": piece}), None));
        }
        items.push(chunk(json!({}), Some(finish_reason)));
        let usage_chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage_json(&usage),
        });
        items.push(Ok(StreamItem::Chunk(Bytes::from(usage_chunk.to_string()))));
        items.push(Ok(StreamItem::Done));
        Ok(ChatReply::Stream(Box::pin(futures::stream::iter(items))))
    }

    async fn embeddings(&self, call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        let texts: Vec<String> = match &call.request.input {
            Value::String(text) => vec![text.clone()],
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect(),
            other => vec![other.to_string()],
        };
        let base64 = call
            .request
            .extra
            .get("encoding_format")
            .and_then(Value::as_str)
            == Some("base64");
        let prompt_tokens: u64 = texts.iter().map(|t| tokens::count_text(TOKENIZER, t)).sum();
        let data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let vector = self.embedder.embed_one(text);
                let embedding = if base64 {
                    encode_base64(&vector)
                } else {
                    json!(vector)
                };
                json!({"object": "embedding", "index": index, "embedding": embedding})
            })
            .collect();
        let body = json!({
            "object": "list", "data": data, "model": call.upstream_model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        });
        Ok(Complete {
            body: Bytes::from(body.to_string()),
            usage: Some(Usage {
                prompt_tokens,
                completion_tokens: 0,
                cached_prompt_tokens: 0,
            }),
        })
    }
}

/// OpenAI's base64 embedding format: little-endian f32s.
fn encode_base64(vector: &[f32]) -> Value {
    use base64::Engine;
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}
