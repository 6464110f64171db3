//! The native Responses body, built from the guarded chat messages.

use super::*;
use crate::api::decode_json;

fn messages(value: Value) -> Vec<Message> {
    serde_json::from_value(value).unwrap()
}

fn request(raw: &Value) -> ResponsesRequest {
    decode_json(raw.to_string().as_bytes()).unwrap()
}

#[test]
fn the_body_carries_the_guarded_conversation_and_the_clients_parameters() {
    let raw = json!({
        "model": "fast", "input": "original", "instructions": "be brief",
        "previous_response_id": "resp_1", "prompt": {"id": "p"}, "store": true,
        "temperature": 0.2, "reasoning": {"effort": "low"}, "metadata": {"k": "v"},
        "tools": [{"type": "function", "name": "f"}],
    });
    let guarded = messages(json!([
        {"role": "system", "content": "be [REDACTED]"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "assistant", "content": "it is 42"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
    ]));
    let body = upstream_body(raw.as_object().unwrap(), &request(&raw), &guarded);
    assert_eq!(
        Value::Object(body),
        json!({
            "instructions": "be [REDACTED]",
            "input": [
                {"type": "message", "role": "user", "content": "earlier"},
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                {"type": "message", "role": "assistant", "content": "it is 42"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"}]},
            ],
            "store": false,
            "temperature": 0.2,
            "reasoning": {"effort": "low"},
            "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "f"}],
        })
    );
}

#[test]
fn without_instructions_a_leading_system_message_stays_in_the_input() {
    let raw = json!({"model": "m", "prompt": {"id": "p"}});
    let rendered = messages(json!([{"role": "system", "content": "template"}]));
    let body = upstream_body(raw.as_object().unwrap(), &request(&raw), &rendered);
    assert!(body.get("instructions").is_none());
    assert_eq!(
        body["input"],
        json!([{"type": "message", "role": "system", "content": "template"}])
    );
}

#[test]
fn an_adopted_object_is_the_gateways() {
    let raw = json!({"model": "fast", "input": "x", "previous_response_id": "resp_prev",
                     "store": false, "instructions": "be brief"});
    let mut object = json!({"id": "resp_upstream", "model": "gpt-4o-mini-2024-07-18",
                            "store": false, "previous_response_id": null, "created_at": 1,
                            "output": []});
    adopt(&mut object, &request(&raw), "resp_gw", 7);
    assert_eq!(object["id"], "resp_gw");
    assert_eq!(object["created_at"], 7);
    assert_eq!(object["model"], "fast");
    assert_eq!(object["previous_response_id"], "resp_prev");
    assert_eq!(object["store"], false);
    assert_eq!(object["instructions"], "be brief");
    let mut event = json!({"type": "response.created", "response": {"id": "resp_upstream"}});
    adopt_event(&mut event, &request(&raw), "resp_gw", 7);
    assert_eq!(event["response"]["id"], "resp_gw");
    let mut delta = json!({"type": "response.output_text.delta", "delta": "x"});
    adopt_event(&mut delta, &request(&raw), "resp_gw", 7);
    assert_eq!(
        delta,
        json!({"type": "response.output_text.delta", "delta": "x"})
    );
}

#[test]
fn output_texts_are_the_answers_text_and_call_arguments() {
    let mut output = vec![
        json!({"type": "reasoning", "summary": []}),
        json!({"type": "message", "content": [
            {"type": "output_text", "text": "hello"}, {"type": "refusal", "refusal": "no"}]}),
        json!({"type": "function_call", "arguments": "{\"a\":1}"}),
    ];
    let texts: Vec<(bool, String)> = output_texts(&mut output)
        .into_iter()
        .map(|(arguments, text)| (arguments, text.clone()))
        .collect();
    assert_eq!(
        texts,
        [(false, "hello".to_owned()), (true, "{\"a\":1}".to_owned())]
    );
}
