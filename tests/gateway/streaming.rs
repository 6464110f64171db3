//! Streams: relayed event by event, usage captured, truncation surfaced,
//! disconnects cancel the upstream call.

use crate::harness::*;
use axum::body::Body;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

async fn stream_body(h: &Harness, request: serde_json::Value) -> (u16, String) {
    let response = h.chat(request).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    (status, response.text().await.unwrap())
}

fn content_of(payloads: &[String]) -> String {
    payloads
        .iter()
        .filter(|p| *p != "[DONE]")
        .filter_map(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn usage_chunk_only_when_asked_for() {
    let h = Harness::start().await;
    let request = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "a b c"}]});
    let (status, body) = stream_body(&h, request.clone()).await;
    assert_eq!(status, 200);
    let payloads = sse_payloads(&body);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    assert!(
        !body.contains("\"usage\":{"),
        "usage leaked to a client that did not ask: {body}"
    );
    assert_eq!(content_of(&payloads), "Echo: a b c");

    let mut with_usage = request;
    with_usage["stream_options"] = json!({"include_usage": true});
    let (_, body) = stream_body(&h, with_usage).await;
    let payloads = sse_payloads(&body);
    let usage_chunk: serde_json::Value =
        serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // Either way the gateway saw the usage and charged it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.gateway.gateway.quota.spent("alpha").await.0 > 0);
}

#[tokio::test]
async fn a_truncated_stream_ends_with_an_error_event() {
    let h = Harness::start().await;
    let request = json!({"model": "openai/fault-truncate", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = stream_body(&h, request).await;
    assert_eq!(status, 200);
    let payloads = sse_payloads(&body);
    assert!(!payloads.iter().any(|p| p == "[DONE]"), "{body}");
    let last: serde_json::Value = serde_json::from_str(payloads.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "bad_gateway", "{body}");
}

#[tokio::test]
async fn the_built_in_mock_streams() {
    let h = Harness::start().await;
    let request = json!({"model": "echo", "stream": true, "stream_options": {"include_usage": true},
                         "messages": [{"role": "user", "content": "ping"}]});
    let (_, body) = stream_body(&h, request).await;
    let payloads = sse_payloads(&body);
    assert!(content_of(&payloads).ends_with("You said: ping"));
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
}

/// An upstream that streams one chunk every 20 ms forever and notes when its
/// body is dropped, i.e. when the gateway hung up on it.
async fn endless_upstream(dropped: Arc<AtomicBool>) -> std::net::SocketAddr {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let flag = Flag(dropped.clone());
            async move {
                let chunks = futures::stream::unfold(flag, |flag| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let chunk = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#;
                    Some((Ok::<_, std::convert::Infallible>(format!("{chunk}\n\n")), flag))
                });
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(chunks))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_call() {
    let dropped = Arc::new(AtomicBool::new(false));
    let addr = endless_upstream(dropped.clone()).await;
    let server = gateway_in_front_of(format!("http://{addr}/v1"), "").await;
    let mut response = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .bearer_auth(ALPHA_KEY)
        .body(json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string())
        .send()
        .await
        .unwrap();
    // Chunks arrive one by one, as the upstream sends them.
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let second = response.chunk().await.unwrap().unwrap();
    assert!(second.starts_with(b"data: "));
    assert!(!dropped.load(Ordering::SeqCst));
    drop(response);
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "the upstream call outlived the client"
    );
    // The partial stream is still charged: prompt and the completion seen so far.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.gateway.quota.spent("alpha").await.0 > 0);
    let metrics = server.gateway.metrics.render();
    assert!(metrics.contains("status=\"499\""), "{metrics}");
}
