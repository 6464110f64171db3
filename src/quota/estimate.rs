//! The worst case a request can cost, reserved before it goes upstream:
//! counted prompt tokens × input price + the most output it may produce
//! (`max_completion_tokens`/`max_tokens`, else the model's output limit)
//! × the completions it asks for (`n`, or `best_of` when larger; each is
//! billed for its own output) × output price.

use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::cost::{NanoUsd, Usage};
use crate::routing::Target;
use crate::tokens;
use serde_json::Value;

/// Output tokens assumed when neither the request nor the model data gives a limit.
const UNKNOWN_OUTPUT_LIMIT: u64 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub tokens: u64,
    /// `None` when the model has no price.
    pub cost: Option<NanoUsd>,
}

pub fn chat(request: &ChatRequest, target: &Target) -> Estimate {
    let tokenizer = target.model.tokenizer;
    let mut prompt = tokens::count_messages(tokenizer, &request.messages);
    // Tool definitions are billed as prompt tokens too.
    if let Some(tools) = request.extra.get("tools") {
        prompt += tokens::count_text(tokenizer, &tools.to_string());
    }
    let output = request
        .max_output_tokens()
        .map(u64::from)
        .or(target.model.max_output_tokens.map(u64::from))
        .or_else(|| {
            let window = u64::from(target.model.context_window);
            (window > prompt).then(|| window - prompt)
        })
        .unwrap_or(UNKNOWN_OUTPUT_LIMIT);
    // The prompt is billed once, each completion's output on its own.
    let output = output.saturating_mul(request.choices());
    let usage = Usage {
        prompt_tokens: prompt,
        completion_tokens: output,
        cached_prompt_tokens: 0,
    };
    Estimate {
        tokens: prompt.saturating_add(output),
        cost: target.price.map(|price| price.cost(&usage)),
    }
}

/// Embeddings produce no output; every token is at least one byte (or one id),
/// so the input's size bounds its token count without running the tokenizer.
pub fn embeddings(request: &EmbeddingsRequest, target: &Target) -> Estimate {
    fn size(value: &Value) -> u64 {
        match value {
            Value::String(text) => text.len() as u64,
            Value::Array(items) => items.iter().map(size).sum(),
            _ => 1,
        }
    }
    let prompt = size(&request.input);
    let usage = Usage {
        prompt_tokens: prompt,
        completion_tokens: 0,
        cached_prompt_tokens: 0,
    };
    Estimate {
        tokens: prompt,
        cost: target.price.map(|price| price.cost(&usage)),
    }
}

/// The worst case over several targets (a route's, which dispatch may fall
/// back through): the most tokens and the highest cost of any. `None` cost
/// when any target has no price.
pub fn worst_of(targets: &[&Target], estimate: impl Fn(&Target) -> Estimate) -> Estimate {
    let mut worst = Estimate {
        tokens: 0,
        cost: Some(crate::cost::NanoUsd(0)),
    };
    for target in targets {
        let one = estimate(target);
        worst.tokens = worst.tokens.max(one.tokens);
        worst.cost = match (worst.cost, one.cost) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    worst
}

/// The end user a chat request names, if any.
pub fn user_of(request: &ChatRequest) -> Option<&str> {
    user_in(&request.extra)
}

/// The end user an embeddings request names, if any.
pub fn embeddings_user_of(request: &EmbeddingsRequest) -> Option<&str> {
    user_in(&request.extra)
}

/// OpenAI's `user` field: a caller-chosen id of the end user. Longer ids
/// than OpenAI accepts are not given limits of their own.
fn user_in(extra: &serde_json::Map<String, Value>) -> Option<&str> {
    extra
        .get("user")
        .and_then(Value::as_str)
        .filter(|user| !user.is_empty() && user.len() <= 256)
}
