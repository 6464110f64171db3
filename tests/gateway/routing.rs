//! Routes over real HTTP against the mock upstream's faults: one target down,
//! one rate limited with `Retry-After`, one slow past the first-token timeout,
//! one truncating its stream, one whose context window is too small. Each
//! shows the retries, fallbacks, breaker and error events, with call counts.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};
use switchboard::auth::hash_key;
use switchboard_mock_upstream::MockOptions;

const ADMIN_KEY: &str = "sk-admin-test-0123456789";

/// A route `r` over `targets` (TOML inline tables), with fast retries, a
/// breaker that opens after two consecutive failures, and the admin API on.
fn routed(targets: &str, extra_route: &str) -> String {
    format!(
        r#"
[routes.r]
targets = [{targets}]
retries = {{ attempts = 2, backoff = "20ms", max_backoff = "50ms" }}
{extra_route}

[breaker]
consecutive_failures = 2
cool_down = "60s"

[admin]
hash = "sha256:{admin}"
"#,
        admin = hex::encode(hash_key(ADMIN_KEY)),
    )
}

async fn start(targets: &str, extra_route: &str) -> Harness {
    Harness::with(MockOptions::default(), &routed(targets, extra_route)).await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

async fn metrics(h: &Harness) -> String {
    h.client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn admin_routes(h: &Harness, key: Option<&str>) -> reqwest::Response {
    let mut request = h.client.get(h.url("/admin/routes"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

const DOWN_THEN_UP: &str = r#"{ model = "openai/fault-500", priority = 1 }, { model = "openai/gpt-4o-mini", priority = 2 }"#;

#[tokio::test]
async fn a_target_down_is_retried_then_falls_back_then_its_breaker_opens() {
    let h = start(DOWN_THEN_UP, "").await;
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);

    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4o-mini"
    );
    assert_eq!(header(&response, "x-switchboard-provider"), "openai");
    assert_eq!(header(&response, "x-switchboard-attempts"), "3");
    assert_eq!((calls("fault-500"), calls("gpt-4o-mini")), (2, 1));

    // Two consecutive failures opened the breaker: the next request skips it.
    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-switchboard-attempts"), "1");
    assert_eq!((calls("fault-500"), calls("gpt-4o-mini")), (2, 2));

    let text = metrics(&h).await;
    for line in [
        r#"switchboard_retries_total{provider="openai",model="openai/fault-500"} 1"#,
        r#"switchboard_fallbacks_total{provider="openai",model="openai/fault-500"} 1"#,
        r#"switchboard_breaker_state{provider="openai",model="openai/fault-500"} 2"#,
        r#"switchboard_breaker_state{provider="openai",model="openai/gpt-4o-mini"} 0"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }

    let body = admin_routes(&h, Some(ADMIN_KEY)).await.json_body().await;
    let route = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "r")
        .unwrap();
    assert_eq!(route["name"], "r");
    assert_eq!(route["strategy"], "priority");
    assert_eq!(route["targets"][0]["model"], "openai/fault-500");
    assert_eq!(route["targets"][0]["breaker"], "open");
    assert_eq!(route["targets"][1]["breaker"], "closed");
    assert!(route["targets"][1]["ttft_ewma_ms"].as_f64().unwrap() > 0.0);
    assert!(route["targets"][0]["ttft_ewma_ms"].is_null());
}

#[tokio::test]
async fn every_target_down_is_a_502_after_the_documented_attempts() {
    let h = start(
        r#"{ model = "openai/fault-500" }, { model = "openai/fault-503" }"#,
        "",
    )
    .await;
    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(header(&response, "x-switchboard-attempts"), "4");
    assert_eq!(error_of(response).await["code"], "bad_gateway");
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-500"), calls("fault-503")), (2, 2));
    // Both breakers are open now: the gateway answers without calling anyone.
    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(header(&response, "x-switchboard-attempts"), "0");
    assert_eq!(h.upstream.state.chat_calls(), 4);
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after_then_falls_back() {
    let h = start(
        r#"{ model = "openai/fault-429", priority = 1 }, { model = "openai/gpt-4o-mini", priority = 2 }"#,
        "",
    )
    .await;
    let started = Instant::now();
    let response = h.chat(chat_body("r", "hi")).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4o-mini"
    );
    assert_eq!(header(&response, "x-switchboard-attempts"), "3");
    // Retry-After: 1 overrides the 20ms backoff.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-429"), calls("gpt-4o-mini")), (2, 1));
}

#[tokio::test]
async fn a_retry_after_above_the_cap_falls_back_at_once() {
    let extra = routed(
        r#"{ model = "openai/fault-429", priority = 1 }, { model = "openai/gpt-4o-mini", priority = 2 }"#,
        "",
    )
    .replace("attempts = 2,", r#"attempts = 3, max_retry_after = "500ms","#);
    let h = Harness::with(MockOptions::default(), &extra).await;
    let started = Instant::now();
    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(header(&response, "x-switchboard-attempts"), "2");
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-429"), calls("gpt-4o-mini")), (1, 1));
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_falls_back() {
    let options = MockOptions {
        slow_first_byte: Duration::from_secs(5),
        ..MockOptions::default()
    };
    let extra = routed(
        r#"{ model = "openai/fault-slow", priority = 1 }, { model = "openai/gpt-4o-mini", priority = 2 }"#,
        r#"timeouts = { first_token = "300ms", total = "10s" }"#,
    )
    .replace("attempts = 2", "attempts = 1");
    let h = Harness::with(options, &extra).await;
    let started = Instant::now();
    let response = h
        .chat(
            json!({"model": "r", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4o-mini"
    );
    assert_eq!(header(&response, "x-switchboard-attempts"), "2");
    let body = response.text().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        sse_payloads(&body).last().map(String::as_str),
        Some("[DONE]")
    );
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-slow"), calls("gpt-4o-mini")), (1, 1));
}

#[tokio::test]
async fn a_stream_truncated_after_its_first_chunk_is_an_error_event_not_a_retry() {
    let h = start(
        r#"{ model = "openai/fault-truncate", priority = 1 }, { model = "openai/gpt-4o-mini", priority = 2 }"#,
        "",
    )
    .await;
    let response = h
        .chat(
            json!({"model": "r", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/fault-truncate"
    );
    assert_eq!(header(&response, "x-switchboard-attempts"), "1");
    let body = response.text().await.unwrap();
    let payloads = sse_payloads(&body);
    assert!(payloads.len() > 1, "content arrived first: {body}");
    assert!(!payloads.iter().any(|p| p == "[DONE]"), "{body}");
    let last: serde_json::Value = serde_json::from_str(payloads.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "bad_gateway");
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-truncate"), calls("gpt-4o-mini")), (1, 0));

    // A broken stream counts against its target's breaker: after the second,
    // it is open and the next stream goes to the fallback from the start.
    let stream =
        json!({"model": "r", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let body = h.chat(stream.clone()).await.text().await.unwrap();
    assert!(!sse_payloads(&body).iter().any(|p| p == "[DONE]"), "{body}");
    let response = h.chat(stream).await;
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4o-mini"
    );
    assert_eq!(header(&response, "x-switchboard-attempts"), "1");
    let body = response.text().await.unwrap();
    assert_eq!(
        sse_payloads(&body).last().map(String::as_str),
        Some("[DONE]")
    );
    assert_eq!((calls("fault-truncate"), calls("gpt-4o-mini")), (2, 1));
}

#[tokio::test]
async fn a_context_window_error_falls_back_to_a_larger_window() {
    let h = start(
        r#"{ model = "openai/fault-context", priority = 1 }, { model = "openai/gpt-4.1-mini", priority = 2 }"#,
        "",
    )
    .await;
    let response = h.chat(chat_body("r", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4.1-mini"
    );
    let calls = |model: &str| h.upstream.state.chat_calls_for(model);
    assert_eq!((calls("fault-context"), calls("gpt-4.1-mini")), (1, 1));
    // Without a larger target the provider's own error reaches the client.
    let response = h.chat(chat_body("openai/fault-context", "hi")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response).await["code"], "context_length_exceeded");
    assert_eq!(calls("fault-context"), 2);
}

#[tokio::test]
async fn a_prompt_over_a_context_window_skips_that_target_before_dispatch() {
    // `mock/echo` has 32,768 tokens; ~40,000 words do not fit.
    let h = start(
        r#"{ model = "mock/echo", priority = 1 }, { model = "openai/gpt-4.1-mini", priority = 2 }"#,
        "",
    )
    .await;
    let long = "word ".repeat(40_000);
    let response = h.chat(chat_body("r", &long)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-switchboard-model"),
        "openai/gpt-4.1-mini"
    );
    assert_eq!(header(&response, "x-switchboard-attempts"), "1");
    // A short prompt goes to the first target.
    let response = h.chat(chat_body("r", "short")).await;
    assert_eq!(header(&response, "x-switchboard-model"), "mock/echo");
}

#[tokio::test]
async fn the_admin_api_takes_only_the_admin_key() {
    let h = start(DOWN_THEN_UP, "").await;
    assert_eq!(admin_routes(&h, None).await.status(), 401);
    assert_eq!(admin_routes(&h, Some(ALPHA_KEY)).await.status(), 403);
    assert_eq!(
        admin_routes(&h, Some("sk-admin-test-wrong")).await.status(),
        401
    );
    let response = admin_routes(&h, Some(ADMIN_KEY)).await;
    assert_eq!(response.status(), 200);
    let body = response.json_body().await;
    let names: Vec<&str> = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "fast", "r"]);
    // Without `[admin]` the API is off, whatever the key.
    let off = Harness::start().await;
    let response = admin_routes(&off, Some(ADMIN_KEY)).await;
    assert_eq!(response.status(), 403);
    assert!(
        error_of(response).await["message"]
            .as_str()
            .unwrap()
            .contains("[admin]")
    );
}
