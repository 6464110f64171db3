//! Prometheus metrics, one registry per gateway instance (no globals, so
//! tests can run many gateways in one process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: &'static str,
    pub model: String,
    pub provider: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub endpoint: &'static str,
    pub model: String,
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub provider: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub endpoint: &'static str,
    pub error: &'static str,
}

/// One routing target: a `provider/model`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub provider: String,
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardrailLabels {
    pub pack: String,
    pub rule: String,
    pub action: &'static str,
    pub phase: &'static str,
    /// A team of the config or the admin API: bounded like them.
    pub team: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s, for whole requests and upstream calls.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 17,
    ))
}

fn overhead_histogram() -> Histogram {
    // 10 µs .. ~80 ms: the gateway's own share should sit at the bottom.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_01, 2.0, 14,
    ))
}

/// Guardrail rule matches, counted by the guard stages wherever they run.
pub type GuardrailDecisions = Family<GuardrailLabels, Counter>;

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub request_duration: Family<ModelLabels, Histogram, fn() -> Histogram>,
    pub upstream_duration: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    pub overhead: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    pub tokens: Family<TokenLabels, Counter>,
    pub cost_usd: Family<ModelLabels, Counter<f64, AtomicU64>>,
    pub unpriced: Family<ModelLabels, Counter>,
    pub in_flight: Gauge,
    /// Retries of a target after a failed attempt.
    pub retries: Family<TargetLabels, Counter>,
    /// Fallbacks away from a target to the next one.
    pub fallbacks: Family<TargetLabels, Counter>,
    /// Circuit breaker per target: 0 closed, 1 half-open, 2 open.
    pub breaker_state: Family<TargetLabels, Gauge>,
    pub guardrail_decisions: GuardrailDecisions,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let metrics = Self {
            requests: Family::default(),
            errors: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            upstream_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            overhead: Family::new_with_constructor(overhead_histogram as fn() -> Histogram),
            tokens: Family::default(),
            cost_usd: Family::default(),
            unpriced: Family::default(),
            in_flight: Gauge::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            breaker_state: Family::default(),
            guardrail_decisions: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests by endpoint, model, provider and status",
            metrics.requests.clone(),
        );
        registry.register(
            "errors",
            "Error responses by endpoint and kind",
            metrics.errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Whole request time, first byte in to last byte out",
            metrics.request_duration.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time spent waiting on the provider",
            metrics.upstream_duration.clone(),
        );
        registry.register(
            "overhead_seconds",
            "Time the gateway itself added to a request",
            metrics.overhead.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by model, provider and kind",
            metrics.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost of served requests in USD",
            metrics.cost_usd.clone(),
        );
        registry.register(
            "unpriced_requests",
            "Served requests whose model has no known price",
            metrics.unpriced.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being served now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "retries",
            "Retries of a target after a failed attempt",
            metrics.retries.clone(),
        );
        registry.register(
            "fallbacks",
            "Fallbacks from a target to the next one of its route",
            metrics.fallbacks.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker per target: 0 closed, 1 half-open, 2 open",
            metrics.breaker_state.clone(),
        );
        registry.register(
            "guardrail_decisions",
            "Guardrail rule matches by pack, rule, action, phase and team",
            metrics.guardrail_decisions.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Adds a counter owned elsewhere (e.g. by the quota engine) to the exposition.
    pub fn register_counter(&mut self, name: &str, help: &str, counter: Counter) {
        self.registry.register(name, help, counter);
    }

    /// Where an area's own metrics (the cache's, MCP's) register, so they are
    /// exposed with the rest while the area keeps their types.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Reloads applied and refused, for `/metrics`.
#[derive(Clone, Default)]
pub struct ReloadCounters {
    pub applied: Counter,
    pub refused: Counter,
}

impl ReloadCounters {
    pub fn register(&self, metrics: &mut Metrics) {
        metrics.register_counter(
            "config_reloads_applied",
            "Config reloads (SIGHUP or a changed file) that took effect",
            self.applied.clone(),
        );
        metrics.register_counter(
            "config_reloads_refused",
            "Config reloads (SIGHUP or a changed file) refused because the new config or a data file it names did not validate; the gateway kept the config it had",
            self.refused.clone(),
        );
    }
}

pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
