//! End-to-end tests of the gateway over real HTTP: the gateway and a mock
//! upstream run in-process on port 0, driven by a real HTTP client.

mod cache;
mod cache_eval;
mod cache_stores;
mod chat;
mod cli;
mod config_files;
mod errors;
mod fuzz;
mod guardrails;
mod guardrails_eval;
mod harness;
mod layers;
mod mcp;
mod mcp_admin;
mod mcp_fixture;
mod mcp_guardrails;
mod mcp_listen;
mod mcp_oauth;
mod mcp_registry;
mod mcp_replicas;
mod openapi;
mod processes;
mod quota_http;
mod quota_processes;
mod quota_redis;
mod quota_stream;
mod readiness;
mod reload;
mod request_log;
mod routing;
mod streaming;
mod tls;
mod tool_prices;
mod traces;
mod wires;
