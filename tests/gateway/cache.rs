//! The response cache over real HTTP: exact and semantic hits, team and
//! context isolation, `Cache-Control`, SSE replay, restarts, the admin API.

use crate::harness::*;
use serde_json::{Value, json};
use switchboard::auth::hash_key;
use switchboard_mock_upstream::MockOptions;

const ADMIN_KEY: &str = "sk-admin-test";

/// `[cache]` and `[admin]` for a test; the real model when it is present.
fn cache_config(extra: &str) -> String {
    let model = std::env::var("SWITCHBOARD_EMBEDDING_MODEL_DIR")
        .map(|dir| format!("model_dir = {dir:?}\n"))
        .unwrap_or_default();
    format!(
        "[cache]\nenabled = true\n{model}{extra}\n[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_KEY))
    )
}

async fn start(extra: &str) -> Harness {
    Harness::with(MockOptions::default(), &cache_config(extra)).await
}

/// Whether the embedding model is present; when it is not, the test says it
/// is skipped (and fails under CI).
fn has_model() -> bool {
    require_env("SWITCHBOARD_EMBEDDING_MODEL_DIR", "scripts/fetch-model").is_some()
}

fn cache_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-switchboard-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn ask(h: &Harness, key: &str, body: &Value, control: Option<&str>) -> reqwest::Response {
    let mut request = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(key)
        .body(body.to_string());
    if let Some(control) = control {
        request = request.header("cache-control", control);
    }
    request.send().await.expect("gateway answers")
}

/// Ask, check the cache header, return the body.
async fn expect(h: &Harness, body: &Value, outcome: &str) -> Value {
    let response = ask(h, ALPHA_KEY, body, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cache_header(&response), outcome, "{body}");
    response.json_body().await
}

fn with_system(system: &str, question: &str) -> Value {
    json!({"model": "fast", "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": question}]})
}

async fn admin(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = h.client.request(method, h.url(path)).bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json_body().await)
}

#[tokio::test]
async fn an_exact_repeat_is_served_without_the_upstream() {
    let h = start("").await;
    let body = chat_body("fast", "What is the capital of France?");
    let first = expect(&h, &body, "miss").await;
    let response = ask(&h, ALPHA_KEY, &body, None).await;
    assert_eq!(cache_header(&response), "hit-exact");
    assert_eq!(
        response.headers()["x-switchboard-cache-similarity"],
        "1.0000"
    );
    assert!(response.headers().contains_key("x-switchboard-cache-entry"));
    let second = response.json_body().await;
    assert_eq!(second["choices"], first["choices"]);
    assert_eq!(second["usage"], first["usage"]);
    assert_ne!(second["id"], first["id"]);
    assert_eq!(h.upstream.state.chat_calls(), 1);
}

#[tokio::test]
async fn teams_and_contexts_never_share_an_answer() {
    let h = start("").await;
    let question = "What is the capital of France?";
    expect(&h, &with_system("Be brief.", question), "miss").await;
    expect(&h, &with_system("Be brief.", question), "hit-exact").await;
    // A different system prompt, model or sampling: a different context.
    expect(&h, &with_system("Answer in French.", question), "miss").await;
    let mut warmer = with_system("Be brief.", question);
    warmer["temperature"] = json!(0.7);
    expect(&h, &warmer, "miss").await;
    assert_eq!(h.upstream.state.chat_calls(), 3);
    // Another team asking the same question misses.
    let echo = chat_body("echo", question);
    assert_eq!(cache_header(&ask(&h, ALPHA_KEY, &echo, None).await), "miss");
    assert_eq!(
        cache_header(&ask(&h, ALPHA_KEY, &echo, None).await),
        "hit-exact"
    );
    assert_eq!(cache_header(&ask(&h, BETA_KEY, &echo, None).await), "miss");
    assert_eq!(
        cache_header(&ask(&h, BETA_KEY, &echo, None).await),
        "hit-exact"
    );
}

#[tokio::test]
async fn sharing_across_teams_is_an_operator_choice() {
    let h = start("share_across_teams = true").await;
    let echo = chat_body("echo", "What is the capital of France?");
    assert_eq!(cache_header(&ask(&h, ALPHA_KEY, &echo, None).await), "miss");
    assert_eq!(
        cache_header(&ask(&h, BETA_KEY, &echo, None).await),
        "hit-exact"
    );
}

#[tokio::test]
async fn cache_control_has_http_semantics() {
    let h = start("").await;
    let body = chat_body("fast", "Name a prime number");
    // only-if-cached on a miss: 504, nothing sent upstream.
    let response = ask(&h, ALPHA_KEY, &body, Some("only-if-cached")).await;
    assert_eq!(response.status(), 504);
    assert_eq!(error_of(response).await["code"], "not_cached");
    assert_eq!(h.upstream.state.chat_calls(), 0);
    // no-store: answered, not kept.
    let response = ask(&h, ALPHA_KEY, &body, Some("no-store")).await;
    assert_eq!(cache_header(&response), "miss");
    expect(&h, &body, "miss").await;
    // no-cache: not read (the upstream answers), but stored again.
    let response = ask(&h, ALPHA_KEY, &body, Some("no-cache")).await;
    assert_eq!(cache_header(&response), "bypass");
    assert_eq!(h.upstream.state.chat_calls(), 3);
    let response = ask(&h, ALPHA_KEY, &body, Some("only-if-cached")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cache_header(&response), "hit-exact");
    assert_eq!(h.upstream.state.chat_calls(), 3);
}

#[tokio::test]
async fn what_is_never_cached() {
    let h = start("max_temperature = 1.0").await;
    let mut hot = chat_body("fast", "Write a wild poem");
    hot["temperature"] = json!(1.8);
    expect(&h, &hot, "bypass").await;
    expect(&h, &hot, "bypass").await;
    // A tool result in flight.
    let tool_turn = json!({"model": "fast", "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]});
    expect(&h, &tool_turn, "bypass").await;
    // An upstream error is not stored: the retry goes upstream again.
    let failing = chat_body("openai/fault-500", "Fail please");
    let first = ask(&h, ALPHA_KEY, &failing, None).await;
    assert!(first.status().is_server_error(), "{}", first.status());
    let before = h.upstream.state.chat_calls();
    let _ = ask(&h, ALPHA_KEY, &failing, None).await;
    assert!(h.upstream.state.chat_calls() > before);
}

#[tokio::test]
async fn a_streamed_miss_is_stored_and_a_streamed_hit_is_replayed() {
    let h = start("").await;
    let mut body = chat_body("fast", "Tell me about otters");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = ask(&h, ALPHA_KEY, &body, None).await;
    assert_eq!(cache_header(&response), "miss");
    let live = sse_payloads(&response.text().await.unwrap());
    assert_eq!(live.last().unwrap(), "[DONE]");
    // Stored once complete: the same question without streaming hits.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let json_hit = expect(&h, &chat_body("fast", "Tell me about otters"), "hit-exact").await;
    let text = |payloads: &[String]| -> String {
        payloads
            .iter()
            .filter(|p| *p != "[DONE]")
            .filter_map(|p| serde_json::from_str::<Value>(p).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(json_hit["choices"][0]["message"]["content"], text(&live));
    // A streaming hit is a proper SSE stream: chunks, usage, [DONE].
    let response = ask(&h, ALPHA_KEY, &body, None).await;
    assert_eq!(cache_header(&response), "hit-exact");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let replay = sse_payloads(&response.text().await.unwrap());
    assert_eq!(replay.last().unwrap(), "[DONE]");
    assert_eq!(text(&replay), text(&live));
    let usage: Value = serde_json::from_str(&replay[replay.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], json_hit["usage"]);
    assert_eq!(h.upstream.state.chat_calls(), 1);
}

#[tokio::test]
async fn a_paraphrase_hits_and_a_near_miss_does_not() {
    if !has_model() {
        return;
    }
    let h = start("").await;
    let stored = expect(
        &h,
        &chat_body("fast", "How do I reset my password?"),
        "miss",
    )
    .await;
    let response = ask(
        &h,
        ALPHA_KEY,
        &chat_body("fast", "What are the steps to reset my password?"),
        None,
    )
    .await;
    assert_eq!(cache_header(&response), "hit-semantic");
    let similarity: f32 = response.headers()["x-switchboard-cache-similarity"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.8..1.0).contains(&similarity), "{similarity}");
    assert_eq!(response.json_body().await["choices"], stored["choices"]);
    assert_eq!(h.upstream.state.chat_calls(), 1);

    expect(
        &h,
        &chat_body("fast", "Lasagna recipe with mushrooms"),
        "miss",
    )
    .await;
    expect(
        &h,
        &chat_body("fast", "Lasagna recipe without mushrooms"),
        "miss",
    )
    .await;
    // The shadow log says the verifier turned the candidate down, and why.
    let (status, log) = admin(&h, reqwest::Method::GET, "/admin/cache/shadow", None).await;
    assert_eq!(status, 200);
    let records = log["records"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["stage"] == "verifier"
            && r["check"] == "negation"
            && r["accepted"] == false),
        "{log}"
    );
}

#[tokio::test]
async fn shadow_mode_records_without_serving() {
    if !has_model() {
        return;
    }
    let h = start("shadow = true").await;
    expect(
        &h,
        &chat_body("fast", "How do I reset my password?"),
        "miss",
    )
    .await;
    expect(
        &h,
        &chat_body("fast", "What are the steps to reset my password?"),
        "miss",
    )
    .await;
    assert_eq!(h.upstream.state.chat_calls(), 2);
    let (_, log) = admin(&h, reqwest::Method::GET, "/admin/cache/shadow", None).await;
    let record = &log["records"][0];
    assert_eq!(record["accepted"], true, "{log}");
    assert_eq!(record["shadow"], true);
    // The mock echoes the question, so the fresh answer differs.
    assert_eq!(record["agreed"], false);
}

#[tokio::test]
async fn a_restart_keeps_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("data_dir = {:?}", dir.path());
    let body = chat_body("fast", "What is the tallest mountain?");
    {
        let h = start(&extra).await;
        expect(&h, &body, "miss").await;
        // The entry is stored once the answer is complete, and the snapshot
        // follows within a second of a change; wait for it with a deadline.
        let snapshot = dir.path().join(switchboard::cache::SNAPSHOT_FILE);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(&snapshot).is_ok_and(|text| text.contains("tallest")) {
            assert!(
                std::time::Instant::now() < deadline,
                "no snapshot within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let h = start(&extra).await;
    expect(&h, &body, "hit-exact").await;
    assert_eq!(h.upstream.state.chat_calls(), 0);
}

#[tokio::test]
async fn without_a_model_the_exact_layer_still_serves() {
    let h = Harness::with(
        MockOptions::default(),
        "[cache]\nenabled = true\nmodel_dir = \"/nonexistent/model\"\n",
    )
    .await;
    let body = chat_body("fast", "Hello there");
    expect(&h, &body, "miss").await;
    expect(&h, &body, "hit-exact").await;
}

#[tokio::test]
async fn the_admin_api_inspects_and_purges() {
    let h = start("").await;
    // No admin key, or a team's key: refused.
    let anonymous = h
        .client
        .get(h.url("/admin/cache/entries"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let team = h
        .client
        .get(h.url("/admin/cache/entries"))
        .bearer_auth(ALPHA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(team.status(), 403);

    let body = chat_body("fast", "What is the capital of Peru?");
    expect(&h, &body, "miss").await;
    expect(&h, &body, "hit-exact").await;
    let echo = chat_body("echo", "Hello from beta");
    ask(&h, BETA_KEY, &echo, None).await;

    let (status, list) = admin(
        &h,
        reqwest::Method::GET,
        "/admin/cache/entries?team=alpha",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    let entry = &entries[0];
    assert_eq!(entry["prompt"], "What is the capital of Peru?");
    assert_eq!(entry["model"], "openai/gpt-4o-mini");
    assert_eq!(entry["hits"], 1);
    assert!(entry["saved_tokens"].as_u64().unwrap() > 0);
    let id = entry["id"].as_str().unwrap();

    let (_, one) = admin(
        &h,
        reqwest::Method::GET,
        &format!("/admin/cache/entries/{id}"),
        None,
    )
    .await;
    assert_eq!(one["history"][0]["layer"], "exact");
    assert_eq!(one["history"][0]["team"], "alpha");

    let (_, found) = admin(
        &h,
        reqwest::Method::GET,
        "/admin/cache/search?q=capital%20of%20Peru",
        None,
    )
    .await;
    assert_eq!(found["results"][0]["id"], id, "{found}");

    let (_, stats) = admin(&h, reqwest::Method::GET, "/admin/cache/stats", None).await;
    assert_eq!(stats["entries"], 2);
    assert_eq!(stats["lookups"]["hit_exact"], 1);
    // The hit cost the team nothing; what it saved is counted.
    let saved = stats["saved_usd"].as_f64().unwrap();
    assert!(saved > 0.0, "{stats}");
    assert_eq!(entry["saved_usd"].as_f64().unwrap(), saved);
    let metrics = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_cache_lookups_total{outcome=\"hit-exact\"} 1"),
        "{metrics}"
    );

    let (status, bad) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/cache/purge",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (_, purged) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/cache/purge",
        Some(json!({"team": "beta"})),
    )
    .await;
    assert_eq!(purged["purged"], 1);
    let (status, _) = admin(
        &h,
        reqwest::Method::DELETE,
        &format!("/admin/cache/entries/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin(
        &h,
        reqwest::Method::GET,
        &format!("/admin/cache/entries/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    expect(&h, &body, "miss").await;
}

#[tokio::test]
async fn only_if_cached_without_a_cache_is_a_504() {
    let h = Harness::start().await;
    let response = ask(
        &h,
        ALPHA_KEY,
        &chat_body("fast", "Hi"),
        Some("only-if-cached"),
    )
    .await;
    assert_eq!(response.status(), 504);
    assert_eq!(h.upstream.state.chat_calls(), 0);
    // No cache, no cache header.
    let response = ask(&h, ALPHA_KEY, &chat_body("fast", "Hi"), None).await;
    assert!(!response.headers().contains_key("x-switchboard-cache"));
}
