//! The Anthropic and Gemini mocks enforce their vendors' request rules:
//! each row is a request and the status and message fragment the vendor
//! answers it with.

use super::test_support::app;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "sk-upstream-test";

async fn post(path: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let (_, router) = app();
    let mut request = Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// An Anthropic request with both headers; `expected` is the status and a
/// fragment of the error message (`None` for a success).
async fn check_anthropic(
    headers: &[(&str, &str)],
    body: Value,
    status: u16,
    fragment: Option<&str>,
) {
    let (got, reply) = post("/v1/messages", headers, body.clone()).await;
    assert_eq!(got, status, "{body} -> {reply}");
    if let Some(fragment) = fragment {
        assert_eq!(reply["type"], "error", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{body}: {message}");
    }
}

#[tokio::test]
async fn anthropic_rules() {
    let both = [("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
    let user = json!([{"role": "user", "content": "hi"}]);
    let ok = json!({"model": "m", "max_tokens": 5, "messages": user});
    check_anthropic(&both, ok.clone(), 200, None).await;
    check_anthropic(
        &[("anthropic-version", "2023-06-01")],
        ok.clone(),
        401,
        Some("x-api-key"),
    )
    .await;
    check_anthropic(
        &[("x-api-key", KEY)],
        ok.clone(),
        400,
        Some("anthropic-version"),
    )
    .await;
    check_anthropic(
        &[
            ("x-api-key", "sk-other"),
            ("anthropic-version", "2023-06-01"),
        ],
        ok,
        401,
        Some("invalid"),
    )
    .await;
    let rows = [
        (
            json!({"model": "m", "messages": user}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "top-level `system`",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]}),
            "first message",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
            "alternate",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "temperature": 1.5, "messages": user}),
            "temperature",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "n": 2, "messages": user}),
            "n: Extra inputs",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}]}),
            "tool_use_id",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": "no result"}]}),
            "without `tool_result`",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "x"}}]}]}),
            "media_type",
        ),
    ];
    for (body, fragment) in rows {
        check_anthropic(&both, body, 400, Some(fragment)).await;
    }
}

#[tokio::test]
async fn gemini_rules() {
    let ok = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let (status, reply) = post(path, &[("x-goog-api-key", KEY)], ok.clone()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: hi"
    );
    let (status, reply) = post(path, &[], ok.clone()).await;
    assert_eq!(
        (status, reply["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    let (status, reply) = post(path, &[("x-goog-api-key", "wrong")], ok).await;
    assert_eq!(
        (status, reply["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let rows = [
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "valid role",
        ),
        (json!({"contents": []}), "contents"),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {}}]}]}),
            "oneof",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "temperature": 1}),
            "Unknown name \"temperature\"",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]}),
            "functionCall",
        ),
    ];
    for (body, fragment) in rows {
        let (status, reply) = post(path, &[("x-goog-api-key", KEY)], body.clone()).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{body}: {message}");
    }
}
