//! Prices per tool call (`[[mcp.servers]] tool_prices`): charged to the
//! calling team's budget on `/mcp` and in the Responses API's tool loop,
//! held atomically under concurrency, kept across a restart, and a budget
//! that runs out ends the loop with everything spent settled.

use crate::harness::{ALPHA_KEY, JsonBody, gateway_at_anthropic_mock, get_text};
use crate::mcp_fixture::{FixtureServer, call, connect, tool, wait_for_tools};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::auth::hash_key;
use switchboard::quota::ledger::{GroupBy, SpendFilter};
use switchboard::server::RunningServer;
use switchboard_mock_upstream::{self as mock_upstream, MockOptions, MockUpstream};

pub(crate) const MODEL: &str = "anthropic/claude-sonnet-5-5";
/// `buy`'s price: $0.25 a call.
pub(crate) const BUY_NANO: u64 = 250_000_000;

pub(crate) struct Setup {
    _upstream: MockUpstream,
    _shop: FixtureServer,
    pub(crate) gateway: RunningServer,
    pub(crate) client: reqwest::Client,
}

impl Setup {
    /// A gateway whose team `alpha` has `limits` (TOML lines of
    /// `[teams.limits]`), in front of the Anthropic wire's mock (which calls
    /// the first tool it is offered, and answers once it read a result) and
    /// a tool server `shop` whose `buy` costs $0.25, `look` $0.01 (`*`) and
    /// `free` nothing.
    async fn start(limits: &str) -> Self {
        Self::start_with(limits, ":memory:").await
    }

    /// `start`, with the ledger at `ledger`.
    async fn start_with(limits: &str, ledger: &str) -> Self {
        Self::build(limits, ledger, "").await
    }

    /// `start`, with more of the config (whole tables) after the rest.
    pub(crate) async fn with_config(limits: &str, extra: &str) -> Self {
        Self::build(limits, ":memory:", extra).await
    }

    async fn build(limits: &str, ledger: &str, extra: &str) -> Self {
        switchboard::install_crypto_provider();
        let upstream = mock_upstream::spawn(MockOptions::default())
            .await
            .expect("mock upstream starts");
        let shop = shop().await;
        let text = shop_config(limits, ledger, &shop.url, extra);
        let gateway = gateway_at_anthropic_mock(&text, upstream.addr).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let setup = Self {
            _upstream: upstream,
            _shop: shop,
            gateway,
            client,
        };
        let mcp = connect(&setup.base(), "/mcp", ALPHA_KEY).await;
        wait_for_tools(&mcp, |names| names.len() == 3).await;
        setup
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.gateway.addr)
    }

    /// Settled spend of team `alpha` by ledger item (model or tool):
    /// (requests, nano-USD).
    pub(crate) async fn spend(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        let rows = self
            .gateway
            .gateway
            .quota
            .spend(GroupBy::Model, SpendFilter::default())
            .await
            .expect("the ledger answers");
        rows.into_iter()
            .map(|row| (row.group, (row.requests, row.cost_nano)))
            .collect()
    }

    /// What team `alpha`'s budget counters hold (settled and held).
    pub(crate) async fn counted(&self) -> u64 {
        let gateway = &self.gateway.gateway;
        let book = gateway.quota.book();
        let limits = &book.teams["alpha"].limits;
        let used = gateway.quota.usage_of("t:alpha", limits).await;
        used.first().expect("a budget").2.0
    }

    /// A POST of `body` to `path` as team `alpha`.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base()))
            .bearer_auth(ALPHA_KEY)
            .body(body.to_string())
            .send()
            .await
            .expect("the gateway answers")
    }

    pub(crate) async fn respond(&self, body: Value) -> Value {
        let response = self.post("/v1/responses", &body).await;
        let status = response.status();
        let body = response.json_body().await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The config of a gateway whose team `alpha` has `limits` (TOML lines of
/// `[teams.limits]`) and the priced tool server `shop` at `url`, with
/// `extra` (whole tables) after the rest.
pub(crate) fn shop_config(limits: &str, ledger: &str, url: &str, extra: &str) -> String {
    let server = format!(
        "name = \"shop\"\nurl = \"{url}\"\ntool_prices = {{ buy = 0.25, \"*\" = 0.01, free = 0 }}"
    );
    tool_server_config(limits, ledger, &server, extra)
}

/// The config of a gateway in front of the Anthropic wire whose team
/// `alpha` has `limits` and may use the one tool server `server` (the
/// lines of its `[[mcp.servers]]` table).
pub(crate) fn tool_server_config(limits: &str, ledger: &str, server: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
[[teams]]
id = "alpha"
[teams.limits]
{limits}
[[keys]]
id = "alpha-ci"
team = "alpha"
hash = "sha256:{hash}"
[providers.anthropic]
enabled = true
[quota]
ledger = "{ledger}"
[[mcp.servers]]
{server}
[[mcp.teams]]
team = "alpha"
{extra}
"#,
        hash = hex::encode(hash_key(ALPHA_KEY)),
    )
}

/// The tool server `shop`: `buy`, `look` and `free`.
pub(crate) async fn shop() -> FixtureServer {
    FixtureServer::start(
        "shop",
        vec![
            tool("buy", "Buy it"),
            tool("look", "Look at it"),
            tool("free", "Free"),
        ],
    )
    .await
}

pub(crate) fn shop_tool() -> Value {
    json!({"type": "mcp", "server_label": "shop", "server_url": "http://gateway/mcp/shop",
           "require_approval": "never", "allowed_tools": ["buy"]})
}

pub(crate) fn kinds(response: &Value) -> Vec<&str> {
    response["output"]
        .as_array()
        .expect("output")
        .iter()
        .map(|item| item["type"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test]
async fn priced_calls_on_mcp_are_charged_to_the_team() {
    let setup = Setup::start("").await;
    let mcp = connect(&setup.base(), "/mcp", ALPHA_KEY).await;
    for name in ["shop__buy", "shop__buy", "shop__look", "shop__free"] {
        call(&mcp, name, json!({})).await.expect("the call runs");
    }
    let spend = setup.spend().await;
    assert_eq!(spend.get("mcp:shop/buy"), Some(&(2, 2 * BUY_NANO)));
    assert_eq!(spend.get("mcp:shop/look"), Some(&(1, 10_000_000)));
    assert!(!spend.contains_key("mcp:shop/free"), "{spend:?}");
    assert_eq!(
        setup.gateway.gateway.quota.spent("alpha").await.0,
        2 * BUY_NANO + 10_000_000
    );
    let metrics = get_text(&setup.client, &format!("{}/metrics", setup.base())).await;
    let line = metrics
        .lines()
        .find(|line| {
            line.starts_with("switchboard_mcp_tool_cost_usd_total{")
                && line.contains("tool=\"buy\"")
        })
        .unwrap_or_else(|| panic!("no cost series for buy in\n{metrics}"));
    assert!(line.ends_with(" 0.5"), "{line}");
}

#[tokio::test]
async fn a_budget_takes_exactly_the_calls_it_can_pay_for_under_concurrency() {
    let setup = Setup::start("usd_total = 1.0").await;
    let base = setup.base();
    let clients =
        futures::future::join_all((0..10).map(|_| connect(&base, "/mcp", ALPHA_KEY))).await;
    let outcomes = futures::future::join_all(
        clients
            .iter()
            .map(|client| call(client, "shop__buy", json!({}))),
    )
    .await;
    let ran = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(ran, 4, "$1.00 pays for four calls at $0.25");
    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(refused.code.0, -32047, "{refused:?}");
        let data = refused.data.as_ref().expect("the refusal names its limit");
        assert_eq!(data["code"], "insufficient_quota");
        assert_eq!(data["scope"], "team alpha");
        assert!(refused.message.contains("total USD budget"), "{refused:?}");
    }
    assert_eq!(
        setup.spend().await.get("mcp:shop/buy"),
        Some(&(4, 4 * BUY_NANO))
    );
    // Every hold was settled: the counter holds exactly what was spent.
    assert_eq!(setup.counted().await, 4 * BUY_NANO);
}

#[tokio::test]
async fn the_tool_loop_charges_its_calls_and_a_budget_ends_it() {
    // Room for one call at $0.25 and the model calls, not for a second call.
    let setup = Setup::start("usd_total = 0.3").await;
    let request = json!({"model": MODEL, "input": "Buy one.", "tools": [shop_tool()],
                         "max_output_tokens": 200});
    let first = setup.respond(request.clone()).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(kinds(&first), ["mcp_list_tools", "mcp_call", "message"]);
    assert_eq!(first["output"][1]["status"], "completed");
    let spend = setup.spend().await;
    assert_eq!(spend.get("mcp:shop/buy"), Some(&(1, BUY_NANO)));
    assert_eq!(spend.get(MODEL).map(|row| row.0), Some(2), "{spend:?}");

    // The second response's tool call does not fit: the loop ends there.
    let second = setup.respond(request).await;
    assert_eq!(second["status"], "failed", "{second}");
    assert_eq!(second["error"]["code"], "insufficient_quota", "{second}");
    assert!(
        second["error"]["message"]
            .as_str()
            .unwrap()
            .contains("total USD budget"),
        "{second}"
    );
    assert_eq!(kinds(&second), ["mcp_list_tools", "mcp_call"]);
    let refused = &second["output"][1];
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error"]["code"], -32047);
    assert!(second["usage"]["input_tokens"].as_u64().unwrap() > 0);
    // The refused call cost nothing; the model call before it was settled.
    let spend = setup.spend().await;
    assert_eq!(spend.get("mcp:shop/buy"), Some(&(1, BUY_NANO)));
    assert_eq!(spend.get(MODEL).map(|row| row.0), Some(3), "{spend:?}");
    let spent: u64 = spend.values().map(|row| row.1).sum();
    assert_eq!(setup.counted().await, spent, "no hold is left behind");
}

#[tokio::test]
async fn priced_spend_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let ledger = ledger.to_str().unwrap();
    {
        let setup = Setup::start_with("usd_total = 0.3", ledger).await;
        let mcp = connect(&setup.base(), "/mcp", ALPHA_KEY).await;
        call(&mcp, "shop__buy", json!({}))
            .await
            .expect("the call runs");
        setup.gateway.gateway.quota.close_ledger().await;
    }
    // A new gateway on the same ledger: the $0.25 spent is still counted,
    // so a second call does not fit in $0.30.
    let setup = Setup::start_with("usd_total = 0.3", ledger).await;
    assert_eq!(setup.counted().await, BUY_NANO);
    let mcp = connect(&setup.base(), "/mcp", ALPHA_KEY).await;
    let refused = call(&mcp, "shop__buy", json!({}))
        .await
        .expect_err("the budget is spent");
    assert_eq!(refused.code.0, -32047, "{refused:?}");
    assert_eq!(
        setup.spend().await.get("mcp:shop/buy"),
        Some(&(1, BUY_NANO))
    );
}
