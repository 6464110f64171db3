//! A real MCP server (rmcp over streamable HTTP, port 0) whose tool list a
//! test can change, and an MCP client of the gateway.

use parking_lot::Mutex;
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
use rmcp::{ErrorData, Peer, RoleClient, RoleServer, ServerHandler, ServiceError, ServiceExt};
use std::sync::Arc;
use std::time::Duration;

pub fn tool(name: &str, description: &str) -> Tool {
    let schema: JsonObject =
        serde_json::from_value(serde_json::json!({"type": "object"})).expect("object");
    Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema))
}

#[derive(Clone)]
struct Fixture {
    name: Arc<str>,
    tools: Arc<Mutex<Vec<Tool>>>,
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.peers.lock().push(ctx.peer.clone());
        Ok(ListToolsResult::with_all_items(self.tools.lock().clone()))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Answers which server and tool ran, with what arguments, and the
        // trace context the call carried in `_meta` and in its HTTP header.
        let header = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("traceparent"))
            .and_then(|value| value.to_str().ok());
        let text = serde_json::json!({
            "server": &*self.name,
            "tool": params.name,
            "arguments": params.arguments,
            "traceparent": ctx.meta.0.0.get("traceparent"),
            "traceparent_header": header,
        });
        Ok(CallToolResult::success(vec![ContentBlock::text(text.to_string())]).into())
    }
}

pub struct FixtureServer {
    pub url: String,
    tools: Arc<Mutex<Vec<Tool>>>,
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FixtureServer {
    pub async fn start(name: &str, tools: Vec<Tool>) -> Self {
        let tools = Arc::new(Mutex::new(tools));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let fixture = Fixture {
            name: Arc::from(name),
            tools: tools.clone(),
            peers: peers.clone(),
        };
        let service = StreamableHttpService::new(
            move || Ok(fixture.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let app = axum::Router::new().route_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            tools,
            peers,
            task,
        }
    }

    /// Replace the tool list and tell connected clients it changed.
    pub async fn set_tools(&self, tools: Vec<Tool>) {
        *self.tools.lock() = tools;
        let peers: Vec<_> = self.peers.lock().clone();
        for peer in peers {
            let _ = peer.notify_tool_list_changed().await;
        }
    }
}

pub type GatewayClient = RunningService<RoleClient, ()>;

/// An MCP client of the gateway's `path` with a gateway key.
pub async fn connect(base: &str, path: &str, key: &str) -> GatewayClient {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(format!("{base}{path}")).auth_header(key),
    );
    ().serve(transport)
        .await
        .expect("client connects to the gateway")
}

pub async fn tool_names(client: &GatewayClient) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    names.sort();
    names
}

/// Poll `tools/list` until `done` holds (upstreams connect in the background).
pub async fn wait_for_tools(
    client: &GatewayClient,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    for _ in 0..200 {
        let names = tool_names(client).await;
        if done(&names) {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names = tool_names(client).await;
    panic!("tools never reached the expected state: {names:?}");
}

pub async fn call(
    client: &GatewayClient,
    name: &str,
    arguments: serde_json::Value,
) -> Result<CallToolResult, ErrorData> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = arguments.as_object().cloned();
    match client.call_tool(params).await {
        Ok(result) => Ok(result),
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("transport failure calling {name}: {other}"),
    }
}

pub fn text(result: &CallToolResult) -> serde_json::Value {
    let text = &result.content[0].as_text().expect("text content").text;
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone()))
}

/// A client that counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
pub struct Listener {
    pub changed: Arc<std::sync::atomic::AtomicUsize>,
}

impl rmcp::ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: rmcp::service::NotificationContext<RoleClient>) {
        self.changed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub async fn connect_listening(
    base: &str,
    key: &str,
) -> (RunningService<RoleClient, Listener>, Listener) {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(key),
    );
    let listener = Listener::default();
    let client = listener
        .clone()
        .serve(transport)
        .await
        .expect("client connects to the gateway");
    (client, listener)
}
