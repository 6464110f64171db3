//! End-to-end tests of the gateway over real HTTP: the gateway and a mock
//! upstream run in-process on port 0, driven by a real HTTP client.

mod chat;
mod config_files;
mod errors;
mod harness;
mod mcp;
mod mcp_fixture;
mod mcp_guardrails;
mod mcp_replicas;
mod streaming;
