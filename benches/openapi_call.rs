//! What an OpenAPI tool call through the gateway's `/mcp` costs over calling
//! the REST service directly. The service (axum), the gateway and both
//! clients run in this process: directly, a reqwest POST; through the
//! gateway, an rmcp client's `tools/call` on a legacy session, which the
//! gateway turns into the same POST.
//!
//! `cargo bench --bench openapi_call` (env: OPENAPI_CALLS, default 2000).

use axum::extract::{Path, Query};
#[path = "support/latency.rs"]
mod latency;

use hdrhistogram::Histogram;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;

use latency::KEY;

const DESCRIPTION: &str = r#"{
  "openapi": "3.1.0",
  "info": {"title": "bench", "version": "1"},
  "paths": {"/echo/{id}": {"post": {
    "operationId": "echo",
    "parameters": [
      {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
      {"name": "n", "in": "query", "schema": {"type": "integer"}}
    ],
    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}
  }}}
}"#;

async fn service() -> String {
    let app = axum::Router::new().route(
        "/echo/{id}",
        axum::routing::post(
            |Path(id): Path<u64>,
             Query(query): Query<HashMap<String, String>>,
             axum::Json(body): axum::Json<Value>| async move {
                axum::Json(json!({"id": id, "n": query.get("n"), "body": body}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new(3).unwrap()
}

async fn direct(base: &str, calls: usize) -> Histogram<u64> {
    let client = reqwest::Client::new();
    let mut h = histogram();
    for i in 0..calls + calls / 10 {
        let started = Instant::now();
        let answer = client
            .post(format!("{base}/echo/7?n=42"))
            .json(&json!({"text": "hello"}))
            .send()
            .await
            .expect("the service answers");
        answer.bytes().await.expect("a body");
        if i >= calls / 10 {
            h.record(started.elapsed().as_micros() as u64).unwrap();
        }
    }
    h
}

async fn through(client: &RunningService<RoleClient, ()>, calls: usize) -> Histogram<u64> {
    let arguments: JsonObject =
        serde_json::from_value(json!({"id": 7, "n": 42, "body": {"text": "hello"}})).unwrap();
    let mut h = histogram();
    for i in 0..calls + calls / 10 {
        let mut params = CallToolRequestParams::new("rest__echo");
        params.arguments = Some(arguments.clone());
        let started = Instant::now();
        let result = client.call_tool(params).await.expect("call");
        assert_ne!(result.is_error, Some(true), "{result:?}");
        if i >= calls / 10 {
            h.record(started.elapsed().as_micros() as u64).unwrap();
        }
    }
    h
}

fn main() {
    let calls = latency::calls("OPENAPI_CALLS");
    latency::runtime().block_on(async {
        let base = service().await;
        let folder = tempfile::tempdir().unwrap();
        let described = folder.path().join("bench.json");
        std::fs::write(&described, DESCRIPTION).unwrap();
        let server = latency::gateway_with_mcp_server(&format!(
            "name = \"rest\"\nopenapi = \"{}\"\nbase_url = \"{base}\"",
            described.display()
        ))
        .await;
        let config =
            StreamableHttpClientTransportConfig::with_uri(format!("http://{}/mcp", server.addr))
                .auth_header(KEY);
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        let client = ().serve(transport).await.expect("client connects");
        let direct = direct(&base, calls).await;
        let through = through(&client, calls).await;
        latency::print_table(
            &format!("OpenAPI tool call, {calls} sequential calls, µs"),
            &[
                ("POST to the REST service directly", &direct),
                ("tools/call through the gateway", &through),
            ],
        );
    });
}
