//! One tool call of the loop, through the MCP front door's governed call
//! as the caller: an `mcp_call` item, the tool message the model reads, and
//! what the call was charged added to the loop's spend.

use super::Loop;
use crate::api::responses::new_id;
use crate::mcp::front::codes;
use rmcp::model::ContentBlock;
use serde_json::{Map, Value, json};

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
    /// Run one approved (or approval-free) call: an `mcp_call` item (its
    /// `error` in OpenAI's shapes: the server's or the gateway's refusal as
    /// an `mcp_protocol_error`, a tool that reported an error as an
    /// `mcp_tool_execution_error`) and the tool message the model reads.
    pub(super) async fn call(
        &mut self,
        call_id: &str,
        function: &str,
        arguments: &str,
        approval: Option<&str>,
    ) -> Value {
        let Some(offered) = self.offered(function) else {
            self.limits.tool_called(crate::cost::NanoUsd(0));
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
                self.limits.tool_called(crate::cost::NanoUsd(0));
                let message = "the arguments are not a JSON object";
                (
                    Value::Null,
                    protocol(-32602, message),
                    format!("error: {message}"),
                )
            }
            Some(arguments) => {
                let (called, charged) = self
                    .front
                    .call_for(&self.caller, function, Some(arguments))
                    .await;
                self.limits.tool_called(charged);
                match called {
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
