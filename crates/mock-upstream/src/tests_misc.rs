//! Authentication, embeddings, models, faults, stats and the TCP server.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::test_support::{KEY, app, chat, events, send};
use super::{MockOptions, spawn};

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "one two three four"}]})
}

#[tokio::test]
async fn requires_the_configured_bearer_key() {
    let (state, app) = app();
    let body = ask("gpt-4o-mini", false).to_string();
    let path = "/v1/chat/completions";

    let r = send(&app, "POST", path, None, body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (message, kind, param, code) = r.error();
    assert!(
        message.starts_with("You didn't provide an API key."),
        "{message}"
    );
    assert_eq!(
        (kind.as_str(), param, code),
        ("invalid_request_error", Value::Null, Value::Null)
    );
    assert_eq!(state.last_authorization(), None);

    for bad in ["Basic abc", "Bearer ", "bearer"] {
        let r = send(&app, "POST", path, Some(bad), body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(
            r.error().0.starts_with("You didn't provide an API key."),
            "{bad}"
        );
    }

    let r = send(
        &app,
        "POST",
        path,
        Some("Bearer sk-wrong-key-9876"),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (message, _, _, code) = r.error();
    assert_eq!(code, "invalid_api_key");
    assert!(
        message.starts_with("Incorrect API key provided: sk-"),
        "{message}"
    );
    assert!(
        message.contains("9876") && !message.contains("wrong"),
        "masked: {message}"
    );
    assert_eq!(
        state.last_authorization().as_deref(),
        Some("Bearer sk-wrong-key-9876")
    );
    assert_eq!(state.chat_calls(), 0, "rejected requests are not counted");

    let r = send(&app, "POST", path, Some("bearer  sk-upstream-test"), body).await;
    assert_eq!(r.status, StatusCode::OK, "scheme is case-insensitive");
    assert_eq!(state.chat_calls(), 1);

    let r = send(&app, "GET", "/v1/models", Some("Bearer nope-nope-nope"), "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn embeds_deterministically() {
    let (state, app) = app();
    let embed = |body: Value| {
        let app = app.clone();
        async move { send(&app, "POST", "/v1/embeddings", Some(KEY), body.to_string()).await }
    };
    let r =
        embed(json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"]})).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    let vectors: Vec<Vec<f64>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            d["embedding"]
                .as_array()
                .expect("vector")
                .iter()
                .filter_map(Value::as_f64)
                .collect()
        })
        .collect();
    for vector in &vectors {
        assert_eq!(vector.len(), 8);
        let norm: f64 = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    }
    assert_ne!(vectors[0], vectors[1]);

    // The same input gives the same vector, in either encoding.
    let single = embed(json!({"model": "m", "input": "hello world", "dimensions": 8}))
        .await
        .json();
    assert_eq!(single["data"][0]["embedding"], data[0]["embedding"]);
    let b64 = embed(json!({"model": "m", "input": "hello world", "encoding_format": "base64"}))
        .await
        .json();
    let encoded = b64["data"][0]["embedding"].as_str().expect("base64 string");
    assert_eq!(encoded.len(), 44, "8 f32 = 32 bytes = 44 base64 chars");
    let wide = embed(json!({"model": "m", "input": [[1, 2], [3]], "dimensions": 32}))
        .await
        .json();
    assert_eq!(
        wide["data"][1]["embedding"].as_array().map(Vec::len),
        Some(32)
    );
    assert_eq!(wide["usage"]["prompt_tokens"], 3);
    let tokens = embed(json!({"model": "m", "input": [1, 2, 3]}))
        .await
        .json();
    assert_eq!(tokens["data"].as_array().map(Vec::len), Some(1));

    let cases = [
        (json!({"input": "x"}), Value::Null),
        (json!({"model": "m"}), json!("input")),
        (json!({"model": "m", "input": ""}), json!("input")),
        (json!({"model": "m", "input": []}), json!("input")),
        (json!({"model": "m", "input": [""]}), json!("input")),
        (json!({"model": "m", "input": [[]]}), json!("input")),
        (json!({"model": "m", "input": 5}), json!("input")),
        (json!({"model": "m", "input": {"a": 1}}), json!("input")),
        (json!({"model": "m", "input": ["a", 1]}), json!("input[1]")),
        (json!({"model": "m", "input": [1, "a"]}), json!("input[1]")),
        (json!({"model": "m", "input": [1, -2]}), json!("input[1]")),
        (
            json!({"model": "m", "input": "x", "dimensions": 0}),
            json!("dimensions"),
        ),
        (
            json!({"model": "m", "input": "x", "dimensions": 100000}),
            json!("dimensions"),
        ),
        (
            json!({"model": "m", "input": "x", "encoding_format": "hex"}),
            json!("encoding_format"),
        ),
    ];
    let count = cases.len() as u64;
    for (body, param) in cases {
        let r = embed(body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.error().2, param, "{body}");
    }
    assert_eq!(state.embedding_calls(), 5 + count);
}

#[tokio::test]
async fn lists_and_gets_models() {
    let (_, app) = app();
    let v = send(&app, "GET", "/v1/models", Some(KEY), "").await.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o-mini") && ids.contains(&"text-embedding-3-small"),
        "{ids:?}"
    );
    assert!(
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["object"] == "model")
    );

    let r = send(&app, "GET", "/v1/models/gpt-4o-mini", Some(KEY), "").await;
    assert_eq!(r.json()["id"], "gpt-4o-mini");
    let r = send(&app, "GET", "/v1/models/nope", Some(KEY), "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().3, "model_not_found");
}

#[tokio::test]
async fn unknown_routes_answer_like_openai() {
    let (_, app) = app();
    for (method, path) in [("POST", "/v1/nothing"), ("GET", "/v1/chat/completions")] {
        let r = send(&app, method, path, Some(KEY), "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error().0, format!("Invalid URL ({method} {path})"));
    }
}

#[tokio::test]
async fn status_faults_use_openai_bodies() {
    let (state, app) = app();
    let cases = [
        (
            "fault-500",
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            Value::Null,
            Value::Null,
        ),
        (
            "fault-503",
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Value::Null,
            Value::Null,
        ),
        (
            "fault-429",
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            Value::Null,
            json!("rate_limit_exceeded"),
        ),
        (
            "fault-400",
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            json!("messages"),
            json!("string_above_max_length"),
        ),
    ];
    for (model, status, kind, param, code) in cases {
        for path in ["/v1/chat/completions", "/v1/embeddings"] {
            let body = json!({"model": model, "messages": [{"role": "user", "content": "x"}], "input": "x"});
            let r = send(&app, "POST", path, Some(KEY), body.to_string()).await;
            assert_eq!(r.status, status, "{model} {path}");
            let (_, got_kind, got_param, got_code) = r.error();
            assert_eq!(
                (got_kind.as_str(), &got_param, &got_code),
                (kind, &param, &code),
                "{model}"
            );
            let retry_after = r.header("retry-after");
            assert_eq!(retry_after.is_some(), model == "fault-429");
            if model == "fault-429" {
                assert_eq!(retry_after, Some("1"));
                assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
            }
        }
    }
    assert_eq!(state.chat_calls(), 4, "faults are counted");
    assert_eq!(state.embedding_calls(), 4);
}

#[tokio::test]
async fn body_faults_break_the_response() {
    let (_, app) = app();
    let r = chat(&app, ask("fault-malformed", false)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    let r = chat(&app, ask("fault-truncate", false)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with(b"{\"id\":\"chatcmpl-"));
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "half a body"
    );

    let r = chat(&app, ask("fault-truncate", true)).await;
    let events = events(&r.body);
    assert_eq!(
        events.len(),
        3,
        "role chunk and two content chunks: {events:?}"
    );
    assert!(events.iter().all(|e| e != "[DONE]"));
    let last: Value = serde_json::from_str(&events[2]).expect("chunk json");
    assert_eq!(last["choices"][0]["delta"]["content"], " one");
}

#[tokio::test]
async fn slow_fault_delays_then_answers() {
    let (_, app) = app();
    let start = Instant::now();
    let r = chat(&app, ask("fault-slow", false)).await;
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "Echo: one two three four"
    );
    assert_eq!(r.json()["model"], "fault-slow");
}

#[tokio::test]
async fn stats_and_reset() {
    let (state, app) = app();
    chat(&app, ask("m", false)).await;
    let v = send(&app, "GET", "/_mock/stats", None, "").await.json();
    assert_eq!(
        v,
        json!({"chat_calls": 1, "embedding_calls": 0, "responses_calls": 0,
               "last_authorization": KEY, "last_user_message": "one two three four"})
    );
    assert_eq!(
        send(&app, "POST", "/_mock/reset", None, "").await.status,
        StatusCode::OK
    );
    assert_eq!((state.chat_calls(), state.last_authorization()), (0, None));
    assert_eq!(state.last_user_message(), None);
}

#[tokio::test]
async fn spawned_server_speaks_http() {
    let mock = spawn(MockOptions::default()).await.expect("spawn");
    assert_eq!(
        mock.base_url(),
        format!("http://127.0.0.1:{}/v1", mock.addr.port())
    );
    let body = ask("gpt-4o-mini", true).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(mock.addr)
        .await
        .expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("transfer-encoding: chunked"),
        "streamed: {response}"
    );
    assert!(response.contains("data: [DONE]"));
    assert_eq!(mock.state.chat_calls(), 1);

    let addr = mock.addr;
    drop(mock);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "stopped on drop"
    );
}
