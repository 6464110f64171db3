//! What a `tools/call` through the gateway's `/mcp` costs over calling the
//! same streamable HTTP upstream directly. Upstream (an rmcp server), gateway
//! and clients run in this process; both clients are rmcp clients on legacy
//! sessions, so the only difference is the gateway hop.
//!
//! `cargo bench --bench mcp_call` (env: MCP_CALLS, default 2000).

#[path = "support/echo_tool.rs"]
mod echo_tool;
#[path = "support/latency.rs"]
mod latency;

use hdrhistogram::Histogram;
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::RunningService;
use std::time::Instant;

use latency::KEY;

async fn measure(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    calls: usize,
) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let arguments: JsonObject = serde_json::from_str(r#"{"text":"hello","n":42}"#).expect("object");
    for i in 0..calls + calls / 10 {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = Some(arguments.clone());
        let started = Instant::now();
        client.call_tool(params).await.expect("call");
        // The first tenth warms connections and caches up.
        if i >= calls / 10 {
            histogram
                .record(started.elapsed().as_micros() as u64)
                .unwrap();
        }
    }
    histogram
}

fn main() {
    let calls = latency::calls("MCP_CALLS");
    latency::runtime().block_on(async {
        let url = echo_tool::serve().await;
        let server =
            latency::gateway_with_mcp_server(&format!("name = \"echo\"\nurl = \"{url}\"")).await;
        let direct = echo_tool::client(&url, None).await;
        let through = echo_tool::client(&format!("http://{}/mcp", server.addr), Some(KEY)).await;
        let direct = measure(&direct, "echo", calls).await;
        let through = measure(&through, "echo__echo", calls).await;
        latency::print_table(
            &format!("tools/call, {calls} sequential calls, µs"),
            &[
                ("direct to upstream", &direct),
                ("through the gateway", &through),
            ],
        );
    });
}
