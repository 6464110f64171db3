//! Switchboard: an AI and MCP gateway. See ARCHITECTURE.md for the map.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod cost;
pub mod data_files;
pub mod directory;
pub mod error;
pub mod gateway;
pub mod guardrails;
pub mod http;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod prompts;
pub mod provider;
pub mod quota;
pub mod readiness;
pub mod reload;
pub mod request_log;
pub mod routing;
pub mod seams;
pub mod server;
pub mod shapes;
pub mod shared_redis;
pub mod stored_responses;
pub mod telemetry;
#[doc(hidden)]
pub mod test_support;
pub mod tls;
pub mod tokens;
pub mod traces;
pub mod ui;

/// rustls needs one process-wide crypto provider; ring builds anywhere
/// without a C toolchain beyond the usual.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
