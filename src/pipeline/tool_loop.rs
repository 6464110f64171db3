//! The gateway's own tool loop for the Responses API: `{"type": "mcp"}`
//! tools name servers registered in the gateway (`server_url` is the
//! gateway's `/mcp`, every tool the team may use, or `/mcp/{server}`). The
//! team's permitted tools are listed (`mcp_list_tools`), offered to the
//! model as functions, and the model's calls run through the MCP front door
//! with the same policy, conditions, rate limits, pinning, guardrails and
//! audit as a client's call (`mcp_call` items), until the model answers, a
//! call needs the user's approval (`mcp_approval_request`), the model calls
//! one of the client's own function tools, a limit is reached, or a budget
//! runs out. Every model call runs the chat stages (budget reserved and
//! settled each time) under the request's id; a priced tool's call is
//! charged to the same budgets by the front door (`mcp/pricing.rs`).
//! Streamed (`stream: true`), each step's events go out as it happens
//! (`api/responses/loop_events.rs`): the model calls are streamed too, so
//! their text arrives delta by delta.

use super::chat;
use super::context::{Endpoint, RequestCx};
use crate::api::responses::loop_events::LoopEvents;
use crate::api::responses::request::is_mcp_tool;
use crate::api::responses::{ResponsesRequest, new_id, reply};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::mcp::front::{FrontDoor, McpRequest, codes};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http::HeaderMap;
use rmcp::model::ContentBlock;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Model calls one response may make.
const MAX_ITERATIONS: usize = 10;
/// Tool calls one response may make (`max_tool_calls` may lower it).
const MAX_TOOL_CALLS: u32 = 20;
/// Wall time of the whole loop.
const MAX_WALL_TIME: Duration = Duration::from_secs(300);

/// One `mcp` tool of the request.
struct Server {
    label: String,
    scope: Option<Arc<str>>,
    allowed: Option<Vec<String>>,
    /// Tool names (on their server) that need the user's approval; `None`:
    /// all of them.
    approval: Approval,
}

enum Approval {
    Never,
    Always,
    /// Only these tools need approval.
    Only(Vec<String>),
}

impl Approval {
    fn needed(&self, tool: &str) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::Only(names) => names.iter().any(|n| n == tool),
        }
    }
}

/// A loop stopped by one of its own limits.
fn limit(message: String) -> (String, String) {
    ("tool_loop_limit".to_owned(), message)
}

/// The `error.code` of a budget's refusal (or of a quota store that could
/// not answer), `None` for any other error.
fn budget_code(error: &GatewayError) -> Option<&'static str> {
    match error {
        GatewayError::QuotaExceeded(refusal) => Some(refusal.code()),
        GatewayError::QuotaUnavailable => Some("quota_store_unavailable"),
        _ => None,
    }
}

fn invalid(message: String, param: &str) -> GatewayError {
    GatewayError::InvalidRequest {
        message,
        param: Some(param.into()),
    }
}

fn names(value: Option<&Value>) -> Option<Vec<String>> {
    let list = match value? {
        Value::Array(list) => list,
        Value::Object(object) => object.get("tool_names")?.as_array()?,
        _ => return None,
    };
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

fn servers(tools: &[Value]) -> Result<Vec<Server>, GatewayError> {
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate().filter(|(_, t)| is_mcp_tool(t)) {
        let at = |field: &str| format!("tools[{i}].{field}");
        let label = tool
            .get("server_label")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    format!("Missing required parameter: '{}'.", at("server_label")),
                    &at("server_label"),
                )
            })?
            .to_owned();
        let url = tool
            .get("server_url")
            .and_then(Value::as_str)
            .unwrap_or("/mcp");
        let path = reqwest::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| url.to_owned());
        let scope = match path.trim_end_matches('/').strip_prefix("/mcp") {
            Some("") => None,
            Some(rest) if rest.starts_with('/') && !rest[1..].contains('/') => {
                Some(Arc::from(&rest[1..]))
            }
            _ => {
                return Err(invalid(
                    format!(
                        "`{}` must be this gateway's `/mcp` or `/mcp/{{server}}`: the gateway runs \
                         tools of the servers registered with it",
                        at("server_url")
                    ),
                    &at("server_url"),
                ));
            }
        };
        let approval = match tool.get("require_approval") {
            None => Approval::Always,
            Some(Value::String(mode)) if mode == "never" => Approval::Never,
            Some(Value::String(mode)) if mode == "always" => Approval::Always,
            Some(Value::Object(object)) => match names(object.get("always")) {
                Some(always) => Approval::Only(always),
                // `{"never": {...}}` alone: the others still need approval,
                // which only `always` can say without a catalog here.
                None => Approval::Never,
            },
            _ => {
                return Err(invalid(
                    format!(
                        "`{}` must be \"always\", \"never\" or an object",
                        at("require_approval")
                    ),
                    &at("require_approval"),
                ));
            }
        };
        out.push(Server {
            label,
            scope,
            allowed: names(tool.get("allowed_tools")),
            approval,
        });
    }
    Ok(out)
}

/// A tool the model may call: its function name (the `/mcp` name), which
/// request entry offered it, and its name on its server.
struct Offered {
    function: String,
    server: usize,
    name: String,
}

/// What the loop produced: the response, and the conversation it adds after
/// the input (for `previous_response_id`).
pub struct Outcome {
    pub response: Value,
    pub messages: Vec<Value>,
}

struct Loop<'a> {
    gateway: &'a Arc<Gateway>,
    cx: &'a RequestCx,
    headers: &'a HeaderMap,
    front: FrontDoor,
    caller: McpRequest,
    servers: Vec<Server>,
    offered: Vec<Offered>,
    output: Vec<Value>,
    usage: (u64, u64),
    calls: u32,
    /// Why the loop must end now (`error.code`, message): a budget that
    /// refused a priced tool call.
    stopped: Option<(String, String)>,
    /// Where a streamed response's events go, as each step happens.
    events: Option<&'a mut LoopEvents>,
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.text.as_str()),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        result
            .structured_content
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default()
    } else {
        texts.join("\n")
    }
}

impl Loop<'_> {
    fn offered(&self, function: &str) -> Option<&Offered> {
        self.offered.iter().find(|o| o.function == function)
    }

    /// An output item made whole at once, streamed as it is added.
    fn push(&mut self, item: Value) {
        if let Some(events) = self.events.as_deref_mut() {
            events.item(self.output.len(), &item);
        }
        self.output.push(item);
    }

    /// One model call through the chat stages.
    async fn model(&mut self, chat: &Value) -> Result<Value, GatewayError> {
        let mut icx = RequestCx::new(
            Endpoint::Responses,
            self.cx.request_id.clone(),
            self.cx.peer,
        );
        icx.prompt.clone_from(&self.cx.prompt);
        icx.logged = self.cx.logged;
        // Each model call of the loop is a child of the Responses request's span.
        if let Some(trace) = &self.cx.trace {
            let parent = crate::traces::traceparent(&trace.trace_id, &trace.span_id);
            icx.trace = crate::traces::Trace::start(Some(&parent), 1.0);
        }
        let streamed = self.events.is_some();
        let mut chat = chat.clone();
        if streamed {
            chat["stream"] = json!(true);
            chat["stream_options"] = json!({"include_usage": true});
        }
        let body = serde_json::to_vec(&chat)
            .map_err(|error| GatewayError::Internal(format!("encode request: {error}")))?;
        let response =
            chat::handle(self.gateway, &mut icx, self.headers, Bytes::from(body)).await?;
        let completion = match self.events.as_deref_mut() {
            Some(events) => {
                // The model took the call: from here on the client hears
                // every step as it happens.
                events.commit();
                let index = self.output.len();
                streamed_completion(response.into_body(), events, index).await?
            }
            None => chat::read_completion(response.into_body()).await?,
        };
        let number = |p: &str| completion.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        self.usage.0 += number("/usage/prompt_tokens");
        self.usage.1 += number("/usage/completion_tokens");
        if let Some(text) = completion
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
        {
            // Streamed, the message was sent as it came, under its own id.
            let id = completion["id"]
                .as_str()
                .filter(|_| streamed)
                .map_or_else(|| new_id("msg"), str::to_owned);
            self.output.push(reply::message_item(&id, text));
        }
        Ok(completion)
    }

    /// Run one approved (or approval-free) call: an `mcp_call` item (its
    /// `error` in OpenAI's shapes: the server's or the gateway's refusal as
    /// an `mcp_protocol_error`, a tool that reported an error as an
    /// `mcp_tool_execution_error`) and the tool message the model reads.
    async fn call(
        &mut self,
        call_id: &str,
        function: &str,
        arguments: &str,
        approval: Option<&str>,
    ) -> Value {
        self.calls += 1;
        let Some(offered) = self.offered(function) else {
            return json!({"role": "tool", "tool_call_id": call_id,
                          "content": format!("no tool `{function}` is offered")});
        };
        let (label, name) = (
            self.servers[offered.server].label.clone(),
            offered.name.clone(),
        );
        let protocol = |code: i32, message: &str| json!({"type": "mcp_protocol_error", "code": code, "message": message});
        let mut item = json!({
            "type": "mcp_call", "id": new_id("mcp"), "server_label": label, "name": name,
            "arguments": arguments, "output": null, "error": null, "status": "in_progress",
            "approval_request_id": approval,
        });
        let index = self.output.len();
        if let Some(events) = self.events.as_deref_mut() {
            events.call_started(index, &item);
        }
        let parsed: Option<Map<String, Value>> = serde_json::from_str(arguments).ok();
        let (output, error, content) = match parsed {
            None => {
                let message = "the arguments are not a JSON object";
                (
                    Value::Null,
                    protocol(-32602, message),
                    format!("error: {message}"),
                )
            }
            Some(arguments) => {
                match self
                    .front
                    .call_for(&self.caller, function, Some(arguments))
                    .await
                {
                    Ok(result) if result.is_error == Some(true) => {
                        let text = text_of(&result);
                        let blocks = serde_json::to_value(&result.content).unwrap_or(Value::Null);
                        let error = json!({"type": "mcp_tool_execution_error", "content": blocks});
                        (Value::Null, error, format!("error: {text}"))
                    }
                    Ok(result) => {
                        let text = text_of(&result);
                        (Value::String(text.clone()), Value::Null, text)
                    }
                    // A budget that cannot pay for the tool ends the loop,
                    // as a budget refusing a model call does.
                    Err(refused) if refused.code == codes::BUDGET_EXCEEDED => {
                        let code = refused
                            .data
                            .as_ref()
                            .and_then(|data| data["code"].as_str())
                            .unwrap_or("quota_store_unavailable");
                        self.stopped = Some((code.to_owned(), refused.message.to_string()));
                        (
                            Value::Null,
                            protocol(refused.code.0, &refused.message),
                            format!("error: {}", refused.message),
                        )
                    }
                    // A refusal (policy, rate limit, guardrail) is told to
                    // the model, which may go on without the tool.
                    Err(refused) => (
                        Value::Null,
                        protocol(refused.code.0, &refused.message),
                        format!("error: {}", refused.message),
                    ),
                }
            }
        };
        let status = if error.is_null() {
            "completed"
        } else {
            "failed"
        };
        item["output"] = output;
        item["error"] = error;
        item["status"] = json!(status);
        if let Some(events) = self.events.as_deref_mut() {
            events.call_ended(index, &item);
        }
        self.output.push(item);
        json!({"role": "tool", "tool_call_id": call_id, "content": content})
    }
}

/// Run the loop for a request that has `mcp` tools. `chat` is the request
/// translated (its client function tools included); `history` the
/// conversation it continues, whose last response's `output` may hold
/// approval requests this input answers.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    gateway: &Arc<Gateway>,
    cx: &RequestCx,
    headers: &HeaderMap,
    caller: &Caller,
    request: &ResponsesRequest,
    mut chat: Value,
    input_items: &[Value],
    previous_output: &[Value],
    id: &str,
    created_at: u64,
    mut events: Option<&mut LoopEvents>,
) -> Result<Outcome, GatewayError> {
    let servers = servers(request.tools.as_deref().unwrap_or_default())?;
    let front = FrontDoor::new(gateway.mcp_context());
    let request_id: Arc<str> = Arc::from(cx.request_id.to_str().unwrap_or("-"));
    // The loop's tool calls are children of the Responses request's span.
    let traceparent: Option<Arc<str>> = cx
        .trace
        .as_ref()
        .map(|trace| crate::traces::traceparent(&trace.trace_id, &trace.span_id).into());
    let everything = McpRequest {
        caller: caller.clone(),
        scope: None,
        request_id: request_id.clone(),
        traceparent: traceparent.clone(),
    };
    let mut offered = Vec::new();
    let mut output = Vec::new();
    let mut functions: Vec<Value> = chat
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (index, server) in servers.iter().enumerate() {
        let scoped = McpRequest {
            caller: caller.clone(),
            scope: server.scope.clone(),
            request_id: request_id.clone(),
            traceparent: traceparent.clone(),
        };
        let listed: Vec<_> = front
            .tools_for(&scoped)
            .into_iter()
            .filter(|(_, _, name)| {
                server
                    .allowed
                    .as_ref()
                    .is_none_or(|allowed| allowed.iter().any(|a| **a == **name))
            })
            .collect();
        let mut tools = Vec::new();
        for (tool, server_name, name) in listed {
            let function = format!("{server_name}__{name}");
            tools.push(json!({"name": &*name, "description": tool.description,
                              "input_schema": &*tool.input_schema, "annotations": tool.annotations}));
            if offered.iter().any(|o: &Offered| o.function == function) {
                continue;
            }
            functions.push(json!({"type": "function", "function": {
                "name": function, "description": tool.description,
                "parameters": &*tool.input_schema}}));
            offered.push(Offered {
                function,
                server: index,
                name: name.to_string(),
            });
        }
        let item = json!({"type": "mcp_list_tools", "id": new_id("mcpl"),
                          "server_label": server.label, "tools": tools});
        if let Some(events) = events.as_deref_mut() {
            events.list_tools(output.len(), &item);
        }
        output.push(item);
    }
    if !functions.is_empty() {
        chat["tools"] = Value::Array(functions);
    }
    // The loop streams its model calls only when it streams its events.
    if let Some(object) = chat.as_object_mut() {
        object.remove("stream");
        object.remove("stream_options");
    }
    let mut state = Loop {
        gateway,
        cx,
        headers,
        front,
        caller: everything,
        servers,
        offered,
        output,
        usage: (0, 0),
        calls: 0,
        stopped: None,
        events,
    };
    let mut added: Vec<Value> = Vec::new();
    // Approvals this input answers: run (or refuse) those calls first.
    for answer in input_items
        .iter()
        .filter(|i| i["type"] == "mcp_approval_response")
    {
        let asked = answer["approval_request_id"].as_str().unwrap_or_default();
        let Some(pending) = previous_output
            .iter()
            .find(|item| item["type"] == "mcp_approval_request" && item["id"] == asked)
        else {
            return Err(invalid(
                format!("No pending approval request '{asked}'."),
                "input",
            ));
        };
        let call_id = pending["call_id"].as_str().unwrap_or_default().to_owned();
        let function = pending["function"].as_str().unwrap_or_default().to_owned();
        let arguments = pending["arguments"].as_str().unwrap_or("{}").to_owned();
        let message = if answer["approve"] == true {
            state
                .call(&call_id, &function, &arguments, Some(asked))
                .await
        } else {
            json!({"role": "tool", "tool_call_id": call_id,
                   "content": "The user did not approve this call."})
        };
        added.push(message);
        if state.stopped.is_some() {
            break;
        }
    }
    let base_messages = chat["messages"].as_array().cloned().unwrap_or_default();
    // A client may ask for fewer tool calls than the gateway allows, not more.
    let max_calls = request
        .max_tool_calls
        .map_or(MAX_TOOL_CALLS, |asked| asked.min(MAX_TOOL_CALLS));
    let started = Instant::now();
    let mut finish: Option<String> = None;
    // Why the loop failed: `error.code` and message.
    let mut failure: Option<(String, String)> = state.stopped.take();
    for iteration in 0.. {
        if failure.is_some() {
            break;
        }
        if iteration >= MAX_ITERATIONS || started.elapsed() > MAX_WALL_TIME {
            failure = Some(limit(format!(
                "the tool loop stopped after {iteration} model calls and {} tool calls \
                 (limits: {MAX_ITERATIONS} model calls, {max_calls} tool calls, {}s)",
                state.calls,
                MAX_WALL_TIME.as_secs()
            )));
            break;
        }
        let mut messages = base_messages.clone();
        messages.extend(added.iter().cloned());
        chat["messages"] = Value::Array(messages);
        let completion = match state.model(&chat).await {
            Ok(completion) => completion,
            // A budget that runs out after the loop has spent something
            // ends it with what it made (every call so far was settled);
            // before that, the refusal is the answer, as on chat.
            Err(error) if iteration > 0 || state.calls > 0 => match budget_code(&error) {
                Some(code) => {
                    failure = Some((code.to_owned(), error.to_string()));
                    break;
                }
                None => return Err(error),
            },
            Err(error) => return Err(error),
        };
        let message = completion
            .pointer("/choices/0/message")
            .cloned()
            .unwrap_or(Value::Null);
        finish = completion
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let calls: Vec<Value> = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if calls.is_empty() {
            if let Some(text) = message.get("content").and_then(Value::as_str) {
                added.push(json!({"role": "assistant", "content": text}));
            }
            break;
        }
        added.push(
            json!({"role": "assistant", "content": message.get("content"),
                          "tool_calls": calls}),
        );
        let mut stop = false;
        let mut results = Vec::new();
        for call in &calls {
            let text = |p: &str| {
                call.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let (call_id, function, arguments) = (
                text("/id"),
                text("/function/name"),
                text("/function/arguments"),
            );
            match state.offered(&function) {
                // One of the client's own function tools: the client runs it.
                None => {
                    state.push(reply::function_call_item(
                        &new_id("fc"),
                        &call_id,
                        &function,
                        &arguments,
                    ));
                    stop = true;
                }
                Some(offered) if state.servers[offered.server].approval.needed(&offered.name) => {
                    let label = state.servers[offered.server].label.clone();
                    let name = offered.name.clone();
                    state.push(json!({
                        "type": "mcp_approval_request", "id": new_id("mcpr"),
                        "server_label": label, "name": name, "arguments": arguments,
                        "call_id": call_id, "function": function,
                    }));
                    stop = true;
                }
                Some(_) if state.calls >= max_calls => {
                    failure = Some(limit(format!(
                        "the tool loop reached its limit of {max_calls} tool calls"
                    )));
                    stop = true;
                }
                Some(_) => {
                    results.push(state.call(&call_id, &function, &arguments, None).await);
                    if let Some(stopped) = state.stopped.take() {
                        failure = Some(stopped);
                        stop = true;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        added.extend(results);
        if stop {
            break;
        }
    }
    let usage = json!({"prompt_tokens": state.usage.0, "completion_tokens": state.usage.1,
                       "total_tokens": state.usage.0 + state.usage.1});
    let (status, incomplete) = reply::status(finish.as_deref());
    let status = if failure.is_some() { "failed" } else { status };
    let mut response = reply::response(
        request,
        id,
        created_at,
        status,
        state.output,
        reply::usage(Some(&usage)),
        incomplete,
    );
    if let Some((code, message)) = failure {
        response["error"] = json!({"code": code, "message": message});
    }
    Ok(Outcome {
        response,
        messages: added,
    })
}

/// A streamed model call read to its end: its text sent on to the client
/// as it arrives (an assistant message at output `index`), its tool calls
/// gathered, and the whole returned in a chat completion's shape (the
/// message's item id as `id`). An error event in the stream fails the call.
async fn streamed_completion(
    body: axum::body::Body,
    events: &mut LoopEvents,
    index: usize,
) -> Result<Value, GatewayError> {
    let id = new_id("msg");
    let mut text = String::new();
    // Tool calls by their chat index: id, name, arguments.
    let mut calls: Vec<(u64, String, String, String)> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    let mut ended = false;
    let mut stream = body.into_data_stream().eventsource();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|error| GatewayError::UpstreamFailed {
            message: format!("the model's stream could not be read: {error}"),
        })?;
        if event.data.trim() == "[DONE]" {
            ended = true;
            break;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        if let Some(error) = chunk.get("error") {
            return Err(GatewayError::UpstreamFailed {
                message: error["message"]
                    .as_str()
                    .unwrap_or("the model's stream failed")
                    .to_owned(),
            });
        }
        if let Some(found) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = found.clone();
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            continue;
        };
        if let Some(delta) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !delta.is_empty()
        {
            if text.is_empty() {
                events.text_started(index, &id);
            }
            text.push_str(delta);
            events.text_delta(index, &id, delta);
        }
        for call in choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let at = call["index"].as_u64().unwrap_or(0);
            let part = |p: &str| call.pointer(p).and_then(Value::as_str).unwrap_or("");
            match calls.iter_mut().find(|c| c.0 == at) {
                Some(known) => known.3.push_str(part("/function/arguments")),
                None => calls.push((
                    at,
                    part("/id").to_owned(),
                    part("/function/name").to_owned(),
                    part("/function/arguments").to_owned(),
                )),
            }
        }
        if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
            finish = reason.clone();
        }
    }
    if !ended {
        return Err(GatewayError::UpstreamFailed {
            message: "the model's stream ended before it was complete".into(),
        });
    }
    if !text.is_empty() {
        events.text_done(index, &id, &text);
    }
    let tool_calls: Vec<Value> = calls
        .into_iter()
        .map(|(_, call_id, name, arguments)| {
            json!({"id": call_id, "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": (!text.is_empty()).then_some(text)});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    Ok(
        json!({"id": id, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
              "usage": usage}),
    )
}
