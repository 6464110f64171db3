//! The Responses API mock: OpenAI's request rules, the response object and
//! the documented event sequence.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::test_support::{KEY, Reply, app, send};

async fn responses(body: Value) -> Reply {
    let (_, app) = app();
    send(&app, "POST", "/v1/responses", Some(KEY), body.to_string()).await
}

/// A request the mock refuses: the status, `param` and `code` it names.
async fn refused(body: Value, param: &str, code: &str) -> String {
    let reply = responses(body.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    let (message, kind, got_param, got_code) = reply.error();
    assert_eq!(kind, "invalid_request_error", "{body}");
    assert_eq!(got_param, json!(param), "{body}: {message}");
    assert_eq!(got_code, json!(code), "{body}: {message}");
    message
}

#[tokio::test]
async fn refuses_what_openai_refuses() {
    let message = refused(
        json!({"model": "gpt-4o-mini", "input": "hi", "max_tokens": 20}),
        "max_tokens",
        "unknown_parameter",
    )
    .await;
    assert_eq!(message, "Unknown parameter: 'max_tokens'.");
    refused(
        json!({"input": "hi"}),
        "model",
        "missing_required_parameter",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini"}),
        "input",
        "missing_required_parameter",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini", "input": 3}),
        "input",
        "invalid_type",
    )
    .await;
    let message = refused(
        json!({"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 15}),
        "max_output_tokens",
        "integer_below_min_value",
    )
    .await;
    assert!(message.contains(">= 16"), "{message}");
    refused(
        json!({"model": "gpt-4o-mini", "input": "hi", "temperature": 2.5}),
        "temperature",
        "decimal_above_max_value",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini", "input": [{"role": "tool", "content": "x"}]}),
        "input[0].role",
        "invalid_value",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini", "input": [
            {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]}),
        "input[0].content[0].type",
        "invalid_value",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini", "input": [{"type": "function_call", "call_id": "c"}]}),
        "input[0].name",
        "missing_required_parameter",
    )
    .await;
    refused(
        json!({"model": "gpt-4o-mini", "input": "hi", "previous_response_id": "resp_x"}),
        "previous_response_id",
        "previous_response_not_found",
    )
    .await;
    let reply =
        responses(json!({"model": "gpt-4o-mini", "input": "hi", "stream_options": {}})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().2, json!("stream_options"));
}

#[tokio::test]
async fn answers_with_a_response_object_and_usage() {
    let reply = responses(json!({
        "model": "gpt-4o-mini",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": "first turn"},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Echo: first turn"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "hello there"}]},
        ],
        "store": false,
    }))
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let object = reply.json();
    assert_eq!(object["object"], "response");
    assert!(object["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(object["status"], "completed");
    assert_eq!(object["store"], false);
    assert_eq!(object["instructions"], "be brief");
    assert_eq!(object["output"][0]["type"], "message");
    assert_eq!(
        object["output"][0]["content"][0]["text"],
        "Echo: hello there"
    );
    let usage = &object["usage"];
    assert_eq!(usage["output_tokens"], 3);
    // (2 + 3) + (3 + 3) + (2 + 3) words and per-message overheads, plus
    // the instructions' 2 + 3.
    assert_eq!(usage["input_tokens"], 21);
    assert_eq!(usage["total_tokens"], 24);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn stops_at_max_output_tokens() {
    let words = "one two three four five six seven eight nine ten eleven twelve \
                 thirteen fourteen fifteen sixteen seventeen";
    let reply = responses(json!({"model": "m", "input": words, "max_output_tokens": 16})).await;
    let object = reply.json();
    assert_eq!(object["status"], "incomplete");
    assert_eq!(object["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(object["usage"]["output_tokens"], 16);
}

#[tokio::test]
async fn streams_the_documented_events() {
    let reply =
        responses(json!({"model": "gpt-4o-mini", "input": "hello there", "stream": true})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = std::str::from_utf8(&reply.body).unwrap();
    let mut kinds = Vec::new();
    let mut deltas = String::new();
    for (i, event) in text.split_terminator("\n\n").enumerate() {
        let (name, data) = event
            .strip_prefix("event: ")
            .and_then(|rest| rest.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("an event line and a data line: {event}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name);
        assert_eq!(data["sequence_number"], i as u64);
        if name == "response.output_text.delta" {
            deltas.push_str(data["delta"].as_str().unwrap());
            assert!(data["obfuscation"].is_string());
        }
        if name == "response.completed" {
            assert_eq!(data["response"]["usage"]["output_tokens"], 3);
            assert_eq!(data["response"]["output"][0]["content"][0]["text"], deltas);
        }
        kinds.push(name.to_owned());
    }
    assert_eq!(deltas, "Echo: hello there");
    let expected = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ];
    assert_eq!(kinds, expected);
}

#[tokio::test]
async fn faults_and_keys_as_on_chat() {
    let reply = responses(json!({"model": "fault-500", "input": "hi"})).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let (_, app) = app();
    let reply = send(
        &app,
        "POST",
        "/v1/responses",
        Some("Bearer sk-wrong-key-1234"),
        json!({"model": "m", "input": "hi"}).to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn calls_the_first_function_and_needs_the_call_for_its_output() {
    let weather = json!({"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let reply = responses(json!({"model": "m", "input": "Weather?", "tools": [weather]})).await;
    let call = reply.json()["output"][0].clone();
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], r#"{"city":"mock"}"#);
    let call_id = call["call_id"].as_str().unwrap();
    // Its output alone names a call the mock cannot find.
    let output = json!({"type": "function_call_output", "call_id": call_id, "output": "sunny"});
    let reply = responses(json!({"model": "m", "input": [output], "tools": [weather]})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().0.contains(call_id));
    // With the call before it, the answer is text.
    let input = json!([
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": call_id, "name": "get_weather",
         "arguments": call["arguments"]},
        output,
    ]);
    let reply = responses(json!({"model": "m", "input": input, "tools": [weather]})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json()["output"][0]["content"][0]["text"],
        "Echo: Weather?"
    );
}
