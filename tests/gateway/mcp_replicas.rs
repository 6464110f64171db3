//! A legacy MCP session opened on one gateway continues on another that
//! shares the Redis session store (127.0.0.1:6379, started by scripts/test).

use crate::harness::{ALPHA_KEY, Harness};
use crate::mcp_fixture::{FixtureServer, tool};
use switchboard_mock_upstream::MockOptions;

const ACCEPT: &str = "application/json, text/event-stream";

async fn gateway(fixture: &str, store: bool) -> Harness {
    let store = if store {
        "[mcp]\nsession_store = \"redis://127.0.0.1:6379\"\n"
    } else {
        ""
    };
    let extra = format!(
        "{store}[[mcp.servers]]\nname = \"fx\"\nurl = \"{fixture}\"\n[[mcp.teams]]\nteam = \"alpha\"\n"
    );
    Harness::with(MockOptions::default(), &extra).await
}

async fn post(
    harness: &Harness,
    session: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut request = harness
        .client
        .post(harness.url("/mcp"))
        .bearer_auth(ALPHA_KEY)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request.send().await.expect("gateway answers")
}

/// The JSON-RPC response in an SSE or JSON body.
async fn message(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .chain(std::iter::once(text.as_str()))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data.trim()).ok())
        .find(|value| value.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {text:?}"))
}

async fn open_session(harness: &Harness) -> String {
    let response = post(
        harness,
        None,
        serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "replica-test", "version": "1"}
            }
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = message(response).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let done = post(
        harness,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(done.status(), 202);
    session
}

async fn list_tools(harness: &Harness, session: &str) -> reqwest::Response {
    post(
        harness,
        Some(session),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await
}

async fn wait_until_up(harness: &Harness) {
    let hub = &harness.gateway.gateway.mcp;
    for _ in 0..200 {
        if !hub.catalog().entries.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("upstream never came up");
}

#[tokio::test]
async fn a_second_gateway_continues_a_legacy_session() {
    let fx = FixtureServer::start("fx", vec![tool("echo", "echo")]).await;
    let first = gateway(&fx.url, true).await;
    let second = gateway(&fx.url, true).await;
    wait_until_up(&second).await;
    let session = open_session(&first).await;

    let response = list_tools(&second, &session).await;
    assert_eq!(response.status(), 200);
    let listed = message(response).await;
    assert_eq!(listed["result"]["tools"][0]["name"], "fx__echo", "{listed}");

    // Without the shared store the other process does not know the session.
    let isolated = gateway(&fx.url, false).await;
    assert_eq!(list_tools(&isolated, &session).await.status(), 404);
}

/// A gateway whose quota store (and so its MCP rate limits) is Redis under `prefix`.
async fn limited_gateway(fixture: &str, prefix: &str) -> Harness {
    let limit = "[[mcp.teams.rate_limits]]\ntools = \"fx/*\"\ncalls = 3\nper = \"1h\"\n";
    let extra = format!(
        "store = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nredis_prefix = \"{prefix}\"\n\
         [[mcp.servers]]\nname = \"fx\"\nurl = \"{fixture}\"\n\
         [[mcp.teams]]\nteam = \"alpha\"\n{limit}\
         [[mcp.teams]]\nteam = \"beta\"\n{limit}"
    );
    Harness::with(MockOptions::default(), &extra).await
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_per_tool_rate_limits() {
    use crate::harness::BETA_KEY;
    use crate::mcp_fixture::{call, connect};
    let fx = FixtureServer::start("fx", vec![tool("a", "a"), tool("b", "b")]).await;
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let first = limited_gateway(&fx.url, &prefix).await;
    let second = limited_gateway(&fx.url, &prefix).await;
    wait_until_up(&first).await;
    wait_until_up(&second).await;
    let on_first = connect(&format!("http://{}", first.gateway.addr), "/mcp", ALPHA_KEY).await;
    let on_second = connect(
        &format!("http://{}", second.gateway.addr),
        "/mcp",
        ALPHA_KEY,
    )
    .await;
    let args = serde_json::json!({});

    // Three calls allowed per hour, wherever they land.
    call(&on_first, "fx__a", args.clone()).await.expect("1st");
    call(&on_second, "fx__a", args.clone()).await.expect("2nd");
    call(&on_first, "fx__a", args.clone()).await.expect("3rd");
    for client in [&on_second, &on_first] {
        let refused = call(client, "fx__a", args.clone()).await.unwrap_err();
        assert_eq!(refused.code.0, -32041, "{}", refused.message);
        let retry_ms = refused.data.as_ref().unwrap()["retry_after_ms"]
            .as_u64()
            .unwrap();
        // One call's worth (20 minutes) refills first.
        assert!((1_190_000..=1_200_000).contains(&retry_ms), "{retry_ms}");
    }

    // Another tool, and another team, have their own allowances.
    call(&on_second, "fx__b", args.clone())
        .await
        .expect("other tool");
    let beta = connect(&format!("http://{}", second.gateway.addr), "/mcp", BETA_KEY).await;
    call(&beta, "fx__a", args.clone())
        .await
        .expect("other team");

    // A gateway on its own store counts on its own.
    let elsewhere = limited_gateway(&fx.url, &format!("sbtest:{}", uuid::Uuid::new_v4())).await;
    wait_until_up(&elsewhere).await;
    let on_elsewhere = connect(
        &format!("http://{}", elsewhere.gateway.addr),
        "/mcp",
        ALPHA_KEY,
    )
    .await;
    call(&on_elsewhere, "fx__a", args)
        .await
        .expect("separate store");
    assert_eq!(first.gateway.gateway.quota.store_errors.get(), 0);
}
