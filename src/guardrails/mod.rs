//! Guardrails on prompts, responses, streams and tool calls.
//!
//! Policies are data: rule packs in `guardrails/*.toml` (`pack.rs`), bound to
//! teams and routes in the config (`binding.rs`). Each binding compiles its
//! rules once into an [`Engine`] (`engine.rs`): regex and keyword rules in one
//! pass, confirmed by validators (`validators/`); semantic rules by meaning
//! (`semantic.rs`); webhook rules by an external service (`webhook.rs`).
//!
//! The API other front doors use (e.g. MCP for tool arguments and results):
//! - per request, [`RequestGuard::for_route`] (team and a route name such as
//!   `mcp/<server>/<tool>`), then [`RequestGuard::guard_text`] per text and
//!   phase: blocks as `GatewayError::ContentPolicy` (map it to a JSON-RPC
//!   error), redacts in place, flags, logs and counts;
//! - lower down, `Engine::check(phase, text) -> Decision` for pattern and
//!   keyword rules (one pass, on the caller's thread),
//!   `Engine::check_async(phase, text).await` for semantic rules (on the
//!   embedding thread) and webhooks, [`Redactions`] for typed placeholders
//!   and their restoration, and [`record_decision`] to log and count.

pub mod binding;
pub mod encoder;
pub mod engine;
pub mod evaluation;
pub mod pack;
mod pii_ids;
mod redact;
pub mod scorer;
pub mod semantic;
pub mod sentence_scorer;
pub mod stage;
pub mod validators;
pub mod webhook;
pub mod window;

mod phase;
pub use binding::{Guardrails, RawGuardrails};
pub use engine::{Engine, Overrides, Phases};
pub use pack::{Action, RulePack, load_packs, phase_label};
pub use phase::Phase;
pub use redact::Redactions;
pub use stage::{RequestGuard, record as record_decision};

use engine::CompiledRule;
use std::sync::Arc;

/// One rule that matched, and where. The span is for redaction only: the
/// matched text itself is never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Arc<str>,
    pub pack: Arc<str>,
    pub action: Action,
    /// Placeholder type, e.g. `EMAIL`.
    pub label: Arc<str>,
    pub start: usize,
    pub end: usize,
    /// Index of the rule in its engine.
    pub rule_index: usize,
}

impl Finding {
    fn new(rule_index: usize, rule: &CompiledRule, start: usize, end: usize) -> Self {
        Self {
            rule: rule.id.clone(),
            pack: rule.pack.clone(),
            action: rule.action,
            label: rule.label.clone(),
            start,
            end,
            rule_index,
        }
    }
}

/// Everything the rules found in one text, ordered by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub findings: Vec<Finding>,
}

impl Decision {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The first finding whose action is to block.
    pub fn blocking(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.action == Action::Block)
    }

    /// Whether any finding asks for redaction.
    pub fn redacts(&self) -> bool {
        self.findings.iter().any(|f| f.action == Action::Redact)
    }

    /// The strongest action asked for, if any.
    pub fn action(&self) -> Option<Action> {
        self.findings.iter().map(|f| f.action).max()
    }

    pub fn merge(&mut self, other: Decision) {
        self.findings.extend(other.findings);
    }
}

/// An HTTP client for tests (rustls needs its crypto provider first).
#[cfg(test)]
pub(crate) fn test_client() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::new()
}
