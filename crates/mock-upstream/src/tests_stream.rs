//! Chat completions with `stream: true`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::test_support::{app, chat, events};
use super::tests_chat::hello;

#[tokio::test]
async fn streams_chunks_like_openai() {
    let (_, app) = app();
    let r = chat(&app, hello(json!({"stream": true}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let events = events(&r.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    // Role chunk, four words, finish chunk.
    assert_eq!(chunks.len(), 6);
    let id = &chunks[0]["id"];
    for c in &chunks {
        assert_eq!(&c["id"], id, "one id per stream");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(
            c.get("usage").is_none(),
            "no usage key unless requested: {c}"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let deltas: Vec<&str> = chunks[1..5]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .expect("content")
        })
        .collect();
    assert_eq!(deltas, ["Echo:", " hello", " there", " world"]);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[5]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn streams_usage_only_when_asked() {
    let (_, app) = app();
    let body =
        hello(json!({"stream": true, "stream_options": {"include_usage": true}, "max_tokens": 2}));
    let events = events(&chat(&app, body).await.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    let (usage_chunk, rest) = chunks.split_last().expect("chunks");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 2);
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 11);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 13);
    for c in rest {
        assert_eq!(c["usage"], Value::Null, "earlier chunks carry usage: null");
        assert!(c.get("usage").is_some());
    }
    let text: String = rest
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: hello");
    assert_eq!(
        rest.last().map(|c| &c["choices"][0]["finish_reason"]),
        Some(&json!("length"))
    );
}

#[tokio::test]
async fn stream_deltas_rebuild_the_exact_content() {
    let (_, app) = app();
    let body = json!({"model": "m", "stream": true, "n": 2, "messages": [
        {"role": "user", "content": "  spaced \n\n out \"quoted\" ✓  "}
    ]});
    let events = events(&chat(&app, body.clone()).await.body);
    let mut texts = [String::new(), String::new()];
    for e in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(e).expect("chunk json");
        let choice = &c["choices"][0];
        let index = choice["index"].as_u64().expect("index") as usize;
        texts[index].push_str(choice["delta"]["content"].as_str().unwrap_or(""));
    }
    let mut plain = body;
    plain["stream"] = json!(false);
    let v = chat(&app, plain).await.json();
    assert_eq!(
        texts[0],
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
    );
    assert_eq!(texts[0], texts[1]);
}
