//! Tool arguments and results pass the gateway's guardrails on the way
//! through `/mcp`.

use crate::harness::{ALPHA_KEY, config};
use crate::mcp_fixture::{FixtureServer, call, connect, text, tool, wait_for_tools};
use switchboard::gateway::Gateway;
use switchboard::server;

#[tokio::test]
async fn tool_arguments_and_results_pass_the_guardrails() {
    switchboard::install_crypto_provider();
    let fx = FixtureServer::start("fx", vec![tool("echo", "echo")]).await;
    // The shipped packs, bound to every tool of team alpha: personal data is
    // redacted from arguments, secrets block arguments, and an
    // IP address in a result withholds it.
    let extra = format!(
        r#"[[mcp.servers]]
name = "fx"
url = "{}"
[[mcp.teams]]
team = "alpha"

[[guardrails.bindings]]
team = "alpha"
models = ["mcp/*"]
packs = ["pii"]
action = "redact"
disable = ["pii.ipv4"]
phases = ["tool_arguments"]

[[guardrails.bindings]]
team = "alpha"
models = ["mcp/*"]
packs = ["secrets"]
action = "block"
phases = ["tool_arguments"]

[[guardrails.bindings]]
team = "alpha"
models = ["mcp/*"]
packs = ["pii"]
action = "block"
disable = ["pii.email", "pii.phone", "pii.card", "pii.iban", "pii.us-ssn", "pii.ipv6", "pii.address"]
phases = ["tool_result"]
"#,
        fx.url
    );
    let gateway = Gateway::build_with_env(config(&extra), &|_| None).expect("builds");
    let running = server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds");
    let client = connect(&format!("http://{}", running.addr), "/mcp", ALPHA_KEY).await;
    wait_for_tools(&client, |n| n.len() == 1).await;

    // The upstream receives (and echoes) the redacted arguments.
    let result = call(
        &client,
        "fx__echo",
        serde_json::json!({"contact": "mail jane.doe@northwind-traders.com please"}),
    )
    .await
    .expect("allowed");
    assert_eq!(
        text(&result)["arguments"]["contact"],
        "mail [EMAIL_1] please",
        "the upstream saw only the redacted arguments"
    );

    let withheld = call(
        &client,
        "fx__echo",
        serde_json::json!({"host": "the box at 84.17.52.139"}),
    )
    .await
    .unwrap_err();
    assert_eq!(withheld.code.0, -32043);
    assert!(
        withheld.message.contains("result") && withheld.message.contains("pii.ipv4"),
        "{}",
        withheld.message
    );

    let blocked = call(
        &client,
        "fx__echo",
        serde_json::json!({"token": "ghp_R7n2Kq9Lw4Xz8Vb3Mt6Yc1Hd5Fj0Gs2Pa4Ue"}),
    )
    .await
    .unwrap_err();
    assert_eq!(blocked.code.0, -32043);
    assert!(
        blocked.message.contains("secrets.github"),
        "{}",
        blocked.message
    );
    let metrics = running.gateway.metrics.render();
    assert!(
        metrics.contains("outcome=\"guardrail_blocked\"} 2"),
        "{metrics}"
    );
}
