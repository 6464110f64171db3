//! What the sequential-call benches share: how many calls to make, a
//! gateway in this process with one team and one MCP server whose tools
//! are listed, and the latency table they print.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The bench team's key.
pub const KEY: &str = "sk-bench-mcp";

/// Calls to measure: `$variable`, 2,000 by default.
pub fn calls(variable: &str) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A gateway with the team `bench` (key `KEY`) and one `[[mcp.servers]]`
/// entry (`server`: its fields), once that server's tools are listed.
pub async fn gateway_with_mcp_server(server: &str) -> switchboard::server::RunningServer {
    gateway_with("", server, &|name| std::env::var(name).ok()).await
}

/// The same, with more of the config (`extra`, whole tables) and the
/// environment the gateway reads provider settings from.
pub async fn gateway_with(
    extra: &str,
    server: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> switchboard::server::RunningServer {
    switchboard::install_crypto_provider();
    let hash = hex::encode(switchboard::auth::hash_key(KEY));
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[teams]]\nid = \"bench\"\n\
         [[keys]]\nid = \"bench\"\nteam = \"bench\"\nhash = \"sha256:{hash}\"\n{extra}\
         [[mcp.servers]]\n{server}\n[[mcp.teams]]\nteam = \"bench\"\n"
    );
    let config =
        switchboard::config::load_str("bench.toml", &text, None, std::path::Path::new("."))
            .expect("bench config");
    let gateway = switchboard::gateway::Gateway::build_with_env(config, env).expect("gateway");
    let server = switchboard::server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("gateway binds");
    while server.gateway.mcp.catalog().entries.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

/// Print `rows` (name, histogram in µs) as a markdown table under `title`.
pub fn print_table(title: &str, rows: &[(&str, &Histogram<u64>)]) {
    println!("{title}");
    println!("| path | p50 | p90 | p99 |\n| --- | --- | --- | --- |");
    for (name, h) in rows {
        println!(
            "| {name} | {} | {} | {} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99)
        );
    }
    if let [(_, first), (_, second)] = rows {
        let added = second.value_at_quantile(0.5) as i64 - first.value_at_quantile(0.5) as i64;
        println!("added at p50: {added} µs");
    }
}
