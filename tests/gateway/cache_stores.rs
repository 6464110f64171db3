//! The cache's shared stores and embedding sources over real HTTP: replicas
//! sharing exact hits through the real Redis on 127.0.0.1:6379, questions
//! embedded by a provider (the mock upstream's `/v1/embeddings`), and the
//! snapshot written at a graceful shutdown.

use crate::harness::*;
use crate::processes::{ConfigDir, GatewayProcess};
use crate::quota_processes::redis_up;
use serde_json::Value;
use std::time::Duration;
use switchboard::auth::hash_key;
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";
const ADMIN_KEY: &str = "sk-admin-test";

fn admin_section() -> String {
    format!(
        "[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_KEY))
    )
}

async fn ask(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
    control: Option<&str>,
) -> (u16, String) {
    let mut request = client.post(url).bearer_auth(key).body(body.to_string());
    if let Some(control) = control {
        request = request.header("cache-control", control);
    }
    let response = request.send().await.expect("gateway answers");
    let outcome = response
        .headers()
        .get("x-switchboard-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), outcome)
}

/// Ask `only-if-cached` until the answer is a hit (the other replica writes
/// to Redis in the background); never stores or calls upstream meanwhile.
async fn wait_for_hit(client: &reqwest::Client, url: &str, key: &str, body: &Value) -> String {
    for _ in 0..60 {
        let (status, outcome) = ask(client, url, key, body, Some("only-if-cached")).await;
        if status == 200 {
            return outcome;
        }
        assert_eq!(status, 504, "only-if-cached misses with a 504");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no hit within 3 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_exact_hits_through_redis_within_one_team() {
    if !redis_up().await {
        return;
    }
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let extra = format!(
        "[cache]\nenabled = true\nsemantic = false\nstore = \"redis\"\n\
         redis_url = \"{REDIS_URL}\"\nredis_prefix = \"{prefix}\"\n{}",
        admin_section()
    );
    let a = gateway_in_front_of(upstream.base_url(), &extra).await;
    let b = gateway_in_front_of(upstream.base_url(), &extra).await;
    let chat = |server: &switchboard::server::RunningServer| {
        format!("http://{}/v1/chat/completions", server.addr)
    };
    let client = reqwest::Client::new();
    let question = chat_body("fast", "What is the boiling point of water at sea level?");

    assert_eq!(
        ask(&client, &chat(&a), ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    // Replica B never saw the question: its answer comes from Redis.
    assert_eq!(
        wait_for_hit(&client, &chat(&b), ALPHA_KEY, &question).await,
        "hit-exact"
    );
    assert_eq!(upstream.state.chat_calls(), 1);
    // And it is now in B's own table, for its admin API.
    let listed: Value = client
        .get(format!("http://{}/admin/cache/entries", b.addr))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["entries"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Another team asking the same on either replica misses.
    let echo = chat_body("echo", "Which team am I in?");
    assert_eq!(
        ask(&client, &chat(&a), ALPHA_KEY, &echo, None).await,
        (200, "miss".to_owned())
    );
    assert_eq!(
        wait_for_hit(&client, &chat(&b), ALPHA_KEY, &echo).await,
        "hit-exact"
    );
    let (status, _) = ask(&client, &chat(&b), BETA_KEY, &echo, Some("only-if-cached")).await;
    assert_eq!(status, 504, "beta must not read alpha's entry");

    // A purge on A reaches Redis: B (a fresh replica) no longer finds it.
    let purged: Value = client
        .post(format!("http://{}/admin/cache/purge", a.addr))
        .bearer_auth(ADMIN_KEY)
        .body(r#"{"team":"alpha"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged["purged"], 2, "{purged}");
    let c = gateway_in_front_of(upstream.base_url(), &extra).await;
    let mut gone = false;
    for _ in 0..60 {
        let (status, _) = ask(
            &client,
            &chat(&c),
            ALPHA_KEY,
            &question,
            Some("only-if-cached"),
        )
        .await;
        if status == 504 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the purged entry is still served from Redis");
}

/// A purge on one replica reaches the other's in-memory table (through
/// Redis pub/sub), not only the shared store: B had the entry in its own
/// table and must stop serving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_replica_empties_the_others_memory() {
    if !redis_up().await {
        return;
    }
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let extra = format!(
        "[cache]\nenabled = true\nsemantic = false\nstore = \"redis\"\n\
         redis_url = \"{REDIS_URL}\"\nredis_prefix = \"{prefix}\"\n{}",
        admin_section()
    );
    let a = gateway_in_front_of(upstream.base_url(), &extra).await;
    let b = gateway_in_front_of(upstream.base_url(), &extra).await;
    let chat = |server: &switchboard::server::RunningServer| {
        format!("http://{}/v1/chat/completions", server.addr)
    };
    let client = reqwest::Client::new();
    let question = chat_body("fast", "How far is the Moon from the Earth?");
    assert_eq!(
        ask(&client, &chat(&a), ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    assert_eq!(
        wait_for_hit(&client, &chat(&b), ALPHA_KEY, &question).await,
        "hit-exact"
    );
    // B now holds the entry in its own table.
    let purged: Value = client
        .post(format!("http://{}/admin/cache/purge", a.addr))
        .bearer_auth(ADMIN_KEY)
        .body(r#"{"team":"alpha"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged["purged"], 1, "{purged}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let listed: Value = client
            .get(format!("http://{}/admin/cache/entries", b.addr))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (status, _) = ask(
            &client,
            &chat(&b),
            ALPHA_KEY,
            &question,
            Some("only-if-cached"),
        )
        .await;
        if status == 504 && listed["entries"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica B still holds the purged entry: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.state.chat_calls(), 1);
}

#[tokio::test]
async fn questions_can_be_embedded_by_a_provider() {
    let extra = format!(
        "[cache]\nenabled = true\n\
         embedding = {{ provider = \"openai/text-embedding-3-small\", dimensions = 64 }}\n{}",
        admin_section()
    );
    let h = Harness::with(MockOptions::default(), &extra).await;
    let url = h.url("/v1/chat/completions");
    let question = chat_body("fast", "What is the capital of Peru?");
    assert_eq!(
        ask(&h.client, &url, ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    // The lookup embedded the question through the provider's adapter.
    assert_eq!(h.upstream.state.embedding_calls(), 1);
    assert_eq!(h.upstream.state.chat_calls(), 1);
    assert_eq!(
        ask(&h.client, &url, ALPHA_KEY, &question, None).await,
        (200, "hit-exact".to_owned())
    );
    assert_eq!(
        h.upstream.state.embedding_calls(),
        1,
        "exact hits embed nothing"
    );

    // The stored vector is the provider's: the same text finds it at 1.0.
    let found: Value = h
        .client
        .get(h.url("/admin/cache/search?q=What%20is%20the%20capital%20of%20Peru%3F"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["semantic"], true, "{found}");
    let similarity = found["results"][0]["similarity"].as_f64().unwrap();
    assert!((similarity - 1.0).abs() < 1e-4, "{found}");
    assert_eq!(h.upstream.state.embedding_calls(), 2);
    let stats: Value = h
        .client
        .get(h.url("/admin/cache/stats"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["semantic_layer"], true, "{stats}");
}

#[tokio::test]
async fn an_unavailable_embedding_provider_leaves_the_exact_layer_on() {
    // `anthropic` has no key here: the provider is off.
    let extra = "[cache]\nenabled = true\n\
                 embedding = { provider = \"anthropic/some-embedder\", dimensions = 8 }\n";
    let h = Harness::with(MockOptions::default(), extra).await;
    let url = h.url("/v1/chat/completions");
    let question = chat_body("fast", "Is the exact layer still on?");
    assert_eq!(
        ask(&h.client, &url, ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    assert_eq!(
        ask(&h.client, &url, ALPHA_KEY, &question, None).await,
        (200, "hit-exact".to_owned())
    );
    assert_eq!(h.upstream.state.embedding_calls(), 0);
}

#[tokio::test]
async fn entries_stored_just_before_a_graceful_shutdown_survive_it() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let text = config_text(&format!(
        "[cache]\nenabled = true\nsemantic = false\ndata_dir = {:?}\n",
        dir.path("cache")
    ));
    let path = dir.write("gateway.toml", &text);
    let client = reqwest::Client::new();
    let question = chat_body("fast", "What is the longest river in Africa?");

    let first = GatewayProcess::start(&path, &upstream.base_url()).await;
    let url = first.url("/v1/chat/completions");
    assert_eq!(
        ask(&client, &url, ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    // At once, before the periodic snapshot (every second) could run.
    first.terminate().await;

    let second = GatewayProcess::start(&path, &upstream.base_url()).await;
    let url = second.url("/v1/chat/completions");
    assert_eq!(
        ask(&client, &url, ALPHA_KEY, &question, None).await,
        (200, "hit-exact".to_owned())
    );
    assert_eq!(upstream.state.chat_calls(), 1);
}

/// The Docker image's model steps without Docker: `scripts/place-model`
/// fetches, verifies and places the model and ONNX Runtime as the image
/// carries them, and a gateway given only those two paths (the image's
/// environment) serves a paraphrase from the semantic layer.
#[tokio::test]
async fn the_model_placed_as_in_the_image_serves_paraphrases() {
    if require_env("SWITCHBOARD_EMBEDDING_MODEL_DIR", "scripts/fetch-model").is_none() {
        return;
    }
    switchboard::install_crypto_provider();
    let dir = ConfigDir::new();
    let placed = dir.path("opt");
    let output =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/place-model"))
            .arg(&placed)
            .output()
            .expect("scripts/place-model runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let variables: Vec<(&str, &str)> = printed
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let model_dir = placed.join("model");
    let library = placed.join("lib/libonnxruntime.so.1.32.0");
    assert_eq!(
        variables,
        [
            (
                "SWITCHBOARD_EMBEDDING_MODEL_DIR",
                model_dir.to_str().unwrap()
            ),
            ("ORT_DYLIB_PATH", library.to_str().unwrap()),
        ]
    );

    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let path = dir.write("gateway.toml", &config_text("[cache]\nenabled = true\n"));
    let gateway = GatewayProcess::start_with_env(&path, &upstream.base_url(), &variables).await;
    let client = reqwest::Client::new();
    let url = gateway.url("/v1/chat/completions");
    let question = chat_body("fast", "How do I reset my password?");
    let paraphrase = chat_body("fast", "What are the steps to reset my password?");
    assert_eq!(
        ask(&client, &url, ALPHA_KEY, &question, None).await,
        (200, "miss".to_owned())
    );
    // Stored once the answer is complete.
    assert_eq!(
        wait_for_hit(&client, &url, ALPHA_KEY, &question).await,
        "hit-exact"
    );
    assert_eq!(
        ask(&client, &url, ALPHA_KEY, &paraphrase, None).await,
        (200, "hit-semantic".to_owned())
    );
    assert_eq!(upstream.state.chat_calls(), 1);
}
