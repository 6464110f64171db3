//! The audit record of every `tools/call`: one log line (target
//! `switchboard::mcp::audit`) and the call metrics. Arguments appear only as
//! their names and size, or, when configured, as the guardrail stage passed
//! them on (redactions applied); never raw.

use super::metrics::{CallLabels, McpMetrics, ServerLabels};
use std::time::Duration;

pub struct CallRecord<'a> {
    pub request_id: &'a str,
    pub team: &'a str,
    pub key: &'a str,
    pub server: &'a str,
    pub tool: &'a str,
    pub outcome: Outcome,
    pub duration: Duration,
    pub result_bytes: usize,
    pub argument_bytes: usize,
    /// Argument names, comma-separated.
    pub argument_keys: String,
    /// The redacted argument text, when configured and available.
    pub arguments: Option<&'a str>,
    /// What the call was charged (`tool_prices`), if anything.
    pub cost: Option<crate::cost::NanoUsd>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The tool ran and reported an error (`isError`).
    ToolError,
    Denied,
    InvalidArguments,
    RateLimited,
    ChangedDefinition,
    GuardrailBlocked,
    UpstreamError,
    Cancelled,
    /// A priced tool's call refused by the team's or key's budget.
    BudgetExceeded,
    Unknown,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Denied => "denied",
            Self::InvalidArguments => "invalid_arguments",
            Self::RateLimited => "rate_limited",
            Self::ChangedDefinition => "changed_definition",
            Self::GuardrailBlocked => "guardrail_blocked",
            Self::UpstreamError => "upstream_error",
            Self::Cancelled => "cancelled",
            Self::BudgetExceeded => "budget_exceeded",
            Self::Unknown => "unknown_tool",
        }
    }
}

/// The tool's name, or `unknown` for a name no server has: that is the
/// client's text, which neither a metric label nor the recent calls keep.
fn known_tool<'a>(call: &CallRecord<'a>) -> &'a str {
    if call.server.is_empty() {
        "unknown"
    } else {
        call.tool
    }
}

pub fn record(metrics: &McpMetrics, call: &CallRecord<'_>) {
    tracing::info!(
        target: "switchboard::mcp::audit",
        request_id = call.request_id,
        team = call.team,
        key = call.key,
        server = call.server,
        tool = call.tool,
        outcome = call.outcome.label(),
        duration_ms = call.duration.as_secs_f64() * 1000.0,
        result_bytes = call.result_bytes,
        argument_bytes = call.argument_bytes,
        argument_keys = %call.argument_keys,
        arguments = call.arguments,
        cost_usd = call.cost.map(crate::cost::NanoUsd::as_usd),
        "tools/call"
    );
    if let Some(cost) = call.cost {
        metrics
            .tool_cost_usd
            .get_or_create(&super::metrics::CostLabels {
                team: call.team.to_owned(),
                server: call.server.to_owned(),
                tool: call.tool.to_owned(),
            })
            .inc_by(cost.as_usd());
    }
    metrics
        .calls
        .get_or_create(&CallLabels {
            team: call.team.to_owned(),
            server: call.server.to_owned(),
            tool: known_tool(call).to_owned(),
            outcome: call.outcome.label(),
        })
        .inc();
    {
        let mut recent = metrics.recent.lock();
        if recent.len() == super::metrics::RECENT_CALLS {
            recent.pop_front();
        }
        recent.push_back(super::metrics::RecentCall {
            at_ms: crate::shapes::unix_seconds() * 1000,
            request_id: call.request_id.chars().take(200).collect(),
            team: call.team.to_owned(),
            key: call.key.to_owned(),
            server: call.server.to_owned(),
            tool: known_tool(call).to_owned(),
            outcome: call.outcome.label(),
            ms: call.duration.as_secs_f64() * 1000.0,
        });
    }
    let server = ServerLabels {
        server: call.server.to_owned(),
    };
    metrics
        .call_duration
        .get_or_create(&server)
        .observe(call.duration.as_secs_f64());
    if call.outcome == Outcome::Ok || call.outcome == Outcome::ToolError {
        metrics
            .result_bytes
            .get_or_create(&server)
            .observe(call.result_bytes as f64);
    }
}
