//! What a request is, for the cache: its partition (the team, unless the
//! operator shares entries), the question (the last user turn), and a context
//! key that hashes everything else that shapes the answer, so that "same
//! question, different context" can never hit.

use crate::api::chat::{ChatRequest, Role};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Request fields that do not change the answer, left out of the context key.
const IGNORED_FIELDS: &[&str] = &["stream", "stream_options", "user", "metadata", "store"];

/// The partition every team reads when the operator shares entries.
pub const SHARED_PARTITION: &str = "*";

/// A request reduced to what the cache looks up and stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub partition: String,
    /// SHA-256 of model, earlier turns, tools, response format and sampling.
    pub context_key: [u8; 32],
    /// SHA-256 of partition, context key and the normalized question.
    pub exact_key: [u8; 32],
    /// The last user turn, whitespace collapsed.
    pub question: String,
}

/// Why a request is not cached at all.
pub type BypassReason = &'static str;

/// Reduce a request to its probe, or say why it must bypass the cache.
pub fn probe(
    request: &ChatRequest,
    canonical_model: &str,
    partition: &str,
    max_temperature: f64,
) -> Result<Probe, BypassReason> {
    let Some((last, earlier)) = request.messages.split_last() else {
        return Err("no_messages");
    };
    if last.role != Role::User {
        // A tool result or an assistant prefill: a tool loop is in flight.
        return Err("not_a_user_turn");
    }
    let temperature = request
        .extra
        .get("temperature")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    if temperature > max_temperature {
        return Err("temperature");
    }
    if request.extra.get("n").and_then(Value::as_u64).unwrap_or(1) != 1 {
        return Err("several_choices");
    }
    let question = user_text(last.content.as_ref()).ok_or("non_text_content")?;
    if question.is_empty() {
        return Err("empty_question");
    }

    let mut context = Sha256::new();
    context.update(b"switchboard-cache-v1\0");
    hash_str(&mut context, canonical_model);
    for message in earlier {
        hash_value(
            &mut context,
            &serde_json::to_value(message).unwrap_or(Value::Null),
        );
    }
    // The last turn's other fields (e.g. `name`) are context too.
    hash_value(&mut context, &Value::Object(last.extra.clone()));
    for field in [
        request.max_tokens.map(u64::from),
        request.max_completion_tokens.map(u64::from),
    ] {
        hash_str(&mut context, &format!("{field:?}"));
    }
    let mut extra: Vec<(&String, &Value)> = request
        .extra
        .iter()
        .filter(|(key, _)| !IGNORED_FIELDS.contains(&key.as_str()))
        .collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in extra {
        hash_str(&mut context, key);
        hash_value(&mut context, value);
    }
    let context_key: [u8; 32] = context.finalize().into();

    let mut exact = Sha256::new();
    hash_str(&mut exact, partition);
    exact.update(context_key);
    hash_str(&mut exact, &question);
    Ok(Probe {
        partition: partition.to_owned(),
        context_key,
        exact_key: exact.finalize().into(),
        question,
    })
}

/// The text of a user turn: a string, or text parts only (an image or audio
/// part makes the turn uncacheable here, since the question is not all text).
fn user_text(content: Option<&Value>) -> Option<String> {
    let raw = match content? {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                if part.get("type").and_then(Value::as_str) != Some("text") {
                    return None;
                }
                text.push_str(part.get("text").and_then(Value::as_str)?);
                text.push('\n');
            }
            text
        }
        _ => return None,
    };
    Some(collapse_whitespace(&raw))
}

pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Length-prefixed, so ("ab","c") and ("a","bc") hash apart.
fn hash_str(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

/// A canonical walk: object keys sorted, every node tagged with its type.
fn hash_value(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(flag) => hasher.update(if *flag { b"t" } else { b"f" }),
        Value::Number(number) => {
            hasher.update(b"#");
            hash_str(hasher, &number.to_string());
        }
        Value::String(text) => {
            hasher.update(b"s");
            hash_str(hasher, text);
        }
        Value::Array(items) => {
            hasher.update(b"[");
            hasher.update((items.len() as u64).to_le_bytes());
            items.iter().for_each(|item| hash_value(hasher, item));
        }
        Value::Object(map) => {
            hasher.update(b"{");
            hasher.update((map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hash_str(hasher, key);
                hash_value(hasher, &map[key]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> ChatRequest {
        serde_json::from_str(json).expect("valid request")
    }

    fn probe_of(json: &str) -> Result<Probe, BypassReason> {
        probe(&request(json), "mock/echo", "alpha", 1.0)
    }

    const BASE: &str = r#"{"model":"echo","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is  Rust?"}]}"#;

    #[test]
    fn what_changes_the_keys() {
        let base = probe_of(BASE).unwrap();
        assert_eq!(base.question, "What is Rust?");
        // Same context, different wording: the context key stays, the exact key moves.
        let other_question = probe_of(&BASE.replace("What is  Rust?", "Explain Rust")).unwrap();
        assert_eq!(other_question.context_key, base.context_key);
        assert_ne!(other_question.exact_key, base.exact_key);
        // Whitespace, streaming and the end-user id change nothing.
        let same = probe_of(&BASE.replace("What is  Rust?", " What is Rust? ")).unwrap();
        assert_eq!(same, base);
        let streamed = probe_of(&BASE.replace("}]}", r#"}],"stream":true,"user":"u1"}"#)).unwrap();
        assert_eq!(streamed, base);
        // Everything else that shapes the answer moves the context key.
        for changed in [
            BASE.replace("Be brief.", "Be verbose."),
            BASE.replace("}]}", r#"}],"temperature":0.2}"#),
            BASE.replace("}]}", r#"}],"max_tokens":5}"#),
            BASE.replace("}]}", r#"}],"response_format":{"type":"json_object"}}"#),
            BASE.replace(
                "}]}",
                r#"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
            ),
        ] {
            let probe = probe_of(&changed).unwrap();
            assert_ne!(probe.context_key, base.context_key, "{changed}");
            assert_ne!(probe.exact_key, base.exact_key, "{changed}");
        }
        let other_model = probe(&request(BASE), "openai/gpt-4o", "alpha", 1.0).unwrap();
        assert_ne!(other_model.context_key, base.context_key);
        let other_team = probe(&request(BASE), "mock/echo", "beta", 1.0).unwrap();
        assert_eq!(other_team.context_key, base.context_key);
        assert_ne!(other_team.exact_key, base.exact_key);
    }

    #[test]
    fn what_is_never_cached() {
        let check = |json: &str, reason: BypassReason| {
            assert_eq!(probe_of(json), Err(reason), "{json}");
        };
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[]},{"role":"tool","content":"42","tool_call_id":"a"}]}"#,
            "not_a_user_turn",
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1.5}"#,
            "temperature",
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":3}"#,
            "several_choices",
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
            "non_text_content",
        );
        check(
            r#"{"model":"m","messages":[{"role":"user","content":"  "}]}"#,
            "empty_question",
        );
        assert!(
            probe_of(
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#
            )
            .is_ok()
        );
    }
}
