//! The seam where tool arguments and tool results pass the guardrail stage
//! (`Phase::ToolArguments`, `Phase::ToolResult`). Guardrails run in order;
//! a redaction is what the next guardrail sees.

use crate::seams::guardrail::{Guardrail, Phase, Verdict};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use std::sync::Arc;

#[derive(Debug, PartialEq, Eq)]
pub enum Guarded {
    /// Passed; `redacted` holds the replacement text when a guardrail redacted.
    Pass {
        redacted: Option<String>,
        flags: Vec<String>,
    },
    Block {
        rule: String,
    },
}

pub fn check(guardrails: &[Arc<dyn Guardrail>], phase: Phase, text: &str) -> Guarded {
    let mut redacted: Option<String> = None;
    let mut flags = Vec::new();
    for guardrail in guardrails {
        let current = redacted.as_deref().unwrap_or(text);
        match guardrail.check(phase, current) {
            Verdict::Allow => {}
            Verdict::Flag { rule } => flags.push(rule),
            Verdict::Redact { rule, text } => {
                flags.push(rule);
                redacted = Some(text);
            }
            Verdict::Block { rule } => return Guarded::Block { rule },
        }
    }
    Guarded::Pass { redacted, flags }
}

/// Guard a call's arguments. On redaction the redacted JSON is what goes
/// upstream; a redaction that is no longer a JSON object blocks the call.
pub fn arguments(
    guardrails: &[Arc<dyn Guardrail>],
    arguments: Option<JsonObject>,
    text: &str,
) -> Result<(Option<JsonObject>, Option<String>), String> {
    if guardrails.is_empty() {
        return Ok((arguments, None));
    }
    match check(guardrails, Phase::ToolArguments, text) {
        Guarded::Block { rule } => Err(rule),
        Guarded::Pass { redacted: None, .. } => Ok((arguments, None)),
        Guarded::Pass {
            redacted: Some(redacted),
            mut flags,
        } => match serde_json::from_str::<JsonObject>(&redacted) {
            Ok(object) => Ok((Some(object), Some(redacted))),
            Err(_) => Err(flags.pop().unwrap_or_else(|| "redaction".to_owned())),
        },
    }
}

/// Guard a result's text blocks in place; returns the blocking rule, if any.
pub fn result(guardrails: &[Arc<dyn Guardrail>], result: &mut CallToolResult) -> Option<String> {
    if guardrails.is_empty() {
        return None;
    }
    for block in &mut result.content {
        if let ContentBlock::Text(content) = block {
            match check(guardrails, Phase::ToolResult, &content.text) {
                Guarded::Block { rule } => return Some(rule),
                Guarded::Pass {
                    redacted: Some(text),
                    ..
                } => content.text = text,
                Guarded::Pass { .. } => {}
            }
        }
    }
    if let Some(structured) = &result.structured_content {
        let text = structured.to_string();
        match check(guardrails, Phase::ToolResult, &text) {
            Guarded::Block { rule } => return Some(rule),
            Guarded::Pass {
                redacted: Some(text),
                ..
            } => {
                // A redaction that breaks the JSON drops the structured form;
                // the text blocks still carry the (redacted) result.
                result.structured_content = serde_json::from_str(&text).ok();
            }
            Guarded::Pass { .. } => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seams::guardrail::KeywordGuardrail;

    struct Redactor;
    impl Guardrail for Redactor {
        fn check(&self, _phase: Phase, text: &str) -> Verdict {
            if text.contains("sk-secret") {
                Verdict::Redact {
                    rule: "secret".into(),
                    text: text.replace("sk-secret", "[REDACTED]"),
                }
            } else {
                Verdict::Allow
            }
        }
    }

    fn guards() -> Vec<Arc<dyn Guardrail>> {
        vec![
            Arc::new(Redactor),
            Arc::new(KeywordGuardrail::new(
                "deny.drop",
                &[Phase::ToolArguments, Phase::ToolResult],
                &["drop table"],
            )),
        ]
    }

    #[test]
    fn arguments_are_redacted_or_blocked() {
        let args: JsonObject = serde_json::from_str(r#"{"q":"sk-secret"}"#).unwrap();
        let text = serde_json::to_string(&args).unwrap();
        let (forwarded, redacted) = arguments(&guards(), Some(args), &text).unwrap();
        assert_eq!(redacted.as_deref(), Some(r#"{"q":"[REDACTED]"}"#));
        assert_eq!(forwarded.unwrap()["q"], "[REDACTED]");
        assert_eq!(
            arguments(&guards(), None, r#"{"q":"DROP TABLE x"}"#),
            Err("deny.drop".to_owned())
        );
    }

    #[test]
    fn results_are_redacted_or_blocked() {
        let mut ok = CallToolResult::success(vec![ContentBlock::text("key sk-secret")]);
        assert_eq!(result(&guards(), &mut ok), None);
        assert_eq!(ok.content[0].as_text().unwrap().text, "key [REDACTED]");
        let mut bad = CallToolResult::success(vec![ContentBlock::text("drop table users")]);
        assert_eq!(result(&guards(), &mut bad), Some("deny.drop".to_owned()));
    }
}
