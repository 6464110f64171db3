//! The guardrail evaluation's data: labelled texts from
//! `tests/eval/guardrails/` (and the older `tests/guardrails_eval/`, kept
//! as development data), each placed where the gateway reads it. Shared by
//! the evaluation test, which scores the frozen test half, and
//! `examples/train_guardrail_scorer.rs`, which fits the injection scorer on
//! the development half.

use super::{Decision, Engine, Phase};

/// One labelled text.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Case {
    /// `pii`, `secret`, `injection` or `benign`.
    pub label: String,
    /// `prompt`, `tool_result` or `answer`.
    pub place: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub lang: String,
    pub text: String,
}

/// True and false positives and misses of one label (or pack).
#[derive(Default, Debug, Clone, Copy)]
pub struct Score {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Score {
    pub fn precision(self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }

    pub fn recall(self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
}

/// The labels and the pack that should catch each.
pub const LABELS: &[(&str, &str)] = &[
    ("pii", "pii"),
    ("secret", "secrets"),
    ("injection", "injection"),
];

impl Case {
    /// The phase in which the gateway reads text from this place.
    pub fn phase(&self) -> Phase {
        match self.place.as_str() {
            "tool_result" => Phase::ToolResult,
            "answer" => Phase::Output,
            _ => Phase::Input,
        }
    }
}

/// Every finding of `engine` on the case's text, read in the phase of its
/// place: the pattern rules, then the model rules.
pub async fn findings(engine: &Engine, case: &Case) -> Decision {
    let phase = case.phase();
    let mut decision = engine.check(phase, &case.text);
    decision.merge(engine.check_async(phase, &case.text).await);
    decision
}

/// Parse a JSON-lines file of cases.
pub fn parse(text: &str) -> Result<Vec<Case>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let case: Case =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", index + 1))?;
            let known = case.label == "benign" || LABELS.iter().any(|(l, _)| *l == case.label);
            if !known || !["prompt", "tool_result", "answer"].contains(&case.place.as_str()) {
                return Err(format!("line {}: unknown label or place", index + 1));
            }
            Ok(case)
        })
        .collect()
}

/// A line of the older evaluation files (`{"pack", "phase", "text",
/// "expect"}`) as a case: a non-empty `expect` is the pack's label.
pub fn parse_legacy(text: &str) -> Result<Vec<Case>, String> {
    #[derive(serde::Deserialize)]
    struct Legacy {
        pack: String,
        phase: String,
        text: String,
        expect: Vec<String>,
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let old: Legacy =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", index + 1))?;
            let label = match (old.expect.is_empty(), old.pack.as_str()) {
                (true, _) => "benign",
                (false, "secrets") => "secret",
                (false, pack) => pack,
            };
            let place = match old.phase.as_str() {
                "output" => "answer",
                "tool_result" | "tool_arguments" => "tool_result",
                _ => "prompt",
            };
            Ok(Case {
                label: label.to_owned(),
                place: place.to_owned(),
                kind: String::new(),
                lang: String::new(),
                text: old.text,
            })
        })
        .collect()
}
