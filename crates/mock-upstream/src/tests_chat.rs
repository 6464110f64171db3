//! Chat completions: validation rules and the non-streaming response.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::test_support::{KEY, app, chat, send};

pub(super) fn hello(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there world"}
        ]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

#[tokio::test]
async fn answers_with_openai_shape() {
    let (_, app) = app();
    let r = chat(
        &app,
        hello(json!({"tools": [], "response_format": {"type": "text"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("x-request-id")
            .is_some_and(|v| v.starts_with("req_"))
    );
    let v = r.json();
    assert!(
        v["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["system_fingerprint"].is_string());
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Echo: hello there world");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    // Two messages of 2 and 3 words, plus 3 per message.
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], 11);
    assert_eq!(usage["completion_tokens"], 4);
    assert_eq!(usage["total_tokens"], 15);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn content_parts_n_and_max_tokens() {
    let (_, app) = app();
    let body = json!({
        "model": "m",
        "n": 2,
        "max_completion_tokens": 2,
        "messages": [
            {"role": "user", "content": "ignored earlier turn"},
            {"role": "assistant", "content": null, "tool_calls": []},
            {"role": "user", "content": [
                {"type": "text", "text": "first\tpart"},
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "second"}
            ]}
        ]
    });
    let v = chat(&app, body).await.json();
    let choices = v["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 2);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["message"]["content"], "Echo: first");
        assert_eq!(c["finish_reason"], "length");
    }
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["prompt_tokens"], 3 + 3 + 3 + 3 + 3);

    let v = chat(&app, hello(json!({"max_tokens": 4}))).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: hello there world"
    );
}

#[tokio::test]
async fn rejects_invalid_requests_as_openai_does() {
    let (state, app) = app();
    // (body, param, code, words the message must contain); "" means null.
    let m = r#""model":"m""#;
    let hi = r#""model":"m","messages":[{"role":"user","content":"hi"}]"#;
    #[rustfmt::skip]
    let cases = [
        (r#"{"messages":[{"role":"user","content":"x"}]}"#.to_owned(), "", "", "you must provide a model parameter"),
        (r#"{"model":5,"messages":[]}"#.to_owned(), "model", "invalid_type", "got an integer"),
        (format!("{{{m}}}"), "messages", "missing_required_parameter", "'messages'"),
        (format!(r#"{{{m},"messages":"hi"}}"#), "messages", "invalid_type", "got a string"),
        (format!(r#"{{{m},"messages":[]}}"#), "messages", "empty_array", "empty array"),
        (format!(r#"{{{m},"messages":[1]}}"#), "messages[0]", "invalid_type", "an object"),
        (format!(r#"{{{m},"messages":[{{"content":"x"}}]}}"#), "messages[0].role", "missing_required_parameter", "role"),
        (format!(r#"{{{m},"messages":[{{"role":"robot","content":"x"}}]}}"#), "messages[0].role", "invalid_value", "'robot'"),
        (format!(r#"{{{m},"messages":[{{"role":"user"}}]}}"#), "messages[0].content", "missing_required_parameter", "content"),
        (format!(r#"{{{m},"messages":[{{"role":"system","content":3}}]}}"#), "messages[0].content", "invalid_type", "string or array"),
        (format!(r#"{{{m},"messages":[{{"role":"user","content":[{{"type":"text"}}]}}]}}"#), "messages[0].content[0].text", "missing_required_parameter", "text"),
        (format!(r#"{{{m},"messages":[{{"role":"user","content":["x"]}}]}}"#), "messages[0].content[0]", "invalid_type", "object"),
        (format!(r#"{{{hi},"stream":"yes"}}"#), "stream", "invalid_type", "a boolean"),
        (format!(r#"{{{hi},"stream_options":{{"include_usage":true}}}}"#), "stream_options", "", "only allowed when 'stream' is enabled"),
        (format!(r#"{{{hi},"stream":false,"stream_options":{{}}}}"#), "stream_options", "", "only allowed"),
        (format!(r#"{{{hi},"n":0}}"#), "n", "integer_below_min_value", ">= 1"),
        (format!(r#"{{{hi},"n":1.5}}"#), "n", "invalid_type", "a decimal"),
        (format!(r#"{{{hi},"n":129}}"#), "n", "integer_above_max_value", "<= 128"),
        (format!(r#"{{{hi},"max_tokens":0}}"#), "max_tokens", "integer_below_min_value", "got 0"),
        (format!(r#"{{{hi},"max_tokens":"10"}}"#), "max_tokens", "invalid_type", "an integer"),
        (format!(r#"{{{hi},"max_completion_tokens":-3}}"#), "max_completion_tokens", "integer_below_min_value", "-3"),
    ];
    let null_or = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    let count = cases.len() as u64;
    for (body, param, code, words) in cases {
        let r = send(
            &app,
            "POST",
            "/v1/chat/completions",
            Some(KEY),
            body.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let (message, kind, got_param, got_code) = r.error();
        assert_eq!(kind, "invalid_request_error", "{body}");
        assert_eq!(got_param, null_or(param), "{body}: {message}");
        assert_eq!(got_code, null_or(code), "{body}: {message}");
        assert!(
            message.contains(words),
            "{body}: {message:?} lacks {words:?}"
        );
    }
    // Optional fields set to null count as absent.
    let r = chat(
        &app,
        hello(json!({"n": null, "stream": null, "stream_options": null})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(state.chat_calls(), count + 1);
}

#[tokio::test]
async fn rejects_bodies_that_are_not_json_objects() {
    let (_, app) = app();
    let bodies: [&[u8]; 6] = [
        b"",
        b"{",
        b"not json",
        b"[]",
        b"\"x\"",
        b"{\"model\":\"\xff\"}",
    ];
    for body in bodies {
        let r = send(
            &app,
            "POST",
            "/v1/chat/completions",
            Some(KEY),
            body.to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        let (message, kind, param, code) = r.error();
        assert!(message.starts_with("We could not parse the JSON body of your request."));
        assert_eq!(
            (kind.as_str(), param, code),
            ("invalid_request_error", Value::Null, Value::Null)
        );
    }
}
