//! Routing's settings as the config's checks build them: each route's
//! strategy, targets, timeouts and retries, and the circuit breaker.

use std::collections::BTreeMap;
use std::time::Duration;

/// The config's routing sections, as a router is built from them.
#[derive(Clone, Copy)]
pub struct RoutingConfig<'a> {
    pub aliases: &'a BTreeMap<String, String>,
    pub routes: &'a BTreeMap<String, RouteSettings>,
    pub breaker: BreakerSettings,
    /// The gateway-wide connect timeout (`upstream.connect_timeout`).
    pub connect_timeout: Duration,
}

/// How a route picks its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Priority,
    Weighted,
    LeastLatency,
    LowestCost,
}

impl Strategy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "priority" => Self::Priority,
            "weighted" => Self::Weighted,
            "least-latency" => Self::LeastLatency,
            "lowest-cost" => Self::LowestCost,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Weighted => "weighted",
            Self::LeastLatency => "least-latency",
            Self::LowestCost => "lowest-cost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTargetSettings {
    pub model: String,
    pub weight: u32,
    pub priority: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 2,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub strategy: Strategy,
    pub targets: Vec<RouteTargetSettings>,
    pub connect: Option<Duration>,
    pub first_token: Option<Duration>,
    pub total: Option<Duration>,
    pub retries: RetrySettings,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub consecutive_failures: u32,
    pub error_ratio: f64,
    pub min_requests: u32,
    pub window: Duration,
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_ratio: 0.5,
            min_requests: 20,
            window: Duration::from_secs(30),
            cool_down: Duration::from_secs(30),
        }
    }
}
