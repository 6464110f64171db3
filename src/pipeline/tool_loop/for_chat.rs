//! The loop for chat completions: a `{"type": "mcp", ...}` entry in a chat
//! request's `tools` (a type OpenAI's chat API does not take, so the
//! request cannot mean anything else) asks the gateway to run its tool
//! loop, exactly as on `/v1/responses`. The answer is a plain
//! `chat.completion` whose message is the model's last; the tool calls the
//! gateway ran, and what the loop used, are in its `tool_loop` extension
//! field, which OpenAI's SDKs ignore; streamed, as chat chunks
//! (`chat_stream.rs`). There is no approval step: an entry that may need
//! one is a 400 naming its `require_approval`.

use super::limits::Asked;
use super::{Loop, Run, servers};
use crate::api::chat::ChatRequest;
use crate::api::responses::request::is_mcp_tool;
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::pipeline::chat::render_prompt_extension;
use crate::pipeline::context::RequestCx;
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// Whether a chat request asks for the loop: an `mcp` tool, or the loop's
/// own extension (refused without one, never sent to a provider).
pub fn wanted(request: &ChatRequest) -> bool {
    request.extra.contains_key("tool_loop")
        || request
            .extra
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|tools| tools.iter().any(is_mcp_tool))
}

/// The loop for `request`, boxed: its model calls go through
/// `chat::handle` again, which calls this.
pub fn handle<'a>(
    gateway: &'a Arc<Gateway>,
    cx: &'a mut RequestCx,
    headers: &'a HeaderMap,
    caller: Caller,
    request: ChatRequest,
) -> BoxFuture<'a, Result<Response, GatewayError>> {
    Box::pin(async move { run(gateway, cx, headers, &caller, request).await })
}

async fn run(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    caller: &Caller,
    mut request: ChatRequest,
) -> Result<Response, GatewayError> {
    let tools = match request.extra.remove("tools") {
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            return Err(servers::invalid("`tools` must be an array".into(), "tools"));
        }
        None => Vec::new(),
    };
    let servers = servers::read(&tools, false)?;
    if servers.is_empty() {
        return Err(servers::invalid(
            "`tool_loop` applies to a request with `mcp` tools".into(),
            "tool_loop",
        ));
    }
    let asked = Asked::read(request.extra.remove("tool_loop").as_ref())?;
    // Rendered once, not by each of the loop's model calls.
    render_prompt_extension(gateway, cx, &mut request)?;
    request.check()?;
    let functions: Vec<Value> = tools.into_iter().filter(|t| !is_mcp_tool(t)).collect();
    if !functions.is_empty() {
        request
            .extra
            .insert("tools".into(), Value::Array(functions));
    }
    let model = request.model.clone();
    let streamed = request.is_stream();
    let include_usage = request.wants_stream_usage();
    let mut chat = serde_json::to_value(&request)
        .map_err(|error| GatewayError::Internal(format!("encode request: {error}")))?;
    if streamed {
        return super::chat_stream::respond(
            gateway,
            cx,
            headers,
            caller,
            servers,
            chat,
            asked,
            include_usage,
        )
        .await;
    }
    let state = Loop::start(
        gateway, cx, headers, caller, servers, &mut chat, asked, None,
    );
    let run = state.iterate(chat, Vec::new()).await?;
    Ok(answer(&model, run))
}

/// The loop's output items of `kind`.
fn items(run: &Run, kind: &str) -> Vec<Value> {
    run.output
        .iter()
        .filter(|item| item["type"] == kind)
        .cloned()
        .collect()
}

/// The `tool_loop` extension field: the tool calls the gateway ran
/// (`mcp_call` items) and what the loop used.
pub(super) fn report(run: &mut Run) -> Value {
    let mut report = run.report.take();
    report["calls"] = Value::Array(items(run, "mcp_call"));
    report
}

/// A loop's failure as an OpenAI-shaped error that still says what it
/// spent: a limit is the request's (400), a budget's refusal its own code.
pub(super) fn failure(code: &str, message: &str, report: Value) -> (StatusCode, Value) {
    let (status, kind) = match code {
        "tool_loop_limit" => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        "insufficient_quota" => (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota"),
        "quota_store_unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        _ => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null,
                                "code": code, "tool_loop": report}});
    (status, body)
}

/// The chat answer: the model's last message (with only the client's own
/// tool calls: the gateway's are done) and the `tool_loop` field, or the
/// loop's failure.
fn answer(model: &str, mut run: Run) -> Response {
    let report = report(&mut run);
    if let Some((code, message)) = &run.failure {
        let (status, body) = failure(code, message, report);
        let mut response = crate::shapes::json_response(Bytes::from(body.to_string()));
        *response.status_mut() = status;
        return response;
    }
    let content = run.answer.get("content").cloned().unwrap_or(Value::Null);
    let mut message = json!({"role": "assistant", "content": content});
    // The client's function calls, for the client to run and answer.
    let client_calls: Vec<Value> = items(&run, "function_call")
        .into_iter()
        .map(|item| {
            json!({"id": item["call_id"], "type": "function",
                   "function": {"name": item["name"], "arguments": item["arguments"]}})
        })
        .collect();
    let finish = if client_calls.is_empty() {
        run.finish.unwrap_or_else(|| "stop".to_owned())
    } else {
        message["tool_calls"] = Value::Array(client_calls);
        "tool_calls".to_owned()
    };
    let body = json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": crate::shapes::unix_seconds(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": run.usage,
        "tool_loop": report,
    });
    crate::shapes::json_response(Bytes::from(body.to_string()))
}
