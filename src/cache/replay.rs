//! Converting between what is stored (one complete, non-streaming response)
//! and what is served: the JSON body of a hit, an SSE replay for a streaming
//! hit, and the complete response assembled from a streamed miss.

use super::exact::now_ms;
use crate::shapes::{DONE_EVENT, sse_event};
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// Words per replayed content chunk.
const WORDS_PER_CHUNK: usize = 4;

/// Whether an answer may be stored: complete, text only, no tool calls.
pub fn cacheable(response: &Value) -> bool {
    let Some(choices) = response.get("choices").and_then(Value::as_array) else {
        return false;
    };
    !choices.is_empty()
        && choices.iter().all(|choice| {
            let message = choice.get("message");
            let finish = choice.get("finish_reason").and_then(Value::as_str);
            let has_tool_calls = message
                .and_then(|m| m.get("tool_calls"))
                .is_some_and(|calls| !calls.is_null());
            let has_text = message
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
                .is_some_and(|text| !text.is_empty());
            has_text && !has_tool_calls && matches!(finish, Some("stop") | Some("length"))
        })
}

/// The stored response as served now: a fresh id and time.
pub fn fresh(response: &Value) -> Value {
    let mut body = response.clone();
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "id".into(),
            Value::String(format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())),
        );
        object.insert("created".into(), json!(now_ms() / 1000));
    }
    body
}

/// The SSE events replaying a stored response: a role chunk, the content a
/// few words at a time, the finish chunk, usage when asked, `[DONE]`.
pub fn sse_events(response: &Value, include_usage: bool) -> Vec<Bytes> {
    let body = fresh(response);
    let header = |choices: Value| {
        let mut chunk = Map::new();
        for key in ["id", "created", "model", "system_fingerprint"] {
            if let Some(value) = body.get(key) {
                chunk.insert(key.into(), value.clone());
            }
        }
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        chunk.insert("choices".into(), choices);
        Value::Object(chunk)
    };
    let mut events = Vec::new();
    let mut push = |value: Value| events.push(sse_event(value.to_string().as_bytes()));
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (position, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(position));
        let content = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        push(header(json!([{
            "index": index, "delta": {"role": "assistant", "content": ""},
            "logprobs": null, "finish_reason": null
        }])));
        let words: Vec<&str> = content.split_inclusive(' ').collect();
        for piece in words.chunks(WORDS_PER_CHUNK) {
            push(header(json!([{
                "index": index, "delta": {"content": piece.concat()},
                "logprobs": null, "finish_reason": null
            }])));
        }
        push(header(json!([{
            "index": index, "delta": {}, "logprobs": null,
            "finish_reason": choice.get("finish_reason").cloned().unwrap_or(json!("stop"))
        }])));
    }
    if include_usage && let Some(usage) = body.get("usage") {
        let mut chunk = header(json!([]));
        if let Some(object) = chunk.as_object_mut() {
            object.insert("usage".into(), usage.clone());
        }
        push(chunk);
    }
    events.push(Bytes::from_static(DONE_EVENT));
    events
}

/// The complete response a stream amounts to, or `None` if it carried tool
/// calls or anything that cannot be stored faithfully.
pub fn assemble(chunks: &[Bytes]) -> Option<Value> {
    let mut head = Map::new();
    let mut texts: Vec<(String, Option<Value>)> = Vec::new();
    let mut usage = None;
    for chunk in chunks {
        let value: Value = serde_json::from_slice(chunk).ok()?;
        if head.is_empty() {
            for key in ["id", "created", "model", "system_fingerprint"] {
                if let Some(v) = value.get(key) {
                    head.insert(key.into(), v.clone());
                }
            }
        }
        if let Some(u) = value.get("usage").filter(|u| !u.is_null()) {
            usage = Some(u.clone());
        }
        for choice in value.get("choices").and_then(Value::as_array)?.iter() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if index > 16 {
                return None;
            }
            if texts.len() <= index {
                texts.resize(index + 1, (String::new(), None));
            }
            let delta = choice.get("delta");
            if delta
                .and_then(|d| d.get("tool_calls").or_else(|| d.get("function_call")))
                .is_some_and(|calls| !calls.is_null())
            {
                return None;
            }
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                texts[index].0.push_str(text);
            }
            if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
                texts[index].1 = Some(reason.clone());
            }
        }
    }
    let choices: Vec<Value> = texts
        .into_iter()
        .enumerate()
        .map(|(index, (content, finish))| {
            json!({
                "index": index,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "logprobs": null,
                "finish_reason": finish,
            })
        })
        .collect();
    let mut body = head;
    body.insert("object".into(), json!("chat.completion"));
    body.insert("choices".into(), Value::Array(choices));
    if let Some(usage) = usage {
        body.insert("usage".into(), usage);
    }
    let body = Value::Object(body);
    cacheable(&body).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Value {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "echo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "one two three four five six"},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
        })
    }

    fn payloads(events: &[Bytes]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let text = std::str::from_utf8(e).unwrap();
                text.strip_prefix("data: ").unwrap().trim_end().to_owned()
            })
            .collect()
    }

    #[test]
    fn replay_then_assemble_gives_back_the_answer() {
        let events = sse_events(&stored(), true);
        let payloads = payloads(&events);
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        let chunks: Vec<Bytes> = payloads[..payloads.len() - 1]
            .iter()
            .map(|p| Bytes::from(p.clone()))
            .collect();
        // role, two content chunks, finish, usage
        assert_eq!(chunks.len(), 5);
        let usage_chunk: Value = serde_json::from_slice(&chunks[4]).unwrap();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(usage_chunk["usage"]["total_tokens"], 9);
        let back = assemble(&chunks).unwrap();
        assert_eq!(
            back["choices"][0]["message"]["content"],
            "one two three four five six"
        );
        assert_eq!(back["usage"], stored()["usage"]);
        assert_eq!(back["model"], "echo");
        assert_ne!(back["id"], "chatcmpl-1");
        // Without usage asked for, no usage chunk.
        assert_eq!(sse_events(&stored(), false).len(), 5);
    }

    #[test]
    fn what_is_not_stored() {
        assert!(cacheable(&stored()));
        let mut tools = stored();
        tools["choices"][0]["message"]["tool_calls"] = json!([{"id": "c"}]);
        tools["choices"][0]["finish_reason"] = json!("tool_calls");
        assert!(!cacheable(&tools));
        let mut filtered = stored();
        filtered["choices"][0]["finish_reason"] = json!("content_filter");
        assert!(!cacheable(&filtered));
        assert!(!cacheable(&json!({"error": {"message": "x"}})));
        let tool_chunk = Bytes::from(
            r#"{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]},"finish_reason":null}]}"#,
        );
        assert_eq!(assemble(&[tool_chunk]), None);
        // A stream cut short has no finish reason: not stored.
        let partial = Bytes::from(
            r#"{"id":"a","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
        );
        assert_eq!(assemble(&[partial]), None);
    }
}
