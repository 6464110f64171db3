//! The MCP gateway: upstream tool servers registered once in the config,
//! served to agents as one MCP endpoint with per-team policy, guardrails,
//! pinning and audit.
//!
//! | file | job |
//! | --- | --- |
//! | `config.rs` | the `[mcp]` config section and its validation |
//! | `upstream.rs` | one upstream: stdio child or streamable HTTP, supervised with backoff |
//! | `hub.rs` | the registry of upstreams and the merged catalog |
//! | `catalog.rs`, `names.rs` | merged tools, safe names with hash suffixes, the reverse map |
//! | `policy.rs` | allow/deny globs, argument conditions, per-tool rate limits |
//! | `prompts.rs` | prompts merged across servers, named like tools |
//! | `resources.rs` | resources merged across servers, reads routed by URI |
//! | `pinning.rs` | tool-definition hashes, change detection, approval |
//! | `guard.rs` | the guardrail seam for tool arguments and results |
//! | `audit.rs`, `metrics.rs` | the audit record and metrics of every call |
//! | `front.rs`, `routes.rs` | the MCP server clients see, and its HTTP mount |
//! | `sessions.rs` | legacy sessions in Redis, shared between replicas |

pub mod audit;
pub mod catalog;
pub mod config;
pub mod front;
pub mod guard;
pub mod hub;
pub mod metrics;
pub mod names;
pub mod pinning;
pub mod policy;
pub mod prompts;
pub mod resources;
pub mod routes;
pub mod sessions;
pub mod upstream;

pub use config::{McpSettings, RawMcp};
pub use hub::McpHub;
pub use routes::routes;
