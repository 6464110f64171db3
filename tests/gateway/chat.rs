//! Chat, embeddings and models through the gateway, compared with the upstream.

use crate::harness::*;
use serde_json::json;

/// Ids the gateway assigns are UUIDv7: unique, and ordered by time (the
/// request log's index on them relies on it).
#[tokio::test]
async fn assigned_request_ids_are_ordered_by_time() {
    let h = Harness::start().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let response = h
            .client
            .get(h.url("/v1/models"))
            .bearer_auth(ALPHA_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7, "{id}");
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids neither unique nor in time order");
}

#[tokio::test]
async fn chat_matches_the_upstream_and_says_who_served_it() {
    let h = Harness::start().await;
    let request = json!({"model": "fast", "messages": [{"role": "user", "content": "Tell me a story"}],
                         "temperature": 0.1, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]});
    let response = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .header("x-request-id", "req-123")
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-request-id"], "req-123");
    assert_eq!(headers["x-switchboard-provider"], "openai");
    assert_eq!(headers["x-switchboard-model"], "openai/gpt-4o-mini");
    let overhead: u64 = headers["x-switchboard-overhead-us"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead < 5_000_000);
    let via_gateway = response.json_body().await;

    let mut direct_request = request.clone();
    direct_request["model"] = json!("gpt-4o-mini");
    let direct = h.direct("/chat/completions", direct_request).await;
    assert_eq!(via_gateway["choices"], direct["choices"]);
    assert_eq!(via_gateway["usage"], direct["usage"]);
    assert_eq!(via_gateway["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn the_clients_key_never_reaches_the_provider() {
    let h = Harness::start().await;
    assert_eq!(h.chat(chat_body("fast", "hi")).await.status(), 200);
    assert_eq!(
        h.upstream.state.last_authorization().as_deref(),
        Some("Bearer sk-upstream-test")
    );
}

#[tokio::test]
async fn settled_cost_is_charged_to_the_team() {
    let h = Harness::start().await;
    let body = h
        .chat(chat_body("fast", "one two three"))
        .await
        .json_body()
        .await;
    let usage = &body["usage"];
    let expected_nano = (usage["prompt_tokens"].as_u64().unwrap() * 150
        + usage["completion_tokens"].as_u64().unwrap() * 600)
        .div_ceil(1); // gpt-4o-mini: $0.15 / $0.60 per 1M tokens = 150 / 600 nano-USD per token.
    let spent = h.gateway.gateway.quota.spent("alpha").await;
    assert_eq!(spent.0, expected_nano);
    // An unlisted model has no price: served, but charged nothing and counted as unpriced.
    assert_eq!(
        h.chat(chat_body("openai/some-new-model", "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(
        h.gateway.gateway.quota.spent("alpha").await.0,
        expected_nano
    );
    let metrics = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("switchboard_unpriced_requests_total{endpoint=\"chat_completions\",model=\"openai/unlisted\""), "{metrics}");
}

#[tokio::test]
async fn embeddings_match_the_upstream() {
    let h = Harness::start().await;
    for encoding in ["float", "base64"] {
        let request = json!({"model": "openai/text-embedding-3-small", "input": ["a", "b c"], "encoding_format": encoding});
        let via_gateway = h
            .post("/v1/embeddings", Some(ALPHA_KEY), request.to_string())
            .await
            .json_body()
            .await;
        let mut direct_request = request.clone();
        direct_request["model"] = json!("text-embedding-3-small");
        let direct = h.direct("/embeddings", direct_request).await;
        assert_eq!(via_gateway["data"], direct["data"], "{encoding}");
        assert_eq!(via_gateway["usage"], direct["usage"]);
    }
    let response = h
        .post(
            "/v1/embeddings",
            Some(ALPHA_KEY),
            json!({"model": "openai/text-embedding-3-small", "input": []}).to_string(),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response).await["param"], "input");
}

#[tokio::test]
async fn models_are_listed_per_team() {
    let h = Harness::start().await;
    let list = |key: &'static str| {
        let request = h.client.get(h.url("/v1/models")).bearer_auth(key).send();
        async move {
            let body = request.await.unwrap().json_body().await;
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let alpha = list(ALPHA_KEY).await;
    for model in ["fast", "echo", "mock/echo", "openai/gpt-4o-mini"] {
        assert!(
            alpha.contains(&model.to_owned()),
            "{model} missing from {alpha:?}"
        );
    }
    // Providers without a key are not listed.
    assert!(!alpha.iter().any(|m| m.starts_with("groq/")));
    let beta = list(BETA_KEY).await;
    assert!(
        beta.iter().all(|m| m.starts_with("mock/") || m == "echo"),
        "{beta:?}"
    );
    assert!(beta.contains(&"echo".to_owned()));
    let one = h
        .client
        .get(h.url("/v1/models/openai/gpt-4o-mini"))
        .bearer_auth(ALPHA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(one.json_body().await["id"], "openai/gpt-4o-mini");
    let hidden = h
        .client
        .get(h.url("/v1/models/fast"))
        .bearer_auth(BETA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
}

#[tokio::test]
async fn operations_endpoints() {
    let h = Harness::start().await;
    assert_eq!(
        h.client
            .get(h.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        h.client
            .get(h.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.chat(chat_body("fast", "hi")).await;
    let metrics = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "switchboard_requests_total{endpoint=\"chat_completions\",model=\"openai/gpt-4o-mini\",provider=\"openai\",status=\"200\"} 1",
        "switchboard_overhead_seconds_bucket",
        "switchboard_upstream_duration_seconds_bucket",
        "switchboard_tokens_total{model=\"openai/gpt-4o-mini\",provider=\"openai\",kind=\"prompt\"}",
        "switchboard_cost_usd_total",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
}
