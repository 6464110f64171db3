use super::events::EventTranslator;
use super::*;
use serde_json::{Value, json};

fn request(body: Value) -> ResponsesRequest {
    serde_json::from_value(body).unwrap()
}

#[test]
fn a_request_becomes_a_chat_request() {
    let r = request(json!({
        "model": "m", "instructions": "Be brief.", "max_output_tokens": 50,
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "weather"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
        "stream": true
    }));
    r.check().unwrap();
    let t = r
        .to_chat(None, &[json!({"role": "user", "content": "earlier"})])
        .unwrap();
    let chat = &t.chat;
    assert_eq!(
        chat["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(chat["messages"][1]["content"], "earlier");
    assert_eq!(
        chat["messages"][2],
        json!({"role": "user", "content": "Weather in Paris?"})
    );
    assert_eq!(chat["messages"][3]["tool_calls"][0]["id"], "c1");
    assert_eq!(
        chat["messages"][4],
        json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"})
    );
    assert_eq!(chat["tools"][0]["function"]["name"], "weather");
    assert_eq!(
        chat["tool_choice"],
        json!({"type": "function", "function": {"name": "weather"}})
    );
    assert_eq!(chat["response_format"]["json_schema"]["strict"], true);
    assert_eq!(chat["max_completion_tokens"], 50);
    assert_eq!(chat["stream_options"]["include_usage"], true);
    assert_eq!(t.input_items.len(), 3);
    assert_eq!(t.input_items[0]["content"][0]["type"], "input_text");
}

#[test]
fn bad_requests_name_their_field() {
    let param = |body: Value| -> String {
        let r = request(body);
        let error = r
            .check()
            .and_then(|()| r.to_chat(None, &[]).map(|_| ()))
            .unwrap_err();
        match error {
            crate::error::GatewayError::InvalidRequest { param, .. } => param.unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(param(json!({"model": "m"})), "input");
    assert_eq!(
        param(json!({"model": "m", "input": "x", "colour": 1})),
        "colour"
    );
    assert_eq!(
        param(json!({"model": "m", "input": [{"role": "robot", "content": "x"}]})),
        "input[0].role"
    );
    assert_eq!(
        param(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})),
        "tools[0].type"
    );
    assert_eq!(
        param(json!({"model": "m", "input": "x", "tool_choice": 3})),
        "tool_choice"
    );
}

#[test]
fn a_completion_becomes_a_response() {
    let r = request(json!({"model": "m", "input": "hi", "metadata": {"k": "v"}}));
    let completion = json!({"choices": [{"finish_reason": "length", "message": {"role": "assistant",
        "content": "Hello", "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
    let response = reply::from_completion(&r, "resp_1", 7, &completion);
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(response["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(response["output"][1]["call_id"], "call_1");
    assert_eq!(response["usage"]["total_tokens"], 5);
    assert_eq!(response["metadata"]["k"], "v");
}

fn events(bytes: Vec<bytes::Bytes>) -> Vec<Value> {
    bytes
        .iter()
        .map(|b| {
            let text = std::str::from_utf8(b).unwrap();
            let data = text.split("\ndata: ").nth(1).unwrap().trim_end();
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

#[test]
fn a_chunk_stream_becomes_response_events() {
    let mut t = EventTranslator::new(
        request(json!({"model": "m", "input": "hi"})),
        "resp_1".into(),
        1,
    );
    let mut out = Vec::new();
    for data in [
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        "[DONE]",
    ] {
        out.extend(t.data(data));
    }
    let events = events(out);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let sequence: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(sequence, (0..15).collect::<Vec<_>>());
    let done = &events[14]["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
    assert_eq!(done["usage"]["output_tokens"], 4);
    assert!(t.data("[DONE]").is_empty());
}

#[test]
fn a_stream_cut_short_fails_the_response() {
    let mut t = EventTranslator::new(
        request(json!({"model": "m", "input": "hi"})),
        "resp_1".into(),
        1,
    );
    let mut out = t.data(r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#);
    out.extend(t.ended_early());
    let events = events(out);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Hel");
}
