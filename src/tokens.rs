//! Token counting with the model's own tokenizer (tiktoken-rs), for budget
//! estimates and for streams whose upstream reports no usage.
//!
//! The BPE tables are built on first use (tens of milliseconds, tens of MB),
//! so a gateway that never needs a count never pays for them.

use crate::api::chat::Message;
use crate::catalog::Tokenizer;

/// Tokens in a piece of text.
pub fn count_text(tokenizer: Tokenizer, text: &str) -> u64 {
    let tokens = match tokenizer {
        Tokenizer::O200kBase => tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len(),
        Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(text)
            .len(),
        Tokenizer::Approx => text.len().div_ceil(4),
    };
    tokens as u64
}

/// Prompt tokens of a chat request, counted the way OpenAI bills them: each
/// message costs its text plus a few tokens of framing, and the reply is primed
/// with three more.
pub fn count_messages(tokenizer: Tokenizer, messages: &[Message]) -> u64 {
    const PER_MESSAGE: u64 = 3;
    const REPLY_PRIMING: u64 = 3;
    let mut total = REPLY_PRIMING;
    for message in messages {
        total += PER_MESSAGE;
        message.for_each_text(|text| total += count_text(tokenizer, text));
        if let Some(name) = message.name() {
            total += 1 + count_text(tokenizer, name);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_the_models_tokenizer() {
        assert_eq!(count_text(Tokenizer::Cl100kBase, "hello world"), 2);
        assert_eq!(count_text(Tokenizer::O200kBase, "hello world"), 2);
        assert_eq!(count_text(Tokenizer::Approx, "hello world"), 3);
        assert_eq!(count_text(Tokenizer::Cl100kBase, ""), 0);
    }

    #[test]
    fn counts_chat_messages() {
        let messages: Vec<Message> = serde_json::from_str(
            r#"[{"role":"system","content":"You are terse."},
                {"role":"user","content":[{"type":"text","text":"hello world"}]}]"#,
        )
        .unwrap();
        // 3 priming + (3 + 4) + (3 + 2)
        assert_eq!(count_messages(Tokenizer::Cl100kBase, &messages), 15);
    }
}
