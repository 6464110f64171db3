//! The tool loop's own dollar limit (`[tool_loop] max_cost_usd`, lowered
//! by a request's `tool_loop.max_cost_usd`): the loop sums what each model
//! call was settled at and what each priced tool call was charged, and ends
//! with `tool_loop_limit` once that reaches the limit, before its next
//! call; what it reports spent is exactly what the ledger and the budget
//! hold.

use crate::harness::{ALPHA_KEY, JsonBody, UPSTREAM_KEY};
use crate::processes::{ConfigDir, GatewayProcess};
use crate::reload::reload_with;
use crate::tool_prices::{BUY_NANO, MODEL, Setup, kinds, shop, shop_config, shop_tool};
use serde_json::{Value, json};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

fn buy_request(extension: Option<Value>) -> Value {
    let mut request = json!({"model": MODEL, "input": "Buy one.", "tools": [shop_tool()],
                             "max_output_tokens": 200});
    if let Some(extension) = extension {
        request["tool_loop"] = extension;
    }
    request
}

/// Nano-USD as the loop reports them.
fn usd(nano: u64) -> f64 {
    nano as f64 / 1e9
}

#[tokio::test]
async fn model_calls_costing_more_than_the_limit_stop_the_loop_with_what_was_spent() {
    let setup =
        Setup::with_config("usd_total = 10.0", "[tool_loop]\nmax_cost_usd = 0.000001").await;
    // A request may not raise the configured limit.
    let response = setup
        .respond(buy_request(Some(json!({"max_cost_usd": 5.0}))))
        .await;
    assert_eq!(response["status"], "failed", "{response}");
    assert_eq!(response["error"]["code"], "tool_loop_limit", "{response}");
    // The first model call spent past the limit: no tool call was made.
    assert_eq!(kinds(&response), ["mcp_list_tools"]);
    let spend = setup.spend().await;
    let (calls, model_nano) = spend[MODEL];
    assert_eq!(calls, 1, "{spend:?}");
    assert!(
        model_nano > 1_000,
        "the model call costs more than the limit"
    );
    assert!(!spend.contains_key("mcp:shop/buy"), "{spend:?}");
    let report = &response["tool_loop"];
    assert_eq!(
        report["cost_usd"].as_f64(),
        Some(usd(model_nano)),
        "{report}"
    );
    assert_eq!(report["max_cost_usd"].as_f64(), Some(0.000001), "{report}");
    assert_eq!(report["model_calls"], 1);
    assert_eq!(report["tool_calls"], 0);
    let message = response["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("limit of $0.000001") && message.contains("1 model calls"),
        "{message}"
    );
    // Settled once: the budget holds exactly what the ledger says.
    assert_eq!(setup.counted().await, model_nano);
}

#[tokio::test]
async fn a_priced_tool_call_counts_and_a_request_may_lower_the_limit() {
    let setup = Setup::with_config("usd_total = 10.0", "").await;
    // Under the default limit ($1) the loop buys and answers.
    let whole = setup.respond(buy_request(None)).await;
    assert_eq!(whole["status"], "completed", "{whole}");
    assert_eq!(kinds(&whole), ["mcp_list_tools", "mcp_call", "message"]);
    assert_eq!(whole["tool_loop"]["max_cost_usd"].as_f64(), Some(1.0));
    let before = setup.spend().await;
    let whole_cost = before.values().map(|row| row.1).sum::<u64>();
    assert_eq!(
        whole["tool_loop"]["cost_usd"].as_f64(),
        Some(usd(whole_cost))
    );

    // At $0.25 the first model call and the $0.25 call reach the limit:
    // the loop ends before its second model call.
    let response = setup
        .respond(buy_request(Some(json!({"max_cost_usd": 0.25}))))
        .await;
    assert_eq!(response["status"], "failed", "{response}");
    assert_eq!(response["error"]["code"], "tool_loop_limit", "{response}");
    assert_eq!(kinds(&response), ["mcp_list_tools", "mcp_call"]);
    assert_eq!(response["output"][1]["status"], "completed");
    let after = setup.spend().await;
    assert_eq!(after["mcp:shop/buy"], (2, 2 * BUY_NANO));
    assert_eq!(after[MODEL].0, before[MODEL].0 + 1, "{after:?}");
    let model_nano = after[MODEL].1 - before[MODEL].1;
    let report = &response["tool_loop"];
    assert_eq!(
        report["cost_usd"].as_f64(),
        Some(usd(model_nano + BUY_NANO))
    );
    assert_eq!(report["tool_calls"], 1);
    let total: u64 = after.values().map(|row| row.1).sum();
    assert_eq!(
        setup.counted().await,
        total,
        "nothing lost or counted twice"
    );
}

#[tokio::test]
async fn a_streamed_loop_at_its_limit_ends_with_response_failed() {
    let setup = Setup::with_config("usd_total = 10.0", "").await;
    let mut request = buy_request(Some(json!({"max_cost_usd": 0.25})));
    request["stream"] = json!(true);
    let response = setup.post("/v1/responses", &request).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("the stream reads");
    let events: Vec<Value> = body
        .split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).expect("JSON data"))
        .collect();
    let last = events.last().expect("events");
    assert_eq!(last["type"], "response.failed", "{body}");
    assert_eq!(
        last["response"]["error"]["code"], "tool_loop_limit",
        "{last}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "response.mcp_call.completed"),
        "{body}"
    );
    let spend = setup.spend().await;
    let total: u64 = spend.values().map(|row| row.1).sum();
    assert_eq!(spend["mcp:shop/buy"], (1, BUY_NANO));
    assert_eq!(
        last["response"]["tool_loop"]["cost_usd"].as_f64(),
        Some(usd(total)),
        "{last}"
    );
    assert_eq!(setup.counted().await, total);
}

#[tokio::test]
async fn a_bad_limit_is_refused_with_its_field_named() {
    let setup = Setup::with_config("", "").await;
    let bad = buy_request(Some(json!({"max_cost_usd": -1})));
    let response = setup.post("/v1/responses", &bad).await;
    assert_eq!(response.status(), 400);
    let body = response.json_body().await;
    assert_eq!(body["error"]["param"], "tool_loop.max_cost_usd", "{body}");
    // Without an `mcp` tool there is no loop to limit.
    let mut alone = bad;
    alone["tool_loop"] = json!({"max_cost_usd": 0.1});
    alone.as_object_mut().unwrap().remove("tools");
    let response = setup.post("/v1/responses", &alone).await;
    assert_eq!(response.status(), 400);
    let body = response.json_body().await;
    assert_eq!(body["error"]["param"], "tool_loop", "{body}");
    assert!(setup.spend().await.is_empty(), "nothing was spent");

    let text = "[tool_loop]\nmax_iterations = 0\nmax_wall_time = \"forever\"\n";
    let errors = switchboard::config::load_str("bad.toml", text, None, std::path::Path::new("."))
        .expect_err("the config is refused");
    let listed = format!("{errors:?}");
    assert!(
        listed.contains("tool_loop.max_iterations") && listed.contains("tool_loop.max_wall_time"),
        "{listed}"
    );
}

/// `[tool_loop]` is read when a loop starts: a reload of the real binary
/// changes the next loop's limit, and a bad value is refused with its field
/// named, the limit in force kept.
#[tokio::test]
async fn a_reload_changes_the_next_loops_limit() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions::default())
        .await
        .expect("mock upstream starts");
    let shop = shop().await;
    let dir = ConfigDir::new();
    let path = dir.write("gateway.toml", &shop_config("", ":memory:", &shop.url, ""));
    let anthropic = format!("http://{}", upstream.addr);
    let gateway = GatewayProcess::start_with_env(
        &path,
        &upstream.base_url(),
        &[
            ("ANTHROPIC_BASE_URL", anthropic.as_str()),
            ("ANTHROPIC_API_KEY", UPSTREAM_KEY),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let respond = || async {
        let response = client
            .post(gateway.url("/v1/responses"))
            .bearer_auth(ALPHA_KEY)
            .body(buy_request(None).to_string())
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200);
        response.json_body().await
    };
    // The server's tools are listed once the gateway has connected to it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut first = respond().await;
    while first["output"][0]["tools"] == json!([]) {
        assert!(std::time::Instant::now() < deadline, "no tools: {first}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        first = respond().await;
    }
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(kinds(&first), ["mcp_list_tools", "mcp_call", "message"]);

    let limited = shop_config(
        "",
        ":memory:",
        &shop.url,
        "[tool_loop]\nmax_cost_usd = 0.000001",
    );
    let applied = "switchboard_config_reloads_applied_total";
    reload_with(&client, &gateway, &path, &limited, applied, 1).await;
    let stopped = respond().await;
    assert_eq!(stopped["status"], "failed", "{stopped}");
    assert_eq!(stopped["error"]["code"], "tool_loop_limit");

    let bad = shop_config("", ":memory:", &shop.url, "[tool_loop]\nmax_iterations = 0");
    let refused = "switchboard_config_reloads_refused_total";
    reload_with(&client, &gateway, &path, &bad, refused, 1).await;
    gateway.wait_for_log("tool_loop.max_iterations").await;
    let still = respond().await;
    assert_eq!(still["error"]["code"], "tool_loop_limit", "{still}");
}
