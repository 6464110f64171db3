//! Approvals a Responses request answers (`mcp_approval_response` input
//! items, with `previous_response_id`): the approved calls run before the
//! loop's first model call, the refused ones are told to the model.

use super::servers::invalid;
use super::{Loop, limit};
use crate::error::GatewayError;
use serde_json::{Value, json};

impl Loop<'_> {
    /// The tool messages for the approval requests of `previous_output`
    /// that `input_items` answer. A limit or a budget reached on the way
    /// leaves the loop stopped.
    pub(super) async fn answer_approvals(
        &mut self,
        input_items: &[Value],
        previous_output: &[Value],
    ) -> Result<Vec<Value>, GatewayError> {
        let mut added = Vec::new();
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
            if answer["approve"] != true {
                added.push(json!({"role": "tool", "tool_call_id": call_id,
                                  "content": "The user did not approve this call."}));
                continue;
            }
            if let Some(reached) = self.limits.before_tool() {
                self.stopped = Some(limit(reached));
                break;
            }
            added.push(
                self.call(&call_id, &function, &arguments, Some(asked))
                    .await,
            );
            if self.stopped.is_some() {
                break;
            }
        }
        Ok(added)
    }
}
