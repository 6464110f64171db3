//! A 2026-07-28 client's tool call, bridged to a server that may ask its
//! client something mid-call (`input_bridge.rs`): the call runs in a task;
//! each time the server asks, the client's call ends `input_required` and
//! the running call is parked until the client calls again with its answers.

use super::{FrontDoor, McpRequest};
use crate::mcp::callers::Bridge;
use crate::mcp::catalog::{Catalog, Entry};
use crate::mcp::input_bridge::{self, BridgedCall, Step};
use crate::mcp::progress::CallListeners;
use rmcp::model::{CallToolRequestParams, CallToolResponse, InputRequiredResult};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use std::sync::Arc;
use std::time::Duration;

impl FrontDoor {
    /// `entry` is the tool as `catalog` (the snapshot the call started on)
    /// has it; the running call uses the same snapshot.
    pub(super) async fn bridged_call(
        &self,
        request: McpRequest,
        (catalog, entry): (Arc<Catalog>, Option<&Entry>),
        mut params: CallToolRequestParams,
        mut listeners: CallListeners,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let hub = &self.cx.mcp;
        let team = request.caller.team.clone();
        let limit = self.park_limit(entry);
        let mut call = match params.request_state.take() {
            Some(token) => {
                let mut call = hub.parked.resume(&token, &team, &params.name)?;
                call.answer(params.input_responses.take().unwrap_or_default());
                call
            }
            None => {
                let (asker, questions) = input_bridge::channel();
                // What the client declared it takes, in this request's `_meta`.
                let declared = ctx.client_capabilities().unwrap_or_default();
                #[allow(deprecated)] // sampling and roots: still used by clients
                let bridge = Bridge {
                    asker,
                    sampling: declared.sampling.is_some(),
                    elicitation: declared.elicitation.is_some(),
                    roots: declared.roots.is_some(),
                };
                if let Some(owner) = &mut listeners.owner {
                    owner.bridge = Some(bridge);
                }
                let front = FrontDoor::new(self.cx.clone());
                let tool = params.name.to_string();
                BridgedCall::start(team, tool, questions, move |stopped| async move {
                    let entry = match &request.scope {
                        Some(scope) => catalog.by_key(scope, &params.name),
                        None => catalog.by_exposed(&params.name),
                    };
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    front
                        .governed_call(&request, entry, params, listeners, stopped)
                        .await
                        .0
                })
            }
        };
        // A client that leaves mid-round drops the call, which cancels it.
        match call.next(ctx.ct.cancelled()).await {
            Step::Done(result) => result.map(CallToolResponse::Complete),
            Step::Ask(questions) => {
                let token = hub.parked.park(call, limit)?;
                Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
                    Some(questions),
                    Some(token),
                )))
            }
        }
    }

    /// How long a parked call waits for its client: as long as its server
    /// waits for an answer (its `call_timeout`).
    fn park_limit(&self, entry: Option<&Entry>) -> Duration {
        entry
            .and_then(|entry| self.cx.mcp.upstream(&entry.key.server))
            .map_or(DEFAULT_PARK_LIMIT, |upstream| {
                upstream.settings.call_timeout
            })
    }
}

/// For a tool no server has (the call fails at once anyway).
const DEFAULT_PARK_LIMIT: Duration = Duration::from_secs(60);
