//! MCP metrics: tool calls by outcome, their duration and result size,
//! upstream health and restarts, changed tool definitions. Registered in the
//! gateway's registry (see `crate::metrics`).

use super::upstream::Health;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub team: String,
    pub server: String,
    pub tool: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub server: String,
    pub tool: String,
}

/// A priced tool's calls: only tools the catalog has are priced, so the
/// labels are as bounded as the catalog.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    pub team: String,
    pub server: String,
    pub tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerRequestLabels {
    pub server: String,
    /// `sampling/createMessage`, `elicitation/create` or `roots/list`.
    pub method: &'static str,
    /// `ok`, `error`, or `refused` with its reason.
    pub outcome: &'static str,
}

fn call_histogram() -> Histogram {
    // 100 µs .. ~100 s.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 20))
}

fn size_histogram() -> Histogram {
    // 64 bytes .. 64 MiB.
    Histogram::new(exponential_buckets(64.0, 4.0, 11))
}

pub struct McpMetrics {
    pub calls: Family<CallLabels, Counter>,
    pub call_duration: Family<ServerLabels, Histogram, fn() -> Histogram>,
    pub result_bytes: Family<ServerLabels, Histogram, fn() -> Histogram>,
    pub server_up: Family<ServerLabels, Gauge>,
    pub server_restarts: Family<ServerLabels, Counter>,
    pub tool_changes: Family<ToolLabels, Counter>,
    pub server_requests: Family<ServerRequestLabels, Counter>,
    /// USD charged for priced tool calls (`tool_prices`).
    pub tool_cost_usd: Family<CostLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// The latest tool calls, for `/admin/mcp/calls` (names and outcomes,
    /// never arguments or results).
    pub recent: parking_lot::Mutex<std::collections::VecDeque<RecentCall>>,
}

/// How many recent tool calls are kept.
pub const RECENT_CALLS: usize = 200;

/// One tool call as the admin API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentCall {
    pub at_ms: u64,
    pub request_id: String,
    pub team: String,
    pub key: String,
    pub server: String,
    pub tool: String,
    pub outcome: &'static str,
    pub ms: f64,
}

impl Default for McpMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            call_duration: Family::new_with_constructor(call_histogram as fn() -> Histogram),
            result_bytes: Family::new_with_constructor(size_histogram as fn() -> Histogram),
            server_up: Family::default(),
            server_restarts: Family::default(),
            tool_changes: Family::default(),
            server_requests: Family::default(),
            tool_cost_usd: Family::default(),
            recent: parking_lot::Mutex::new(std::collections::VecDeque::with_capacity(
                RECENT_CALLS,
            )),
        }
    }
}

impl McpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mcp_tool_calls",
            "MCP tools/call requests by team, server, tool and outcome",
            self.calls.clone(),
        );
        registry.register(
            "mcp_tool_call_duration_seconds",
            "Time of MCP tools/call requests through the gateway",
            self.call_duration.clone(),
        );
        registry.register(
            "mcp_server_requests",
            "Requests from MCP servers to clients (sampling, elicitation, roots) by server, method and outcome",
            self.server_requests.clone(),
        );
        registry.register(
            "mcp_tool_cost_usd",
            "USD charged to teams' budgets for priced MCP tool calls (tool_prices)",
            self.tool_cost_usd.clone(),
        );
        registry.register(
            "mcp_tool_result_bytes",
            "Size of MCP tool results, serialized",
            self.result_bytes.clone(),
        );
        registry.register(
            "mcp_server_up",
            "Whether an MCP upstream server is connected (1) or not (0)",
            self.server_up.clone(),
        );
        registry.register(
            "mcp_server_restarts",
            "Times an MCP upstream server failed and was restarted",
            self.server_restarts.clone(),
        );
        registry.register(
            "mcp_tool_definition_changes",
            "Tool definitions that changed after they were pinned",
            self.tool_changes.clone(),
        );
    }

    pub fn set_health(&self, server: &str, health: &Health) {
        self.server_up
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .set(i64::from(*health == Health::Up));
    }

    /// Drop a removed server's series, so it no longer shows as down.
    pub fn forget_server(&self, server: &str) {
        let labels = ServerLabels {
            server: server.to_owned(),
        };
        self.server_up.remove(&labels);
        self.server_restarts.remove(&labels);
    }

    pub fn restarts(&self, server: &str) {
        self.server_restarts
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .inc();
    }
}
