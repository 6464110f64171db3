//! Criterion benches for the pure hot paths of one request.
//! `cargo bench --bench hot_paths`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::api::chat::ChatRequest;
use switchboard::api::decode_json;
use switchboard::auth::KeyStore;
use switchboard::auth::{KeyEntry, Team, hash_key};
use switchboard::catalog::{Price, Tokenizer};
use switchboard::cost::{PriceTable, Usage};
use switchboard::provider::ChatCall;
use switchboard::provider::openai_chat_body;
use switchboard::shapes::sse_event;

fn chat_json() -> String {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(18);
    serde_json::json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": filler},
        ],
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    })
    .to_string()
}

fn request_path(c: &mut Criterion) {
    let body = chat_json();
    c.bench_function("decode and check a 1 KB chat request", |b| {
        b.iter(|| {
            let request: ChatRequest = decode_json(black_box(body.as_bytes())).unwrap();
            request.check().unwrap();
            request
        })
    });
    let request: ChatRequest = decode_json(body.as_bytes()).unwrap();
    c.bench_function("translate to the OpenAI wire", |b| {
        b.iter(|| {
            openai_chat_body(&ChatCall {
                request: black_box(&request),
                upstream_model: "gpt-4o-mini",
            })
        })
    });

    let teams = vec![Team {
        id: "t".into(),
        model_patterns: vec!["*".into()],
        models: globset::GlobSet::empty(),
    }];
    let keys: Vec<KeyEntry> = (0..1000)
        .map(|i| KeyEntry {
            id: format!("k{i}").into(),
            team: 0,
            hash: hash_key(&format!("sk-key-{i}")),
            loopback_only: false,
        })
        .collect();
    let store = KeyStore::new(&teams, &keys);
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer sk-key-500".parse().unwrap());
    c.bench_function("authenticate among 1000 keys", |b| {
        b.iter(|| store.authenticate(black_box(&headers), None).unwrap())
    });

    let price = PriceTable::from_price(&Price {
        input: 0.15,
        cached_input: Some(0.075),
        output: Some(0.6),
    });
    let usage = Usage {
        prompt_tokens: 1234,
        completion_tokens: 567,
        cached_prompt_tokens: 100,
    };
    c.bench_function("cost of one request", |b| {
        b.iter(|| price.cost(black_box(&usage)))
    });

    let chunk = br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" fox"},"finish_reason":null}]}"#;
    c.bench_function("frame one SSE event", |b| {
        b.iter(|| sse_event(black_box(chunk)))
    });

    let prompt = "Summarize the quarterly report and list three risks. ".repeat(80);
    switchboard::tokens::count_text(Tokenizer::O200kBase, "warm up");
    c.bench_function("count tokens of a 4 KB prompt (o200k)", |b| {
        b.iter(|| switchboard::tokens::count_text(Tokenizer::O200kBase, black_box(&prompt)))
    });
}

criterion_group!(benches, request_path);
criterion_main!(benches);
