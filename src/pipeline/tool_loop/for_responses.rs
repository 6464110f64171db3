//! The loop for the Responses API: the request's `mcp` tools (approvals
//! included), `max_tool_calls` and the `tool_loop` extension; the answer is
//! a response object whose `output` holds every step, and `tool_loop` what
//! the loop used.

use super::limits::Asked;
use super::{Loop, servers};
use crate::api::responses::loop_events::LoopEvents;
use crate::api::responses::{ResponsesRequest, reply};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::pipeline::context::RequestCx;
use http::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the loop produced: the response, and the conversation it adds after
/// the input (for `previous_response_id`).
pub struct Outcome {
    pub response: Value,
    pub messages: Vec<Value>,
}

/// Run the loop for a request that has `mcp` tools. `chat` is the request
/// translated (its client function tools included); `previous_output` the
/// output of the response it continues, whose approval requests this
/// input may answer.
#[expect(
    clippy::too_many_arguments,
    reason = "two call sites, each argument named there"
)]
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
    events: Option<&mut LoopEvents>,
) -> Result<Outcome, GatewayError> {
    let events = events.map(|events| events as &mut (dyn super::steps::Steps + 'static));
    let servers = servers::read(request.tools.as_deref().unwrap_or_default(), true)?;
    let asked = Asked {
        max_tool_calls: request.max_tool_calls,
        ..Asked::read(request.tool_loop.as_ref())?
    };
    let mut state = Loop::start(
        gateway, cx, headers, caller, servers, &mut chat, asked, events,
    );
    let added = state.answer_approvals(input_items, previous_output).await?;
    let run = state.iterate(chat, added).await?;
    let (status, incomplete) = reply::status(run.finish.as_deref());
    let status = if run.failure.is_some() {
        "failed"
    } else {
        status
    };
    let mut response = reply::response(
        request,
        id,
        created_at,
        status,
        run.output,
        reply::usage(Some(&run.usage)),
        incomplete,
    );
    if let Some((code, message)) = run.failure {
        response["error"] = json!({"code": code, "message": message});
    }
    response["tool_loop"] = run.report;
    Ok(Outcome {
        response,
        messages: run.messages,
    })
}
