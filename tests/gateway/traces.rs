//! OpenTelemetry traces against a real OTLP receiver built on the protocol's
//! own definitions (`opentelemetry-proto`), over HTTP/protobuf and gRPC: the
//! request's span continues the client's `traceparent`; stages and upstream
//! attempts are its children with the GenAI conventions' attributes; the
//! provider receives the attempt's `traceparent`; a fallback shows both
//! attempts; a stream's span ends with its usage; an MCP tool call has its
//! span, whose context reaches the MCP server in `_meta` and, over HTTP, in
//! the `traceparent` header.

use super::harness::{ALPHA_KEY, Harness, gateway_in_front_of};
use super::mcp_fixture::{FixtureServer, call, text, tool, wait_for_tools};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use parking_lot::Mutex;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_mock_upstream::MockOptions;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// Every span a receiver was sent.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn take(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock();
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }

    /// The spans once `done` holds for them, within a deadline.
    async fn until(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let spans = self.0.lock().clone();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "the expected spans never came: {:#?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/HTTP receiver; returns its traces URL.
async fn http_receiver(received: Received) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: bytes::Bytes| {
            let received = received.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                received.take(request);
                ExportTraceServiceResponse::default().encode_to_vec()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// An OTLP/gRPC receiver; returns its address.
async fn grpc_receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(received))
            .serve_with_incoming(incoming)
            .await;
    });
    url
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text_of<'a>(span: &'a Span, key: &str) -> &'a str {
    match attribute(span, key) {
        Some(Any::StringValue(text)) => text,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn int_of(span: &Span, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Any::IntValue(n)) => *n,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

/// A chat request for `model` to the gateway at `base`, with the client's
/// `traceparent` when given.
async fn ask(base: &str, model: &str, traceparent: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .body(
            serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        );
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.unwrap()
}

fn of_kind(spans: &[Span], kind: SpanKind) -> Vec<&Span> {
    spans.iter().filter(|s| s.kind == kind as i32).collect()
}

/// The spans once a request's own span has come.
async fn request_done(received: &Received) -> Vec<Span> {
    received
        .until(|spans| !of_kind(spans, SpanKind::Server).is_empty())
        .await
}

fn otel(endpoint: &str, protocol: &str) -> String {
    format!("[otel]\nenabled = true\nendpoint = \"{endpoint}\"\nprotocol = \"{protocol}\"\n")
}

const FALLBACK_ROUTE: &str = r#"
[routes.resilient]
strategy = "priority"
targets = [
  { model = "openai/fault-503", priority = 1 },
  { model = "openai/gpt-4o-mini", priority = 2 },
]
retries = { attempts = 1, backoff = "1ms", max_backoff = "1ms" }
"#;

#[tokio::test]
async fn a_fallback_is_one_trace_under_the_clients_span_over_http() {
    let received = Received::default();
    let endpoint = http_receiver(received.clone()).await;
    let h = Harness::with(
        MockOptions::default(),
        &format!("{}{FALLBACK_ROUTE}", otel(&endpoint, "http")),
    )
    .await;
    let response = ask(&h.url(""), "resilient", Some(client_traceparent())).await;
    assert_eq!(response.status(), 200);

    let spans = request_done(&received).await;
    let root = of_kind(&spans, SpanKind::Server)[0];
    assert_eq!(hex::encode(&root.trace_id), CLIENT_TRACE);
    assert_eq!(hex::encode(&root.parent_span_id), CLIENT_SPAN);
    assert_eq!(root.name, "chat resilient");
    assert_eq!(text_of(root, "gen_ai.operation.name"), "chat");
    assert_eq!(text_of(root, "gen_ai.request.model"), "resilient");
    assert_eq!(text_of(root, "gen_ai.response.model"), "gpt-4o-mini");
    assert_eq!(text_of(root, "gen_ai.provider.name"), "openai");
    assert!(int_of(root, "gen_ai.usage.input_tokens") > 0);
    assert!(int_of(root, "gen_ai.usage.output_tokens") > 0);
    assert_eq!(int_of(root, "http.response.status_code"), 200);
    assert_eq!(int_of(root, "switchboard.attempts"), 2);

    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == root.span_id)
        .collect();
    assert!(children.iter().all(|s| s.trace_id == root.trace_id));
    let attempts: Vec<&&Span> = children
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    assert!(children.len() > attempts.len(), "stage spans too");
    assert_eq!(attempts.len(), 2, "{children:#?}");
    assert_eq!(attempts[0].name, "chat fault-503");
    assert_eq!(text_of(attempts[0], "error.type"), "upstream_failed");
    assert_eq!(attempts[1].name, "chat gpt-4o-mini");
    assert!(attribute(attempts[1], "error.type").is_none());
    assert!(attempts[0].end_time_unix_nano <= attempts[1].start_time_unix_nano);
    for stage in [
        "switchboard.authenticate",
        "switchboard.guard_input",
        "switchboard.reserve",
        "switchboard.dispatch",
        "switchboard.guard_output",
    ] {
        let span = children
            .iter()
            .find(|s| s.name == stage)
            .unwrap_or_else(|| panic!("no {stage} span"));
        assert!(span.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(span.end_time_unix_nano <= root.end_time_unix_nano);
    }
}

#[tokio::test]
async fn the_provider_receives_the_attempts_traceparent() {
    // An OpenAI-wire upstream that keeps the traceparent it was sent.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = seen.clone();
    let upstream = axum::Router::new().route(
        "/chat/completions",
        axum::routing::post(move |headers: http::HeaderMap| {
            let kept = kept.clone();
            async move {
                if let Some(value) = headers.get("traceparent") {
                    kept.lock().push(value.to_str().unwrap().to_owned());
                }
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "hello"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, upstream).await;
    });
    let received = Received::default();
    let endpoint = http_receiver(received.clone()).await;
    let gateway = gateway_in_front_of(base, &otel(&endpoint, "http")).await;
    let base = format!("http://{}", gateway.addr);
    let response = ask(&base, "openai/gpt-4o-mini", None).await;
    assert_eq!(response.status(), 200);
    let spans = request_done(&received).await;
    let attempt = of_kind(&spans, SpanKind::Client)[0];
    let sent = seen.lock().clone();
    assert_eq!(
        sent,
        [format!(
            "00-{}-{}-01",
            hex::encode(&attempt.trace_id),
            hex::encode(&attempt.span_id)
        )],
        "the provider got the attempt's own span as its parent"
    );
    // Without a client traceparent the request's span starts the trace.
    assert!(
        of_kind(&spans, SpanKind::Server)[0]
            .parent_span_id
            .is_empty()
    );
}

#[tokio::test]
async fn a_stream_is_traced_over_grpc_until_it_ends() {
    let received = Received::default();
    let endpoint = grpc_receiver(received.clone()).await;
    let h = Harness::with(MockOptions::default(), &otel(&endpoint, "grpc")).await;
    let body = h
        .post(
            "/v1/chat/completions",
            Some(ALPHA_KEY),
            serde_json::json!({"model": "openai/gpt-4o-mini", "stream": true,
                               "messages": [{"role": "user", "content": "count to three"}]})
            .to_string(),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("[DONE]"));
    let spans = received
        .until(|spans| spans.iter().any(|s| s.kind == SpanKind::Server as i32))
        .await;
    let root = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap();
    assert_eq!(
        attribute(root, "switchboard.stream"),
        Some(&Any::BoolValue(true))
    );
    assert!(int_of(root, "gen_ai.usage.output_tokens") > 0);
    let attempt = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("an attempt span");
    assert_eq!(attempt.parent_span_id, root.span_id);
    // The request's span lasts until the stream's end, after the attempt's
    // first byte.
    assert!(root.end_time_unix_nano >= attempt.end_time_unix_nano);
}

#[tokio::test]
async fn an_mcp_tool_call_is_a_span_whose_context_reaches_the_server() {
    let received = Received::default();
    let endpoint = http_receiver(received.clone()).await;
    let fx = FixtureServer::start("fx", vec![tool("read", "Reads a file.")]).await;
    let config = format!(
        "{}[[mcp.servers]]\nname = \"fx\"\nurl = \"{}\"\n[[mcp.teams]]\nteam = \"alpha\"\n",
        otel(&endpoint, "http"),
        fx.url
    );
    let h = Harness::with(MockOptions::default(), &config).await;
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", client_traceparent().parse().unwrap());
    let http_client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
        http_client,
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("http://{}/mcp", h.gateway.addr),
        )
        .auth_header(ALPHA_KEY),
    );
    let client = rmcp::ServiceExt::serve((), transport).await.unwrap();
    wait_for_tools(&client, |names| names == ["fx__read"]).await;
    let result = call(&client, "fx__read", serde_json::json!({"path": "/a"}))
        .await
        .unwrap();

    let spans = received
        .until(|spans| spans.iter().any(|s| s.name == "tools/call read"))
        .await;
    let span = spans.iter().find(|s| s.name == "tools/call read").unwrap();
    assert_eq!(hex::encode(&span.trace_id), CLIENT_TRACE);
    assert_eq!(hex::encode(&span.parent_span_id), CLIENT_SPAN);
    assert_eq!(text_of(span, "mcp.method.name"), "tools/call");
    assert_eq!(text_of(span, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(text_of(span, "gen_ai.tool.name"), "read");
    assert_eq!(text_of(span, "switchboard.mcp.server"), "fx");
    let expected = format!("00-{CLIENT_TRACE}-{}-01", hex::encode(&span.span_id));
    assert_eq!(
        text(&result)["traceparent"],
        expected,
        "the server was called under the tool call's span"
    );
    assert_eq!(
        text(&result)["traceparent_header"],
        expected,
        "an HTTP server gets the same context as a W3C header"
    );
}

#[tokio::test]
async fn nothing_is_sent_when_traces_are_off_or_the_client_did_not_sample() {
    let received = Received::default();
    let endpoint = http_receiver(received.clone()).await;
    // Off by default.
    let off = Harness::start().await;
    let on = Harness::with(MockOptions::default(), &otel(&endpoint, "http")).await;
    for (h, traceparent) in [
        (&off, Some(client_traceparent())),
        (&on, Some(format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"))),
        // A sampled request afterwards arrives; the unsampled one never did.
        (&on, None),
    ] {
        let response = ask(&h.url(""), "openai/gpt-4o-mini", traceparent).await;
        assert_eq!(response.status(), 200);
    }
    let spans = request_done(&received).await;
    assert!(
        spans
            .iter()
            .all(|s| hex::encode(&s.trace_id) != CLIENT_TRACE),
        "an unsampled trace was exported"
    );
}
