//! `/readyz` holds traffic back until the shared stores have answered, a
//! configured embedding model is loaded and every MCP server has had its
//! first start attempt, and again while the gateway drains at shutdown;
//! `/healthz` stays a liveness check throughout.

use super::harness::{ALPHA_KEY, Harness, JsonBody, chat_body, config_text};
use super::processes::{ConfigDir, GatewayProcess};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

/// Status and JSON body of `GET path` on `base` (`http://host:port`).
async fn get(client: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn base(h: &Harness) -> String {
    h.url("")
}

fn not_ready(body: &Value) -> Vec<&str> {
    body["not_ready"]
        .as_array()
        .unwrap_or_else(|| panic!("no `not_ready` list in {body}"))
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect()
}

/// Polls `/readyz` until it answers `status` (at most `within`).
async fn wait_for(client: &reqwest::Client, base: &str, status: u16, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (got, body) = get(client, base, "/readyz").await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz did not answer {status} within {within:?}; last: {got} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn readyz_names_its_checks_and_healthz_stays_live_while_draining() {
    let h = Harness::start().await;
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["not_ready"], serde_json::json!([]));
    for check in ["draining", "providers", "mcp_servers"] {
        assert_eq!(body["checks"][check]["ready"], true, "{check}: {body}");
    }
    h.gateway.gateway.readiness.start_draining();
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(not_ready(&body), ["draining"]);
    // Liveness is not readiness: the process answers, and still serves.
    let (status, _) = get(&h.client, &base(&h), "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(h.chat(chat_body("fast", "hi")).await.status(), 200);
}

#[tokio::test]
async fn readyz_waits_for_the_quota_redis_to_answer_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Served on local counters while Redis is away, so only readiness waits.
    let extra = format!(
        "store = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}/0\"\n\
         redis_timeout = \"100ms\"\non_store_error = \"local\"\n"
    );
    let h = Harness::with(MockOptions::default(), &extra).await;
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(not_ready(&body), ["quota_redis"]);
    assert_eq!(body["checks"]["quota_redis"]["ready"], false);
    assert!(
        !body.to_string().contains(&port.to_string()),
        "the store's address stays out of the body: {body}"
    );
    let dir = ConfigDir::new();
    let mut redis = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed");
    let body = wait_for(&h.client, &base(&h), 200, Duration::from_secs(15)).await;
    assert_eq!(body["checks"]["quota_redis"]["ready"], true, "{body}");
    // Once it has answered, a Redis outage is the quota policy's to handle,
    // not a reason to take every replica out of service at once.
    redis.start_kill().unwrap();
    redis.wait().await.unwrap();
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn readyz_waits_for_the_first_start_attempt_of_every_mcp_server() {
    // A stdio server that never completes the handshake: its first attempt
    // ends (down) when the connect timeout passes.
    let extra = "[[mcp.servers]]\nname = \"silent\"\ncommand = \"sleep\"\nargs = [\"30\"]\n\
                 connect_timeout = \"1500ms\"\n";
    let h = Harness::with(MockOptions::default(), extra).await;
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(not_ready(&body), ["mcp_servers"]);
    assert!(
        body["checks"]["mcp_servers"]["detail"]
            .as_str()
            .unwrap()
            .contains("`silent`"),
        "{body}"
    );
    let body = wait_for(&h.client, &base(&h), 200, Duration::from_secs(10)).await;
    assert_eq!(body["checks"]["mcp_servers"]["ready"], true, "{body}");
}

#[tokio::test]
async fn readyz_waits_for_the_semantic_caches_embedding_model() {
    // Embeddings from a provider that is not configured (no key in the
    // environment): the semantic layer cannot run, so the replica is not ready.
    let missing = "[cache]\nenabled = true\nembedding = { provider = \"mistral/mistral-embed\", dimensions = 8 }\n";
    let h = Harness::with(MockOptions::default(), missing).await;
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(not_ready(&body), ["embedding_model"]);
    // The same through a provider that is there: ready.
    let present = "[cache]\nenabled = true\nembedding = { provider = \"openai/text-embedding-3-small\", dimensions = 8 }\n";
    let h = Harness::with(MockOptions::default(), present).await;
    let (status, body) = get(&h.client, &base(&h), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["embedding_model"]["ready"], true, "{body}");
}

#[tokio::test]
async fn readyz_reports_draining_from_sigterm_while_the_gateway_still_serves() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let text = config_text("").replace(
        "max_body_bytes = 1048576",
        "max_body_bytes = 1048576\ndrain_delay = \"3s\"",
    );
    let config = dir.write("switchboard.toml", &text);
    let gateway = GatewayProcess::start(&config, &upstream.base_url()).await;
    let client = reqwest::Client::new();
    let (status, body) = get(&client, &gateway.base, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    gateway.send_sigterm();
    let body = wait_for(&client, &gateway.base, 503, Duration::from_secs(2)).await;
    assert_eq!(not_ready(&body), ["draining"], "{body}");
    // Until the drain delay is over, requests are still served.
    let response = client
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .body(chat_body("fast", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = get(&client, &gateway.base, "/healthz").await;
    assert_eq!(status, 200);
    let _ = response.json_body().await;
    gateway.wait_for_clean_exit().await;
}
