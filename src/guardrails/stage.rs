//! The guard stages of the chat pipeline: input (stage 3) over every message
//! text, output (stage 8) over complete responses. Streams are guarded by
//! `window.rs` in the relay. Decisions are logged and counted here: rule id,
//! action, phase, never the matched text.

use super::binding::Binding;
use super::pack::phase_label;
use super::{Action, Decision, Phase, Redactions};
use crate::api::chat::{ChatRequest, Message, Role};
use crate::error::GatewayError;
use crate::guardrails::Guardrails;
use crate::metrics::GuardrailDecisions;
use crate::metrics::GuardrailLabels;
use bytes::Bytes;
use http::HeaderValue;
use serde_json::Value;
use std::sync::Arc;

/// What the input stage learned, carried to the output stage or the stream.
#[derive(Debug, Default)]
pub struct RequestGuard {
    pub(super) bindings: Vec<Arc<Binding>>,
    /// Placeholders put into the prompt, and their originals.
    pub(super) redactions: Redactions,
    /// Whether to put the originals back into the response.
    pub(super) restore: bool,
    /// Rules that flagged the request or response, in order, without repeats.
    flagged: Vec<Arc<str>>,
    redacted: usize,
}

/// Where a text sits in the request, for the error's `param`.
#[derive(Clone, Copy)]
enum Place {
    Content(usize),
    Part(usize, usize),
    Arguments(usize, usize),
}

impl Place {
    fn param(self) -> String {
        match self {
            Self::Content(m) => format!("messages[{m}].content"),
            Self::Part(m, p) => format!("messages[{m}].content[{p}].text"),
            Self::Arguments(m, c) => format!("messages[{m}].tool_calls[{c}].function.arguments"),
        }
    }
}

/// Every text of the messages, with its phase: tool messages are tool
/// results, tool-call arguments are tool arguments, the rest is input.
fn texts_mut(messages: &mut [Message]) -> Vec<(Phase, Place, &mut String)> {
    let mut out = Vec::new();
    for (m, message) in messages.iter_mut().enumerate() {
        let phase = match message.role {
            Role::Tool | Role::Function => Phase::ToolResult,
            _ => Phase::Input,
        };
        match &mut message.content {
            Some(Value::String(text)) => out.push((phase, Place::Content(m), text)),
            Some(Value::Array(parts)) => {
                for (p, part) in parts.iter_mut().enumerate() {
                    if let Some(Value::String(text)) = part.get_mut("text") {
                        out.push((phase, Place::Part(m, p), text));
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(calls)) = message.extra.get_mut("tool_calls") {
            for (c, call) in calls.iter_mut().enumerate() {
                if let Some(Value::String(text)) = call.pointer_mut("/function/arguments") {
                    out.push((Phase::ToolArguments, Place::Arguments(m, c), text));
                }
            }
        }
    }
    out
}

/// Log and count every finding; never the matched text.
pub fn record(
    decisions: &GuardrailDecisions,
    request_id: &str,
    team: &str,
    phase: Phase,
    decision: &Decision,
) {
    for finding in &decision.findings {
        let phase = phase_label(phase);
        decisions
            .get_or_create(&GuardrailLabels {
                pack: finding.pack.to_string(),
                rule: finding.rule.to_string(),
                action: finding.action.label(),
                phase,
                team: team.to_owned(),
            })
            .inc();
        tracing::info!(
            target: "switchboard::guardrails",
            request_id,
            team,
            pack = &*finding.pack,
            rule = &*finding.rule,
            action = finding.action.label(),
            phase,
            "guardrail matched"
        );
    }
}

impl RequestGuard {
    /// Stage 3: runs the bindings for this team and route over every text
    /// of the request; blocks, redacts in place, or flags.
    pub async fn check_request(
        guardrails: &Guardrails,
        decisions: &GuardrailDecisions,
        request_id: &str,
        team: &str,
        request: &mut ChatRequest,
    ) -> Result<Self, GatewayError> {
        let mut guard = Self::for_route(guardrails, team, &request.model);
        if guard.bindings.is_empty() {
            return Ok(guard);
        }
        for (phase, place, text) in texts_mut(&mut request.messages) {
            guard
                .guard_text(decisions, request_id, team, phase, text)
                .await
                .map_err(|error| match error {
                    GatewayError::ContentPolicy { rule, phase, .. } => {
                        GatewayError::ContentPolicy {
                            rule,
                            phase,
                            param: Some(place.param()),
                        }
                    }
                    other => other,
                })?;
        }
        Ok(guard)
    }

    /// The guard for a team on a route: the model name as the client sent
    /// it, or any name another front door binds by (e.g. an MCP tool).
    pub fn for_route(guardrails: &Guardrails, team: &str, route: &str) -> Self {
        Self {
            bindings: guardrails.select(team, route),
            ..Self::default()
        }
    }

    /// Runs the bindings over one text in `phase`: a block is a
    /// `ContentPolicy` error (param unset), a redaction rewrites `text` in
    /// place with placeholders, a flag is remembered for the header. Every
    /// decision is logged and counted. This is the entry point for tool
    /// arguments and results from other front doors.
    pub async fn guard_text(
        &mut self,
        decisions: &GuardrailDecisions,
        request_id: &str,
        team: &str,
        phase: Phase,
        text: &mut String,
    ) -> Result<(), GatewayError> {
        let bindings = self.bindings.clone();
        let before = self.redactions.len();
        let pass = apply_bindings(
            &bindings,
            (decisions, request_id, team),
            phase,
            text,
            &mut self.redactions,
            &mut self.flagged,
        )
        .await?;
        self.redacted += self.redactions.len() - before;
        self.restore |= pass.restore;
        Ok(())
    }

    /// `text` with this request's placeholders put back to their originals.
    pub fn restore_text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.redactions.restore(text)
    }

    /// Whether the input stage replaced anything with placeholders.
    pub fn redacted(&self) -> bool {
        !self.redactions.is_empty()
    }

    /// Rule ids that flagged so far, in order.
    pub fn flagged(&self) -> &[Arc<str>] {
        &self.flagged
    }

    /// Whether the response needs looking at: output rules, or originals to put back.
    pub fn guards_output(&self) -> bool {
        (self.restore && !self.redactions.is_empty())
            || self
                .bindings
                .iter()
                .any(|b| b.engine.covers(Phase::Output) || b.engine.covers(Phase::ToolArguments))
    }

    /// Stage 8 for a complete response: output rules over the message
    /// contents and tool-call arguments, then the originals restored. The
    /// body is rewritten only when something changed.
    pub async fn check_response(
        &mut self,
        decisions: &GuardrailDecisions,
        request_id: &str,
        team: &str,
        body: Bytes,
    ) -> Result<Bytes, GatewayError> {
        if !self.guards_output() {
            return Ok(body);
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
            return Ok(body);
        };
        let mut texts: Vec<(Phase, &mut String)> = Vec::new();
        let choices = value.get_mut("choices").and_then(Value::as_array_mut);
        for choice in choices.into_iter().flatten() {
            let Some(message) = choice.get_mut("message") else {
                continue;
            };
            let (content, calls) = split_message(message);
            if let Some(text) = content {
                texts.push((Phase::Output, text));
            }
            texts.extend(calls.into_iter().map(|t| (Phase::ToolArguments, t)));
        }
        let changed = self
            .check_answer_texts(decisions, request_id, team, texts)
            .await?;
        if !changed {
            return Ok(body);
        }
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|e| GatewayError::Internal(format!("re-encoding a guarded response: {e}")))
    }

    /// Stage 8 over the texts of an answer, whatever its shape (a chat
    /// completion's messages, a response object's output items): output
    /// rules on each, then the originals restored, in place. Returns
    /// whether any text changed.
    pub async fn check_answer_texts(
        &mut self,
        decisions: &GuardrailDecisions,
        request_id: &str,
        team: &str,
        texts: Vec<(Phase, &mut String)>,
    ) -> Result<bool, GatewayError> {
        let mut changed = false;
        // Output redactions are never restored: the user must not see them.
        let mut output_redactions = Redactions::default();
        let bindings = self.bindings.clone();
        for (phase, text) in texts {
            let pass = apply_bindings(
                &bindings,
                (decisions, request_id, team),
                phase,
                text,
                &mut output_redactions,
                &mut self.flagged,
            )
            .await?;
            changed |= pass.redacted;
            if self.restore
                && let std::borrow::Cow::Owned(restored) = self.redactions.restore(text)
            {
                *text = restored;
                changed = true;
            }
        }
        self.redacted += output_redactions.len();
        Ok(changed)
    }

    /// `x-switchboard-guardrails`: `flagged=<rule ids>` and `redacted=<count>`.
    pub fn header(&self) -> Option<HeaderValue> {
        let mut parts = Vec::new();
        if !self.flagged.is_empty() {
            let ids: Vec<&str> = self.flagged.iter().map(|r| &**r).collect();
            parts.push(format!("flagged={}", ids.join(",")));
        }
        if self.redacted > 0 {
            parts.push(format!("redacted={}", self.redacted));
        }
        if parts.is_empty() {
            return None;
        }
        HeaderValue::from_str(&parts.join("; ")).ok()
    }
}

/// The content string and the tool-call argument strings of a message.
fn split_message(message: &mut Value) -> (Option<&mut String>, Vec<&mut String>) {
    let Some(object) = message.as_object_mut() else {
        return (None, Vec::new());
    };
    let mut content = None;
    let mut calls = Vec::new();
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("content", Value::String(text)) => content = Some(text),
            ("tool_calls", Value::Array(list)) => {
                for call in list {
                    if let Some(Value::String(text)) = call.pointer_mut("/function/arguments") {
                        calls.push(text);
                    }
                }
            }
            _ => {}
        }
    }
    (content, calls)
}

/// What one pass of the bindings over a text did.
struct Pass {
    /// Some binding replaced part of the text with placeholders.
    redacted: bool,
    /// A binding that redacted asks for the originals back in the answer.
    restore: bool,
}

/// Every binding over one text in `phase`: each decision logged and
/// counted, a block returned as a `ContentPolicy` error (param unset), flags
/// remembered in `flagged`, redactions made in place into `redactions`.
async fn apply_bindings(
    bindings: &[Arc<Binding>],
    (decisions, request_id, team): (&GuardrailDecisions, &str, &str),
    phase: Phase,
    text: &mut String,
    redactions: &mut Redactions,
    flagged: &mut Vec<Arc<str>>,
) -> Result<Pass, GatewayError> {
    let mut pass = Pass {
        redacted: false,
        restore: false,
    };
    for binding in bindings {
        let engine = &binding.engine;
        let mut decision = engine.check(phase, text);
        if engine.has_async_rules(phase) {
            decision.merge(engine.check_async(phase, text).await);
        }
        if decision.is_clean() {
            continue;
        }
        record(decisions, request_id, team, phase, &decision);
        if let Some(finding) = decision.blocking() {
            return Err(GatewayError::ContentPolicy {
                rule: finding.rule.to_string(),
                phase: phase_label(phase),
                param: None,
            });
        }
        for finding in decision
            .findings
            .iter()
            .filter(|f| f.action == Action::Flag)
        {
            if !flagged.contains(&finding.rule) {
                flagged.push(finding.rule.clone());
            }
        }
        if decision.redacts() {
            *text = redactions.redact(text, &decision.findings);
            pass.redacted = true;
            pass.restore |= binding.restore;
        }
    }
    Ok(pass)
}
