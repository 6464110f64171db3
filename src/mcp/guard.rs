//! The seam where tool arguments and tool results pass the guardrail stage
//! (`Phase::ToolArguments`, `Phase::ToolResult`). The bindings that apply are
//! the team's for the route `mcp/<server>/<tool>`, so `[[guardrails.bindings]]`
//! with `models = ["mcp/*"]` covers every tool.

use super::McpContext;
use crate::error::GatewayError;
use crate::guardrails::Phase;
use crate::guardrails::stage::RequestGuard;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};

/// The guardrail route name of one tool.
pub fn route(server: &str, tool: &str) -> String {
    format!("mcp/{server}/{tool}")
}

/// The rule a guardrail error names, for the JSON-RPC error.
fn rule_of(error: GatewayError) -> String {
    match error {
        GatewayError::ContentPolicy { rule, .. } => rule,
        other => other.to_string(),
    }
}

/// Guard a call's arguments. On redaction the redacted JSON is what goes
/// upstream; a redaction that is no longer a JSON object blocks the call.
pub async fn arguments(
    cx: &McpContext,
    team: &str,
    route: &str,
    arguments: Option<JsonObject>,
    text: &str,
) -> Result<(Option<JsonObject>, Option<String>), String> {
    let mut guard = RequestGuard::for_route(&cx.guardrails.load(), team, route);
    let mut checked = text.to_owned();
    guard
        .guard_text(&cx.decisions, "-", team, Phase::ToolArguments, &mut checked)
        .await
        .map_err(rule_of)?;
    if checked == text {
        return Ok((arguments, None));
    }
    match serde_json::from_str::<JsonObject>(&checked) {
        Ok(object) => Ok((Some(object), Some(checked))),
        Err(_) => Err("redaction".to_owned()),
    }
}

/// Guard a result's text blocks in place; returns the blocking rule, if any.
pub async fn result(
    cx: &McpContext,
    team: &str,
    route: &str,
    result: &mut CallToolResult,
) -> Option<String> {
    let mut guard = RequestGuard::for_route(&cx.guardrails.load(), team, route);
    for block in &mut result.content {
        if let ContentBlock::Text(content) = block
            && let Err(error) = guard
                .guard_text(
                    &cx.decisions,
                    "-",
                    team,
                    Phase::ToolResult,
                    &mut content.text,
                )
                .await
        {
            return Some(rule_of(error));
        }
    }
    if let Some(structured) = &result.structured_content {
        let mut text = structured.to_string();
        if let Err(error) = guard
            .guard_text(&cx.decisions, "-", team, Phase::ToolResult, &mut text)
            .await
        {
            return Some(rule_of(error));
        }
        // A redaction that breaks the JSON drops the structured form; the
        // text blocks still carry the (redacted) result.
        result.structured_content = serde_json::from_str(&text).ok();
    }
    None
}

/// Guard the texts of a server's sampling request before they reach the
/// client's model (a server must not carry data out, or instructions in,
/// through one): the system prompt and every text block, as tool results of
/// the call that caused it. Redactions stay in what the client sees;
/// returns the blocking rule, if any.
#[allow(deprecated)] // sampling: deprecated by the 2026-07-28 revision
pub async fn sampling(
    cx: &McpContext,
    team: &str,
    route: &str,
    params: &mut rmcp::model::CreateMessageRequestParams,
) -> Result<(), String> {
    use rmcp::model::{SamplingContent, SamplingMessageContentBlock};
    let mut guard = RequestGuard::for_route(&cx.guardrails.load(), team, route);
    let decisions = &cx.decisions;
    if let Some(system) = &mut params.system_prompt {
        guard
            .guard_text(decisions, "-", team, Phase::ToolResult, system)
            .await
            .map_err(rule_of)?;
    }
    for message in &mut params.messages {
        let blocks = match &mut message.content {
            SamplingContent::Single(block) => std::slice::from_mut(block),
            SamplingContent::Multiple(blocks) => blocks.as_mut_slice(),
        };
        for block in blocks {
            if let SamplingMessageContentBlock::Text(content) = block {
                guard
                    .guard_text(decisions, "-", team, Phase::ToolResult, &mut content.text)
                    .await
                    .map_err(rule_of)?;
            }
        }
    }
    Ok(())
}
