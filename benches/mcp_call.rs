//! What a `tools/call` through the gateway's `/mcp` costs over calling the
//! same streamable HTTP upstream directly. Upstream (an rmcp server), gateway
//! and clients run in this process; both clients are rmcp clients on legacy
//! sessions, so the only difference is the gateway hop.
//!
//! `cargo bench --bench mcp_call` (env: MCP_CALLS, default 2000).

#[path = "support/latency.rs"]
mod latency;

use hdrhistogram::Histogram;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{
    StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};
use std::sync::Arc;
use std::time::Instant;

use latency::KEY;

#[derive(Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema: JsonObject = serde_json::from_str(r#"{"type":"object"}"#).expect("object");
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "Echoes its arguments.",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let text = serde_json::to_string(&params.arguments).unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

async fn upstream() -> String {
    let service = StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn client(url: &str, key: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(key) = key {
        config = config.auth_header(key);
    }
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    ().serve(transport).await.expect("client connects")
}

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
        let url = upstream().await;
        let server =
            latency::gateway_with_mcp_server(&format!("name = \"echo\"\nurl = \"{url}\"")).await;
        let direct = client(&url, None).await;
        let through = client(&format!("http://{}/mcp", server.addr), Some(KEY)).await;
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
