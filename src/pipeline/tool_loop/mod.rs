//! The gateway's own tool loop: `{"type": "mcp"}` tools name servers
//! registered in the gateway (`server_url` is the gateway's `/mcp`, every
//! tool the team may use, or `/mcp/{server}`). The team's permitted tools
//! are listed (`mcp_list_tools`), offered to the model as functions, and the
//! model's calls run through the MCP front door with the same policy,
//! conditions, rate limits, pinning, guardrails and audit as a client's
//! call (`mcp_call` items), until the model answers, a call needs the
//! user's approval (`mcp_approval_request`), the model calls one of the
//! client's own function tools, a limit (`[tool_loop]`: model calls, tool
//! calls, wall time, dollars) is reached, or a budget runs out. Every model
//! call runs the chat stages (budget reserved and settled each time) under
//! the request's id; a priced tool's call is charged to the same budgets by
//! the front door (`mcp/pricing.rs`).
//!
//! Both doors run it: the Responses API (`for_responses.rs`, streamed event
//! by event through `api/responses/loop_events.rs`) and chat completions
//! (`for_chat.rs`, through the same `mcp` tool entries).

mod approvals;
mod call;
mod chat_stream;
pub mod drive;
pub mod for_chat;
pub mod for_responses;
mod limits;
mod model;
mod servers;
mod steps;

use super::context::{Endpoint, RequestCx};
use crate::api::responses::{new_id, reply};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::mcp::front::{FrontDoor, McpRequest};
use http::HeaderMap;
use limits::{Asked, Limits};
use serde_json::{Value, json};
use servers::{Offered, Server};
use std::sync::Arc;
use steps::Steps;

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

/// What a loop made, for its door to answer with.
pub(super) struct Run {
    /// The Responses output items, in order.
    pub output: Vec<Value>,
    /// The conversation the loop added after the input.
    pub messages: Vec<Value>,
    /// The model calls' usage summed, in chat names.
    pub usage: Value,
    /// The last model call's `finish_reason`.
    pub finish: Option<String>,
    /// The last model call's message.
    pub answer: Value,
    /// Why the loop failed: `error.code` and message.
    pub failure: Option<(String, String)>,
    /// What it used (`tool_loop` on the response).
    pub report: Value,
}

pub(super) struct Loop<'a> {
    gateway: &'a Arc<Gateway>,
    cx: &'a RequestCx,
    headers: &'a HeaderMap,
    /// The door, as each model call's log line names it.
    endpoint: Endpoint,
    front: FrontDoor,
    caller: McpRequest,
    servers: Vec<Server>,
    offered: Vec<Offered>,
    output: Vec<Value>,
    usage: (u64, u64),
    limits: Limits,
    /// Why the loop must end now (`error.code`, message): a budget that
    /// refused a priced tool call.
    stopped: Option<(String, String)>,
    /// Where a streamed response's events go, as each step happens.
    events: Option<&'a mut (dyn Steps + 'static)>,
}

impl<'a> Loop<'a> {
    /// A loop for `servers`: their tools listed (an `mcp_list_tools` item
    /// each) and added to `chat`'s functions, and the bounds it runs under
    /// (`[tool_loop]` as it is now, lowered by what the request `asked`).
    #[expect(
        clippy::too_many_arguments,
        reason = "two call sites, each argument named there"
    )]
    fn start(
        gateway: &'a Arc<Gateway>,
        cx: &'a RequestCx,
        headers: &'a HeaderMap,
        caller: &Caller,
        servers: Vec<Server>,
        chat: &mut Value,
        asked: Asked,
        mut events: Option<&'a mut (dyn Steps + 'static)>,
    ) -> Self {
        let front = FrontDoor::new(gateway.mcp_context());
        // The loop's tool calls carry the request's id and are children of
        // its span.
        let caller = McpRequest {
            caller: caller.clone(),
            scope: None,
            request_id: Arc::from(cx.request_id.to_str().unwrap_or("-")),
            traceparent: cx
                .trace
                .as_ref()
                .map(|trace| crate::traces::traceparent(&trace.trace_id, &trace.span_id).into()),
        };
        let functions = chat
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let offer = servers::offer(&front, &caller, &servers, functions, events.as_deref_mut());
        if !offer.functions.is_empty() {
            chat["tools"] = Value::Array(offer.functions);
        }
        // The loop streams its model calls only when it streams its events.
        if let Some(object) = chat.as_object_mut() {
            object.remove("stream");
            object.remove("stream_options");
        }
        let endpoint = cx.endpoint;
        let limits = Limits::new(&gateway.config.load().tool_loop, asked);
        Self {
            gateway,
            cx,
            headers,
            endpoint,
            front,
            caller,
            servers,
            offered: offer.offered,
            output: offer.items,
            usage: (0, 0),
            limits,
            stopped: None,
            events,
        }
    }

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

    /// The model calls and their tool calls, after `added` (what the loop
    /// already added to the conversation: approved calls' results).
    async fn iterate(
        mut self,
        mut chat: Value,
        mut added: Vec<Value>,
    ) -> Result<Run, GatewayError> {
        let base_messages = chat["messages"].as_array().cloned().unwrap_or_default();
        let mut finish: Option<String> = None;
        let mut answer = Value::Null;
        let mut failure: Option<(String, String)> = self.stopped.take();
        while failure.is_none() {
            if let Some(reached) = self.limits.before_model() {
                failure = Some(limit(reached));
                break;
            }
            let mut messages = base_messages.clone();
            messages.extend(added.iter().cloned());
            chat["messages"] = Value::Array(messages);
            let completion = match self.model(&chat).await {
                Ok(completion) => completion,
                // A budget that runs out after the loop has spent something
                // ends it with what it made (every call so far was settled);
                // before that, the refusal is the answer, as on chat.
                Err(error) if self.limits.started() => match budget_code(&error) {
                    Some(code) => {
                        failure = Some((code.to_owned(), error.to_string()));
                        break;
                    }
                    None => return Err(error),
                },
                Err(error) => return Err(error),
            };
            answer = completion
                .pointer("/choices/0/message")
                .cloned()
                .unwrap_or(Value::Null);
            finish = completion
                .pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let calls: Vec<Value> = answer
                .get("tool_calls")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if calls.is_empty() {
                if let Some(text) = answer.get("content").and_then(Value::as_str) {
                    added.push(json!({"role": "assistant", "content": text}));
                }
                break;
            }
            added.push(
                json!({"role": "assistant", "content": answer.get("content"),
                              "tool_calls": calls}),
            );
            let (results, stop) = self.run_calls(&calls, &mut failure).await;
            added.extend(results);
            if stop {
                break;
            }
        }
        let usage = json!({"prompt_tokens": self.usage.0, "completion_tokens": self.usage.1,
                           "total_tokens": self.usage.0 + self.usage.1});
        Ok(Run {
            output: self.output,
            messages: added,
            usage,
            finish,
            answer,
            failure,
            report: self.limits.report(),
        })
    }

    /// One model message's tool calls: the gateway's run (unless a limit
    /// stops them), the client's and those needing approval become items.
    /// The tool messages, and whether the loop ends here.
    async fn run_calls(
        &mut self,
        calls: &[Value],
        failure: &mut Option<(String, String)>,
    ) -> (Vec<Value>, bool) {
        let mut stop = false;
        let mut results = Vec::new();
        for call in calls {
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
            match self.offered(&function) {
                // One of the client's own function tools: the client runs it.
                None => {
                    self.push(reply::function_call_item(
                        &new_id("fc"),
                        &call_id,
                        &function,
                        &arguments,
                    ));
                    stop = true;
                }
                Some(offered) if self.servers[offered.server].approval.needed(&offered.name) => {
                    let label = self.servers[offered.server].label.clone();
                    let name = offered.name.clone();
                    self.push(json!({
                        "type": "mcp_approval_request", "id": new_id("mcpr"),
                        "server_label": label, "name": name, "arguments": arguments,
                        "call_id": call_id, "function": function,
                    }));
                    stop = true;
                }
                Some(_) => match self.limits.before_tool() {
                    Some(reached) => {
                        *failure = Some(limit(reached));
                        stop = true;
                    }
                    None => {
                        results.push(self.call(&call_id, &function, &arguments, None).await);
                        if let Some(stopped) = self.stopped.take() {
                            *failure = Some(stopped);
                            stop = true;
                        }
                    }
                },
            }
            if failure.is_some() {
                break;
            }
        }
        (results, stop)
    }
}
