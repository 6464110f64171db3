//! The governed tool call: every check a call must pass (policy, a changed
//! definition, argument conditions, rate limits, guardrails on arguments and
//! result, the tool's price held against the budgets), the call itself, and
//! its audit line and span. Both a client's `tools/call` and the gateway's
//! own tool loop (`FrontDoor::call_for`) run through it.

use super::{FrontDoor, McpRequest, codes};
use crate::cost::NanoUsd;
use crate::mcp::audit::{self, CallRecord, Outcome};
use crate::mcp::catalog::Entry;
use crate::mcp::guard;
use crate::mcp::policy::Refusal;
use crate::mcp::pricing::ToolCharge;
use crate::mcp::progress::CallListeners;
use crate::mcp::upstream::UpstreamError;
use rmcp::ErrorData;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode};
use std::time::Instant;

impl FrontDoor {
    /// A checked tool call, audited, until it ends or `cancelled` resolves;
    /// with what it was charged (a priced tool's price once the server ran
    /// it, nothing otherwise), which the gateway's tool loop adds to its
    /// spend.
    pub(super) async fn governed_call(
        &self,
        request: &McpRequest,
        entry: Option<&Entry>,
        params: CallToolRequestParams,
        mut listeners: CallListeners,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> (Result<CallToolResult, ErrorData>, NanoUsd) {
        let started = Instant::now();
        let hub = &self.cx.mcp;
        let trace = self.cx.traces.enabled().then(|| {
            crate::traces::Trace::start(
                request.traceparent.as_deref(),
                self.cx.traces.sample_ratio(),
            )
        });
        let trace = trace.flatten();
        if let Some(trace) = &trace {
            listeners.traceparent =
                Some(crate::traces::traceparent(&trace.trace_id, &trace.span_id));
        }
        let arguments_value =
            serde_json::Value::Object(params.arguments.clone().unwrap_or_default());
        let argument_text = arguments_value.to_string();
        let argument_keys = params
            .arguments
            .as_ref()
            .map(|args| {
                args.keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let mut audited = CallRecord {
            request_id: &request.request_id,
            team: &request.caller.team,
            key: &request.caller.key_id,
            server: entry.map_or("", |e| &e.key.server),
            tool: entry.map_or(&params.name, |e| &e.key.tool),
            outcome: Outcome::Ok,
            duration: std::time::Duration::ZERO,
            result_bytes: 0,
            argument_bytes: argument_text.len(),
            argument_keys,
            arguments: None,
            cost: None,
        };
        // What the call was charged (a priced tool's), for the audit line;
        // set once the price is held, so a cancelled call shows it too.
        let mut charged = None;
        let outcome = tokio::select! {
            outcome = self.call_checked(
                request,
                entry,
                params.arguments,
                &arguments_value,
                &argument_text,
                listeners,
                &mut charged,
            ) => outcome,
            () = cancelled => Err((
                Outcome::Cancelled,
                ErrorData::new(codes::CANCELLED, "the client cancelled the call", None),
            )),
        };
        audited.duration = started.elapsed();
        audited.cost = charged;
        let redacted;
        let response = match outcome {
            Ok((result, redacted_arguments)) => {
                redacted = redacted_arguments;
                if hub.settings.audit_redacted_arguments {
                    audited.arguments = redacted.as_deref().or(Some(&argument_text)).filter(|_| {
                        // Without guardrails nothing was redacted: log names only.
                        !self.cx.guardrails.load().is_empty()
                    });
                }
                audited.outcome = if result.is_error == Some(true) {
                    Outcome::ToolError
                } else {
                    Outcome::Ok
                };
                audited.result_bytes = serde_json::to_vec(&result).map_or(0, |v| v.len());
                Ok(result)
            }
            Err((outcome, error)) => {
                audited.outcome = outcome;
                Err(error)
            }
        };
        audit::record(&hub.metrics, &audited);
        if let Some(trace) = &trace {
            self.cx.traces.send([tool_span(trace, &audited, request)]);
        }
        (response, charged.unwrap_or(NanoUsd(0)))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, each argument named there"
    )]
    async fn call_checked(
        &self,
        request: &McpRequest,
        entry: Option<&Entry>,
        arguments: Option<rmcp::model::JsonObject>,
        arguments_value: &serde_json::Value,
        argument_text: &str,
        listeners: CallListeners,
        charged: &mut Option<NanoUsd>,
    ) -> Result<(CallToolResult, Option<String>), Refused> {
        let hub = &self.cx.mcp;
        let team = &request.caller.team;
        let Some(entry) = entry else {
            return Err((
                Outcome::Unknown,
                ErrorData::invalid_params("unknown tool", None),
            ));
        };
        let policy = hub.settings.policy(&request.caller.team);
        let Some(policy) = policy.filter(|p| p.allows(&entry.subject)) else {
            return Err((
                Outcome::Denied,
                ErrorData::new(
                    codes::NOT_ALLOWED,
                    format!(
                        "tool `{}` is not allowed for team `{team}` by the gateway's policy",
                        entry.exposed
                    ),
                    None,
                ),
            ));
        };
        if entry.changed && hub.settings.block_changed_tools {
            return Err((
                Outcome::ChangedDefinition,
                ErrorData::new(
                    codes::CHANGED_DEFINITION,
                    format!(
                        "tool `{}` changed its definition since it was approved; an operator must approve the change",
                        entry.exposed
                    ),
                    None,
                ),
            ));
        }
        let checked = match policy.check_arguments(&entry.subject, arguments_value) {
            Ok(()) => crate::mcp::rate::take(&self.cx, team, policy, &entry.subject).await,
            refused => refused,
        };
        match checked {
            Ok(()) => {}
            Err(Refusal::NotAllowed) => {
                return Err((
                    Outcome::Denied,
                    ErrorData::new(codes::NOT_ALLOWED, "tool not allowed", None),
                ));
            }
            Err(Refusal::Arguments { pattern, reason }) => {
                return Err((
                    Outcome::InvalidArguments,
                    ErrorData::new(
                        ErrorCode::INVALID_PARAMS,
                        format!(
                            "arguments of `{}` break the team's condition for `{pattern}`: {reason}",
                            entry.exposed
                        ),
                        None,
                    ),
                ));
            }
            Err(Refusal::RateLimited {
                pattern,
                retry_after,
            }) => {
                return Err((
                    Outcome::RateLimited,
                    ErrorData::new(
                        codes::RATE_LIMITED,
                        format!(
                            "rate limit for `{pattern}` reached for team `{team}`; retry in {:.1}s",
                            retry_after.as_secs_f64()
                        ),
                        Some(
                            serde_json::json!({ "retry_after_ms": retry_after.as_millis() as u64 }),
                        ),
                    ),
                ));
            }
        }
        let guard_route = guard::route(&entry.key.server, &entry.key.tool);
        let (arguments, redacted) =
            guard::arguments(&self.cx, team, &guard_route, arguments, argument_text)
                .await
                .map_err(|rule| {
                    (
                        Outcome::GuardrailBlocked,
                        ErrorData::new(
                            codes::GUARDRAIL,
                            format!("the arguments were blocked by guardrail rule `{rule}`"),
                            None,
                        ),
                    )
                })?;
        let Some(upstream) = hub.upstream(&entry.key.server) else {
            return Err((
                Outcome::UpstreamError,
                ErrorData::new(codes::UPSTREAM_UNAVAILABLE, "server not registered", None),
            ));
        };
        // Last before the call: a refused call above holds no budget.
        let charge = ToolCharge::reserve(
            &self.cx.quota,
            request,
            &entry.key.server,
            &entry.key.tool,
            &upstream.settings.tool_prices,
        )
        .await
        .map_err(|error| (Outcome::BudgetExceeded, budget_refusal(&error)))?;
        *charged = charge.as_ref().map(|charge| charge.cost);
        let called = upstream
            .call_tool(&entry.key.tool, arguments, listeners)
            .await;
        // The server ran the call when it answered with a result (an
        // `isError` one too); a protocol error or no answer is not charged.
        if let Some(charge) = charge {
            let cost = charge.settle(called.is_ok()).await;
            *charged = (cost.0 > 0).then_some(cost);
        }
        let mut result = called
            .map_err(|error| {
                let data = match &error {
                    UpstreamError::Rpc { error, .. } => return (Outcome::UpstreamError, error.clone()),
                    _ => ErrorData::new(codes::UPSTREAM_UNAVAILABLE, error.to_string(), None),
                };
                tracing::warn!(server = %entry.key.server, tool = %entry.key.tool, %error, "MCP tool call failed");
                (Outcome::UpstreamError, data)
            })?;
        if let Some(rule) = guard::result(&self.cx, team, &guard_route, &mut result).await {
            // The tool ran; its output is withheld from the caller.
            return Err((
                Outcome::GuardrailBlocked,
                ErrorData::new(
                    codes::GUARDRAIL,
                    format!("the tool's result was blocked by guardrail rule `{rule}`"),
                    None,
                ),
            ));
        }
        Ok((result, redacted))
    }
}

/// A tool call's span, with the MCP and GenAI conventions' attributes.
fn tool_span(
    trace: &crate::traces::Trace,
    call: &CallRecord<'_>,
    request: &McpRequest,
) -> crate::traces::SpanData {
    let failed = call.outcome != Outcome::Ok;
    let mut attributes: Vec<(&'static str, crate::traces::Value)> = vec![
        ("mcp.method.name", "tools/call".into()),
        ("gen_ai.operation.name", "execute_tool".into()),
        ("gen_ai.tool.name", call.tool.to_owned().into()),
        ("switchboard.mcp.server", call.server.to_owned().into()),
        ("switchboard.team", call.team.to_owned().into()),
        (
            "switchboard.request_id",
            request.request_id.to_string().into(),
        ),
    ];
    if failed {
        attributes.push(("error.type", call.outcome.label().into()));
    }
    trace.root(
        format!("tools/call {}", call.tool).into(),
        attributes,
        failed.then(|| call.outcome.label().to_owned()),
    )
}

type Refused = (Outcome, ErrorData);

/// A priced call its budget cannot take (or whose hold the quota store
/// could not take): the refusal's message, and its limit as data.
fn budget_refusal(error: &crate::error::GatewayError) -> ErrorData {
    let data = match error {
        crate::error::GatewayError::QuotaExceeded(refusal) => {
            let mut fields = refusal.fields();
            fields["code"] = refusal.code().into();
            Some(fields)
        }
        _ => None,
    };
    ErrorData::new(codes::BUDGET_EXCEEDED, error.to_string(), data)
}
