//! The MCP gateway: upstream tool servers registered in the config or live
//! through the admin API,
//! served to agents as one MCP endpoint with per-team policy, guardrails,
//! pinning and audit.
//!
//! | file | job |
//! | --- | --- |
//! | `config.rs` | the `[mcp]` config section and its validation |
//! | `upstream.rs` | one upstream: stdio child or streamable HTTP, supervised with backoff |
//! | `hub.rs` | the registry of upstreams and the merged catalog |
//! | `catalog.rs`, `names.rs` | merged tools, safe names with hash suffixes, the reverse map |
//! | `policy.rs` | allow/deny globs, argument conditions, per-tool rate limits (in process) |
//! | `pricing.rs` | prices per tool call, charged to the caller's budgets |
//! | `rate.rs` | per-tool rate limits in Redis when the quota store is Redis |
//! | `progress.rs` | progress notifications relayed from upstreams to the client that asked |
//! | `prompts.rs` | prompts merged across servers, named like tools |
//! | `resources.rs` | resources and templates merged across servers, reads and subscriptions routed by URI |
//! | `uri_template.rs` | whether a URI fits a resource template |
//! | `listeners.rs` | clients to tell about changes (sessions, `subscriptions/listen` streams) and their resource subscriptions |
//! | `pinning.rs` | tool-definition hashes, change detection, approval |
//! | `guard.rs` | the guardrail seam for tool arguments and results |
//! | `audit.rs`, `metrics.rs` | the audit record and metrics of every call |
//! | `front.rs`, `routes.rs` | the MCP server clients see, and its HTTP mount |
//! | `admin.rs` | `/admin/mcp`: servers, merged tools, changed-tool approvals |
//! | `registry.rs` | `/admin/mcp/servers`: adding, replacing and removing servers live, saved across restarts |
//! | `sessions.rs` | legacy sessions in Redis, shared between replicas |
//! | `oauth.rs`, `jwt.rs` | OAuth resource-server mode: config, RFC 9728 metadata, JWT checks |

pub mod admin;
pub mod audit;
pub mod callers;
pub mod catalog;
pub mod config;
pub mod context;
pub mod front;
pub mod guard;
pub mod hub;
pub mod input_bridge;
pub mod jwt;
pub mod listeners;
pub mod metrics;
pub mod names;
pub mod oauth;
pub mod pinning;
pub mod policy;
pub mod pricing;
pub mod progress;
pub mod prompts;
pub mod rate;
pub mod registry;
pub mod resources;
mod rest_config;
pub mod routes;
pub mod sampling;
pub mod sessions;
mod traced_http;
pub mod upstream;
mod upstream_client;
pub mod uri_template;

pub use config::{McpSettings, RawMcp};
pub use context::McpContext;
pub use hub::McpHub;
pub use routes::routes;
