//! What the MCP front door uses of the rest of the gateway, handed to it when
//! its routes are built: the hub it owns, and shared handles to the key store
//! and the guardrails (both swapped whole by a reload), the guardrail
//! decision counter and the quota store (per-tool rate limits).

use super::McpHub;
use crate::auth::KeyStore;
use crate::guardrails::Guardrails;
use crate::metrics::GuardrailDecisions;
use crate::quota::Quota;
use arc_swap::ArcSwap;
use std::sync::Arc;

#[derive(Clone)]
pub struct McpContext {
    pub mcp: Arc<McpHub>,
    pub keys: Arc<ArcSwap<KeyStore>>,
    pub guardrails: Arc<ArcSwap<Guardrails>>,
    pub decisions: GuardrailDecisions,
    pub quota: Arc<Quota>,
    /// Where tool calls' spans go (`[otel]`).
    pub traces: Arc<crate::traces::Exporter>,
    /// The chat stages, for servers whose sampling the gateway answers.
    pub sampler: Option<Arc<dyn super::sampling::ModelSampler>>,
}
