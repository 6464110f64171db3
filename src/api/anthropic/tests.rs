//! The front door's translations, as tables.

use super::MessagesRequest;
use super::events::EventTranslator;
use super::reply;
use crate::api::decode_json;
use crate::error::GatewayError;
use serde_json::{Value, json};

/// Anthropic request → OpenAI request, or the field at fault.
fn check(input: Value, expected: Result<Value, &str>) {
    let result = decode_json::<MessagesRequest>(input.to_string().as_bytes())
        .and_then(|request| request.to_chat(false));
    match (result, expected) {
        (Ok(chat), Ok(want)) => assert_eq!(serde_json::to_value(&chat).unwrap(), want, "{input}"),
        (Err(GatewayError::InvalidRequest { param, .. }), Err(field)) => {
            assert_eq!(param.as_deref(), Some(field), "{input}")
        }
        (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn requests_translate_to_openai() {
    check(
        json!({"model": "m", "max_tokens": 10, "system": "Be terse.", "messages": [{"role": "user", "content": "hi"}]}),
        Ok(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]})),
    );
    check(
        json!({"model": "m", "max_tokens": 10, "stream": true, "stop_sequences": ["X"], "temperature": 0.3,
               "top_k": 5, "metadata": {"user_id": "u"},
               "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                   {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}),
        Ok(
            json!({"model": "m", "max_tokens": 10, "stream": true, "stream_options": {"include_usage": true},
            "stop": ["X"], "temperature": 0.3, "user": "u",
            "messages": [{"role": "system", "content": "AB"}, {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        ),
    );
    check(
        json!({"model": "m", "max_tokens": 10,
               "tools": [{"name": "get", "description": "d", "input_schema": {"type": "object"}}],
               "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
               "messages": [{"role": "user", "content": "go"},
                 {"role": "assistant", "content": [{"type": "text", "text": "ok"},
                     {"type": "tool_use", "id": "t1", "name": "get", "input": {"a": 1}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]},
                     {"type": "text", "text": "and?"}]}]}),
        Ok(
            json!({"model": "m", "max_tokens": 10, "parallel_tool_calls": false, "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "get", "description": "d", "parameters": {"type": "object"}}}],
            "messages": [{"role": "user", "content": "go"},
              {"role": "assistant", "content": "ok", "tool_calls": [{"id": "t1", "type": "function",
                  "function": {"name": "get", "arguments": "{\"a\":1}"}}]},
              {"role": "tool", "tool_call_id": "t1", "content": "42"},
              {"role": "user", "content": [{"type": "text", "text": "and?"}]}]}),
        ),
    );
}

#[test]
fn bad_requests_name_the_field() {
    let user = json!([{"role": "user", "content": "hi"}]);
    check(json!({"model": "m", "messages": user}), Err("max_tokens"));
    check(
        json!({"model": "m", "max_tokens": 0, "messages": user}),
        Err("max_tokens"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "messages": []}),
        Err("messages"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
        Err("messages[0].role"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "container": "c", "messages": user}),
        Err("container"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": user}),
        Err("tools[0].type"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
        Err("messages[0].content[0].type"),
    );
    check(
        json!({"model": "m", "max_tokens": 5, "tool_choice": {"type": "x"}, "messages": user}),
        Err("tool_choice.type"),
    );
}

#[test]
fn completions_become_messages() {
    let completion = json!({"id": "c", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": null,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 60}}});
    assert_eq!(
        reply::message(&completion, "msg_1", "claude"),
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60}})
    );
}

/// The `(event, data)` pairs produced for a sequence of OpenAI payloads.
fn events(payloads: &[&str]) -> Vec<(String, Value)> {
    let mut translator = EventTranslator::new("msg_1".into(), "claude".into());
    let mut out = Vec::new();
    for payload in payloads {
        for event in translator.data(payload) {
            let text = String::from_utf8(event.to_vec()).unwrap();
            let (name, data) = text.trim_end().split_once('\n').unwrap();
            out.push((
                name.strip_prefix("event: ").unwrap().to_owned(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn chunks_become_anthropic_events() {
    let got = events(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
        "[DONE]",
    ]);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        got[4].1["content_block"],
        json!({"type": "tool_use", "id": "c1", "name": "f", "input": {}})
    );
    assert_eq!(
        got[6].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "1}"})
    );
    assert_eq!(got[8].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(got[8].1["usage"]["output_tokens"], 4);
}

#[test]
fn an_error_event_becomes_an_anthropic_error() {
    let got = events(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        r#"{"error":{"message":"boom","type":"upstream_error","param":null,"code":"bad_gateway"}}"#,
    ]);
    let (name, data) = got.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(
        data,
        &json!({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    );
}
