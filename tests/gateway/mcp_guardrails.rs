//! Tool arguments and results pass the gateway's guardrails on the way
//! through `/mcp`.

use crate::harness::{ALPHA_KEY, config};
use crate::mcp_fixture::{FixtureServer, call, connect, text, tool, wait_for_tools};
use std::sync::Arc;
use switchboard::gateway::Gateway;
use switchboard::seams::guardrail::{Guardrail, KeywordGuardrail, Phase, Verdict};
use switchboard::server;

/// Redacts a fake secret from arguments only.
struct Secrets;

impl Guardrail for Secrets {
    fn check(&self, phase: Phase, text: &str) -> Verdict {
        if phase == Phase::ToolArguments && text.contains("sk-live-123") {
            Verdict::Redact {
                rule: "secrets.key".into(),
                text: text.replace("sk-live-123", "[REDACTED]"),
            }
        } else {
            Verdict::Allow
        }
    }
}

/// Rewrites results only, so the test sees that results pass too.
struct Results;

impl Guardrail for Results {
    fn check(&self, phase: Phase, text: &str) -> Verdict {
        if phase == Phase::ToolResult && text.contains("\"echo\"") {
            Verdict::Redact {
                rule: "results.mark".into(),
                text: text.replace("\"echo\"", "\"ECHO\""),
            }
        } else {
            Verdict::Allow
        }
    }
}

#[tokio::test]
async fn tool_arguments_and_results_pass_the_guardrails() {
    switchboard::install_crypto_provider();
    let fx = FixtureServer::start("fx", vec![tool("echo", "echo")]).await;
    let extra = format!(
        "[[mcp.servers]]\nname = \"fx\"\nurl = \"{}\"\n[[mcp.teams]]\nteam = \"alpha\"\n",
        fx.url
    );
    let mut gateway = Gateway::build_with_env(config(&extra), &|_| None).expect("builds");
    let guards = &mut Arc::get_mut(&mut gateway)
        .expect("not shared yet")
        .guardrails;
    guards.push(Arc::new(Secrets));
    guards.push(Arc::new(Results));
    guards.push(Arc::new(KeywordGuardrail::new(
        "deny.drop",
        &[Phase::ToolArguments],
        &["drop table"],
    )));
    let running = server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds");
    let client = connect(&format!("http://{}", running.addr), "/mcp", ALPHA_KEY).await;
    wait_for_tools(&client, |n| n.len() == 1).await;

    // The upstream receives (and echoes) the redacted arguments.
    let result = call(
        &client,
        "fx__echo",
        serde_json::json!({"key": "sk-live-123"}),
    )
    .await
    .expect("allowed");
    assert_eq!(text(&result)["arguments"]["key"], "[REDACTED]");
    assert_eq!(
        text(&result)["tool"],
        "ECHO",
        "the result passed the result guardrail"
    );

    let blocked = call(
        &client,
        "fx__echo",
        serde_json::json!({"sql": "DROP TABLE users"}),
    )
    .await
    .unwrap_err();
    assert_eq!(blocked.code.0, -32043);
    assert!(blocked.message.contains("deny.drop"), "{}", blocked.message);
    let metrics = running.gateway.metrics.render();
    assert!(
        metrics.contains("outcome=\"guardrail_blocked\"} 1"),
        "{metrics}"
    );
}
