//! Criterion benches for the semantic cache's lookup path.
//! `cargo bench --bench cache` (set SWITCHBOARD_EMBEDDING_MODEL_DIR and
//! ORT_DYLIB_PATH, as `scripts/fetch-model` prints, for the embedding benches).
//!
//! - embed a ~30-token prompt with all-MiniLM-L6-v2 (one thread);
//! - search the usearch index at 100k entries (top 4 in one bucket);
//! - the verifier on one candidate;
//! - embed + search together: one semantic lookup;
//! - a hit served end to end: an HTTP request to an in-process gateway
//!   answered from the exact layer (no upstream call).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::cache::embed::{LocalEmbedder, MODEL_DIMENSIONS};
use switchboard::cache::index::{CANDIDATES, VectorIndex};
use switchboard::cache::verify;
use switchboard::seams::embedding::{EmbeddingModel, normalize};

const ENTRIES: u64 = 100_000;
const PROMPT: &str = "How do I configure the retry policy for outgoing HTTP requests in a Rust \
                      service that uses reqwest and tokio, with exponential backoff?";
/// `PROMPT` as typed in a hurry: two words misspelled.
const TYPED: &str = "How do I configure the retry polcy for outgoing HTTP requests in a Rust \
                     service that uses reqwest and tokio, with exponential backof?";
/// A stored prompt that asks what `PROMPT` asks, in other words.
const PARAPHRASE: &str = "In a Rust service using tokio and reqwest, how can I set up a retry \
                          policy with exponential backoff for outbound HTTP requests?";

/// A deterministic pseudo-random unit vector (xorshift), so runs compare.
fn vector(seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v: Vec<f32> = (0..MODEL_DIMENSIONS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    normalize(&mut v);
    v
}

fn filled_index() -> VectorIndex {
    let index = VectorIndex::new(MODEL_DIMENSIONS).expect("index");
    for key in 0..ENTRIES {
        // 100 buckets of 1000 entries: teams × contexts.
        index
            .add(key, key % 100, u64::MAX, &vector(key))
            .expect("add");
    }
    index
}

fn model() -> Option<LocalEmbedder> {
    let dir = std::env::var_os("SWITCHBOARD_EMBEDDING_MODEL_DIR")?;
    LocalEmbedder::load(std::path::Path::new(&dir)).ok()
}

/// The embedding alone, before the index is built, so it runs in seconds
/// (`--bench cache embed`).
fn embed(c: &mut Criterion) {
    let Some(model) = model() else {
        eprintln!("no embedding model: embedding benches skipped");
        return;
    };
    c.bench_function("embed a 30-token prompt", |b| {
        b.iter(|| model.embed(black_box(&[PROMPT])))
    });
    // What 32 waiting texts cost together: each runs through the model
    // alone, so that no text's vector depends on the others'.
    let prompts: Vec<String> = (0..32)
        .map(|i| format!("{PROMPT} (variant {i} of the question, with a few more words)"))
        .collect();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    c.bench_function("embed 32 waiting prompts", |b| {
        b.iter(|| model.embed(black_box(&prompts)))
    });
}

fn search(c: &mut Criterion) {
    let index = filled_index();
    let query = vector(ENTRIES + 1);
    c.bench_function("search 100k entries (top 4, one bucket)", |b| {
        b.iter(|| index.search(black_box(7), black_box(&query), CANDIDATES, 0))
    });
    const STORED: &str = "Convert 100 USD to EUR without fees, as JSON";
    const QUERY: &str = "How much is 100 USD in EUR with no fees, in JSON?";
    c.bench_function("verify one candidate (word vectors known)", |b| {
        let words = verify::words_to_embed(&verify::analyse(STORED), &verify::analyse(QUERY));
        let vectors: verify::WordVectors = words.into_iter().map(|w| (w, vec![0.0; 384])).collect();
        b.iter(|| {
            let (stored, query) = (
                verify::analyse(black_box(STORED)),
                verify::analyse(black_box(QUERY)),
            );
            verify::judge(&stored, &query, 0.9, &vectors, 0.5)
        })
    });
    let Some(model) = model() else {
        eprintln!("no embedding model: embedding benches skipped");
        return;
    };
    c.bench_function("semantic lookup: embed + search 100k", |b| {
        b.iter(|| {
            let vector = model.embed(&[PROMPT]).pop().unwrap_or_default();
            index.search(7, &vector, CANDIDATES, 0)
        })
    });
    // The whole lookup as a hit costs it: embed the prompt, search, then
    // verify the best candidate, embedding its unaligned words (none cached)
    // and, when a shared word is spelled differently, the prompt once more
    // with the entry's spelling (the aligned similarity).
    for (name, prompt, aligning) in [
        (
            "semantic lookup with verification: embed + search + verify",
            PROMPT,
            true,
        ),
        (
            "semantic lookup with verification, two words misspelled",
            TYPED,
            true,
        ),
        (
            "semantic lookup with verification, similarity as written only",
            PROMPT,
            false,
        ),
    ] {
        c.bench_function(name, |b| {
            let stored = verify::analyse(PARAPHRASE);
            b.iter(|| {
                let vector = model.embed(&[prompt]).pop().unwrap_or_default();
                let found = index.search(7, &vector, CANDIDATES, 0);
                let query = verify::analyse(prompt);
                let aligned = aligning
                    .then(|| verify::aligned_query(&stored, PARAPHRASE, &query, prompt))
                    .flatten()
                    .map(|text| model.embed(&[text.as_str()]));
                let features = verify::features_from_model(&model, &stored, &query, 0.9);
                (found, verify::structure(&stored, &query), aligned, features)
            })
        });
    }
}

/// A gateway with the cache on, in front of the mock upstream; `model_dir`
/// turns the semantic layer on. Returns the chat URL.
fn cached_gateway(runtime: &tokio::runtime::Runtime, model_dir: Option<&str>) -> String {
    runtime.block_on(async {
        let upstream = switchboard_mock_upstream::spawn(Default::default())
            .await
            .expect("mock upstream");
        let base_url = upstream.base_url();
        // The upstream must outlive the bench; it is only called once.
        std::mem::forget(upstream);
        let semantic = match model_dir {
            Some(dir) => format!("semantic = true\nmodel_dir = {dir:?}\n"),
            None => "semantic = false\n".to_owned(),
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[[teams]]\nid = \"bench\"\n\
             [[keys]]\nid = \"bench\"\nteam = \"bench\"\nhash = \"sha256:{}\"\n\
             [aliases]\nfast = \"openai/gpt-4o-mini\"\n[cache]\nenabled = true\n{semantic}",
            hex::encode(switchboard::auth::hash_key(KEY))
        );
        let config =
            switchboard::config::load_str("bench.toml", &config, None, std::path::Path::new("."))
                .expect("config");
        let env = move |name: &str| match name {
            "OPENAI_BASE_URL" => Some(base_url.clone()),
            "OPENAI_API_KEY" => Some("sk-upstream-test".to_owned()),
            _ => None,
        };
        let gateway = switchboard::gateway::Gateway::build_with_env(config, &env).expect("gateway");
        let server = switchboard::server::spawn(gateway, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let url = format!("http://{}/v1/chat/completions", server.addr);
        std::mem::forget(server);
        url
    })
}

const KEY: &str = "sk-bench";

/// Sends a one-question chat; returns the `x-switchboard-cache` outcome.
async fn ask(client: &reqwest::Client, url: &str, question: &str) -> String {
    let body = serde_json::json!({
        "model": "fast",
        "messages": [{"role": "user", "content": question}],
    });
    let response = client
        .post(url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    let outcome = response
        .headers()
        .get("x-switchboard-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    response.bytes().await.expect("body");
    outcome
}

fn served_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    switchboard::install_crypto_provider();
    let client = reqwest::Client::new();
    let question = "How do I reset my password?";
    let url = cached_gateway(&runtime, None);
    runtime.block_on(ask(&client, &url, question));
    c.bench_function("a cache hit served end to end (exact)", |b| {
        b.iter(|| runtime.block_on(ask(&client, &url, question)))
    });
    let Some(dir) = std::env::var("SWITCHBOARD_EMBEDDING_MODEL_DIR").ok() else {
        return;
    };
    let url = cached_gateway(&runtime, Some(&dir));
    let paraphrase = "What are the steps to reset my password?";
    runtime.block_on(ask(&client, &url, question));
    // A semantic hit does not become an exact entry: every call embeds.
    let outcome = runtime.block_on(ask(&client, &url, paraphrase));
    assert_eq!(
        outcome, "hit-semantic",
        "the paraphrase must be a semantic hit"
    );
    c.bench_function("a cache hit served end to end (semantic)", |b| {
        b.iter(|| runtime.block_on(ask(&client, &url, paraphrase)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = embed, search, served_hit
}
criterion_main!(benches);
