//! `Guardrail`: inspects text in one phase and decides.

/// Where in a request's life the text was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Input,
    Output,
    ToolArguments,
    ToolResult,
}

/// What a guardrail decided about one piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Let it through, but record the rule that matched.
    Flag {
        rule: String,
    },
    /// Replace the text with this one.
    Redact {
        rule: String,
        text: String,
    },
    Block {
        rule: String,
    },
}

pub trait Guardrail: Send + Sync {
    fn check(&self, phase: Phase, text: &str) -> Verdict;
}

/// Blocks text containing any of a list of words (case-insensitive).
#[derive(Debug, Clone)]
pub struct KeywordGuardrail {
    rule: String,
    phases: Vec<Phase>,
    words: Vec<String>,
}

impl KeywordGuardrail {
    pub fn new(rule: &str, phases: &[Phase], words: &[&str]) -> Self {
        Self {
            rule: rule.to_owned(),
            phases: phases.to_vec(),
            words: words.iter().map(|w| w.to_lowercase()).collect(),
        }
    }
}

impl Guardrail for KeywordGuardrail {
    fn check(&self, phase: Phase, text: &str) -> Verdict {
        if !self.phases.contains(&phase) {
            return Verdict::Allow;
        }
        let lower = text.to_lowercase();
        if self.words.iter().any(|word| lower.contains(word.as_str())) {
            Verdict::Block {
                rule: self.rule.clone(),
            }
        } else {
            Verdict::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_only_in_its_phases() {
        let guard = KeywordGuardrail::new("deny.codename", &[Phase::Input], &["Bluebird"]);
        assert_eq!(
            guard.check(Phase::Input, "about BLUEBIRD"),
            Verdict::Block {
                rule: "deny.codename".into()
            }
        );
        assert_eq!(guard.check(Phase::Output, "about bluebird"), Verdict::Allow);
        assert_eq!(guard.check(Phase::Input, "about robins"), Verdict::Allow);
    }
}
