//! The streamed tool loop sends each step as it happens: a tool server
//! whose call waits for the test to let it finish shows that the client
//! hears the `mcp_call` (and the tools listed before it) while the call is
//! still at the server, before the model has written a word of its answer.
//! A request refused before the loop's first model call is an HTTP error,
//! not a stream.

use crate::harness::{ALPHA_KEY, gateway_at_anthropic_mock};
use crate::mcp_fixture::{connect, tool, wait_for_tools};
use futures::StreamExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchboard::server::RunningServer;
use switchboard_mock_upstream::{self as mock_upstream, MockOptions, MockUpstream};
use tokio::sync::Semaphore;

/// A tool server whose one tool, `hold`, answers only when the test adds a
/// permit to `gate`; `entered` gets one when a call arrives.
#[derive(Clone)]
struct Gated {
    gate: Arc<Semaphore>,
    entered: Arc<Semaphore>,
}

impl ServerHandler for Gated {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![tool(
            "hold",
            "Answers when let go",
        )]))
    }

    async fn call_tool(
        &self,
        _params: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.entered.add_permits(1);
        let permit = self.gate.acquire().await.expect("the gate stays open");
        permit.forget();
        Ok(CallToolResult::success(vec![ContentBlock::text("let go")]).into())
    }
}

struct Setup {
    _upstream: MockUpstream,
    _tool_server: tokio::task::JoinHandle<()>,
    gateway: RunningServer,
    gated: Gated,
}

impl Setup {
    async fn start() -> Self {
        switchboard::install_crypto_provider();
        let upstream = mock_upstream::spawn(MockOptions::default())
            .await
            .expect("mock upstream starts");
        let gated = Gated {
            gate: Arc::new(Semaphore::new(0)),
            entered: Arc::new(Semaphore::new(0)),
        };
        let handler = gated.clone();
        let service = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let app = axum::Router::new().route_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let tool_server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = format!("name = \"gate\"\nurl = \"{url}\"");
        let text = crate::tool_prices::tool_server_config("", ":memory:", &server, "");
        let gateway = gateway_at_anthropic_mock(&text, upstream.addr).await;
        let mcp = connect(&format!("http://{}", gateway.addr), "/mcp", ALPHA_KEY).await;
        wait_for_tools(&mcp, |names| names == ["gate__hold"]).await;
        Self {
            _upstream: upstream,
            _tool_server: tool_server,
            gateway,
            gated,
        }
    }

    async fn post(&self, model: &str) -> reqwest::Response {
        let body = json!({"model": model, "input": "Hold on.", "stream": true,
            "tools": [{"type": "mcp", "server_label": "gate", "server_url": "http://gateway/mcp/gate",
                       "require_approval": "never"}]});
        reqwest::Client::new()
            .post(format!("http://{}/v1/responses", self.gateway.addr))
            .bearer_auth(ALPHA_KEY)
            .body(body.to_string())
            .send()
            .await
            .expect("the gateway answers")
    }
}

/// Reads a streamed body event by event.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    seen: Vec<Value>,
}

impl Events {
    fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            seen: Vec::new(),
        }
    }

    /// The next event's data; `None` at the end of the body. Fails after
    /// a deadline: a stream that holds its events back never gets there.
    async fn next(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data = event
                    .lines()
                    .find_map(|line| line.strip_prefix("data: "))
                    .expect("an event with data");
                let value: Value = serde_json::from_str(data).expect("JSON data");
                self.seen.push(value.clone());
                return Some(value);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no event in time; so far: {:#?}", self.seen))?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.expect("the body reads")).unwrap());
        }
    }

    /// Read until an event of `kind`; the events read on the way.
    async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut read = Vec::new();
        while let Some(event) = self.next().await {
            let found = event["type"] == kind;
            read.push(event);
            if found {
                return read;
            }
        }
        panic!("the stream ended without `{kind}`: {:#?}", self.seen);
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test]
async fn the_mcp_call_streams_while_the_tool_runs_and_before_the_answer() {
    let setup = Setup::start().await;
    let response = setup.post("anthropic/claude-sonnet-5-5").await;
    assert_eq!(response.status(), 200);
    let mut events = Events::new(response);

    // The call is at the server, which will not answer until let go: the
    // client already has the listing and the call.
    let before = events.until("response.mcp_call.in_progress").await;
    let entered = tokio::time::timeout(Duration::from_secs(20), setup.gated.entered.acquire())
        .await
        .expect("the call reaches the server")
        .expect("open");
    entered.forget();
    assert_eq!(
        kinds(&before),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.mcp_list_tools.in_progress",
            "response.mcp_list_tools.completed",
            "response.output_item.done",
            "response.output_item.added",
            "response.mcp_call.in_progress",
        ]
    );
    let listed = &before[5]["item"];
    assert_eq!(listed["type"], "mcp_list_tools");
    assert_eq!(listed["tools"][0]["name"], "hold");
    let call = &before[6]["item"];
    assert_eq!(
        (&call["type"], &call["name"], &call["status"]),
        (&json!("mcp_call"), &json!("hold"), &json!("in_progress"))
    );
    assert_eq!(before[7]["item_id"], call["id"]);
    assert_eq!(before[7]["output_index"], 1);

    // Let it go: the call completes, then the model's answer streams.
    setup.gated.gate.add_permits(1);
    let after = events.until("response.completed").await;
    let kinds_after = kinds(&after);
    let completed = kinds_after
        .iter()
        .position(|k| *k == "response.mcp_call.completed")
        .expect("the call completes");
    let first_text = kinds_after
        .iter()
        .position(|k| *k == "response.output_text.delta")
        .expect("the answer streams");
    assert!(completed < first_text, "{kinds_after:?}");
    let done = &after[completed + 1];
    assert_eq!(done["type"], "response.output_item.done");
    assert_eq!(done["item"]["output"], "let go");
    assert_eq!(done["item"]["status"], "completed");
    assert!(
        events.next().await.is_none(),
        "the last event ends the stream"
    );

    // One sequence, and the final response holds what was streamed.
    let numbers: Vec<u64> = events
        .seen
        .iter()
        .map(|event| event["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    let response = &after.last().unwrap()["response"];
    let items: Vec<&str> = response["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["mcp_list_tools", "mcp_call", "message"]);
    let text: String = after
        .iter()
        .filter(|event| event["type"] == "response.output_text.delta")
        .map(|event| event["delta"].as_str().unwrap())
        .collect();
    assert_eq!(response["output"][2]["content"][0]["text"], text.as_str());
    assert_eq!(response["output"][1]["id"], call["id"]);
    assert!(response["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_refusal_before_the_first_model_call_is_an_http_error() {
    let setup = Setup::start().await;
    // The model is refused by the first model call's stages, after the
    // tools were listed: still an HTTP error.
    let response = setup.post("no-such-model").await;
    assert_eq!(response.status(), 404);
    let kind = response.headers().get("content-type").cloned();
    assert_ne!(
        kind.as_ref().and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    assert_eq!(setup.gated.entered.available_permits(), 0, "no tool ran");
}
