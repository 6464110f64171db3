//! What one iteration of the gateway's tool loop costs over a client that
//! runs the same loop itself. Everything runs in this process: the mock
//! upstream's Anthropic wire (which calls the first tool it is offered and
//! answers once it has read a result), an rmcp tool server, the gateway.
//!
//! - through the gateway: `POST /v1/responses` with an `mcp` tool, not
//!   streamed: the tools listed, a model call that asks for the tool, the
//!   tool call through the front door's governed call, a model call that
//!   answers: two iterations of the loop;
//! - direct: the same two model calls to the mock's `/v1/messages` and the
//!   same `tools/call` on the tool server, made one after the other by a
//!   client.
//!
//! The difference at p50, halved, is the loop's own cost per iteration
//! (the chat stages twice, the translation both ways, the tool call's
//! policy, guardrail seam and audit, the response built and kept).
//!
//! `cargo bench --bench tool_loop` (env: LOOP_CALLS, default 2000).

// Shared with the other sequential-call benches; this one's gateway also
// needs Anthropic at the mock (`latency::gateway_with`), so the plain
// helper goes unused here.
#[path = "support/echo_tool.rs"]
mod echo_tool;
#[path = "support/latency.rs"]
#[allow(dead_code)]
mod latency;

use hdrhistogram::Histogram;
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use std::time::Instant;

use latency::KEY;

/// The mock upstream's key.
const UPSTREAM_KEY: &str = "sk-upstream-test";
const MODEL: &str = "claude-sonnet-5-5";

/// A gateway with the team `bench` (key `KEY`), Anthropic at the mock and
/// the tool server as `echo`, once its tools are listed.
async fn gateway(mock: &str, tools: &str) -> switchboard::server::RunningServer {
    let mock = mock.to_owned();
    let env = move |name: &str| match name {
        "ANTHROPIC_BASE_URL" => Some(mock.clone()),
        "ANTHROPIC_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    latency::gateway_with(
        "[providers.anthropic]\nenabled = true\n[quota]\nledger = \":memory:\"\n",
        &format!("name = \"echo\"\nurl = \"{tools}\""),
        &env,
    )
    .await
}

async fn post(request: reqwest::RequestBuilder, body: &Value) -> Value {
    let response = request
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("JSON")
}

/// One loop through the gateway: the response must hold the call.
async fn through(client: &reqwest::Client, gateway: &str) {
    let body = json!({"model": format!("anthropic/{MODEL}"), "input": "What does echo say?",
        "max_output_tokens": 256, "store": false,
        "tools": [{"type": "mcp", "server_label": "echo", "server_url": "http://gateway/mcp/echo",
                   "require_approval": "never"}]});
    let request = client
        .post(format!("http://{gateway}/v1/responses"))
        .bearer_auth(KEY);
    let response = post(request, &body).await;
    assert_eq!(response["output"][1]["type"], "mcp_call", "{response}");
    assert_eq!(response["status"], "completed", "{response}");
}

/// The same loop made by a client: the model, the tool, the model again.
async fn direct(client: &reqwest::Client, mock: &str, tools: &RunningService<RoleClient, ()>) {
    let tool = json!({"name": "echo", "description": "Echoes its arguments.",
                      "input_schema": {"type": "object"}});
    let question = json!({"role": "user", "content": "What does echo say?"});
    let messages_url = format!("{mock}/v1/messages");
    let call = |body: Value| {
        let request = client
            .post(&messages_url)
            .header("x-api-key", UPSTREAM_KEY)
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json");
        async move { post(request, &body).await }
    };
    let first = call(json!({"model": MODEL, "max_tokens": 256, "tools": [tool],
                            "messages": [question]}))
    .await;
    let asked = &first["content"][0];
    assert_eq!(asked["type"], "tool_use", "{first}");
    let mut params = CallToolRequestParams::new("echo");
    params.arguments = asked["input"].as_object().cloned();
    let result = tools.call_tool(params).await.expect("tools/call");
    let text = result.content[0].as_text().expect("text").text.clone();
    let answer = call(
        json!({"model": MODEL, "max_tokens": 256, "tools": [tool], "messages": [
            question,
            {"role": "assistant", "content": [asked]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": asked["id"],
                                          "content": text}]},
        ]}),
    )
    .await;
    assert_eq!(answer["content"][0]["type"], "text", "{answer}");
}

fn record(histogram: &mut Histogram<u64>, started: Instant) {
    histogram
        .record(started.elapsed().as_micros() as u64)
        .unwrap();
}

fn main() {
    let calls = latency::calls("LOOP_CALLS");
    latency::runtime().block_on(async {
        switchboard::install_crypto_provider();
        let upstream = switchboard_mock_upstream::spawn(Default::default())
            .await
            .expect("mock upstream");
        // Anthropic's base URL is the host: the wire adds `/v1/messages`.
        let mock = format!("http://{}", upstream.addr);
        let tools_url = echo_tool::serve().await;
        let server = gateway(&mock, &tools_url).await;
        let gateway = server.addr.to_string();
        let client = reqwest::Client::new();
        let tools = echo_tool::client(&tools_url, None).await;
        let (mut looped, mut by_hand) = (
            Histogram::<u64>::new(3).unwrap(),
            Histogram::<u64>::new(3).unwrap(),
        );
        // The first tenth warms connections and caches up; the two paths
        // take turns so that a busy moment weighs on both.
        for i in 0..calls + calls / 10 {
            let started = Instant::now();
            direct(&client, &mock, &tools).await;
            if i >= calls / 10 {
                record(&mut by_hand, started);
            }
            let started = Instant::now();
            through(&client, &gateway).await;
            if i >= calls / 10 {
                record(&mut looped, started);
            }
        }
        latency::print_table(
            &format!("one tool loop (2 model calls, 1 tool call), {calls} sequential loops, µs"),
            &[
                ("a client runs the loop against the upstreams", &by_hand),
                ("the gateway runs it (POST /v1/responses)", &looped),
            ],
        );
        let added = looped.value_at_quantile(0.5) as i64 - by_hand.value_at_quantile(0.5) as i64;
        println!("per iteration (half the loop) at p50: {} µs", added / 2);
    });
}
