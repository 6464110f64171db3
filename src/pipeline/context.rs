//! The per-request context every stage sees: ids, caller, target, timings,
//! usage and cost.

use crate::auth::Caller;
use crate::cost::{Cost, Usage};
use crate::routing::{Route, Target};
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which front door a request came through; a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    /// The Anthropic-compatible `/v1/messages` (and `count_tokens`).
    Messages,
    /// `/v1/responses`.
    Responses,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Embeddings => "embeddings",
            Self::Messages => "messages",
            Self::Responses => "responses",
        }
    }

    /// The GenAI conventions' `gen_ai.operation.name`.
    pub fn operation(self) -> &'static str {
        match self {
            Self::Embeddings => "embeddings",
            Self::ChatCompletions | Self::Messages | Self::Responses => "chat",
        }
    }
}

pub struct RequestCx {
    pub request_id: HeaderValue,
    pub started: Instant,
    pub endpoint: Endpoint,
    pub peer: Option<SocketAddr>,
    pub caller: Option<Caller>,
    /// The model name as the client sent it (for logs, before resolution).
    pub requested_model: Option<Arc<str>>,
    /// The target that served (or, before dispatch, the route's first).
    pub target: Option<Target>,
    /// The resolved route: its targets, strategy, timeouts and retries.
    pub route: Option<Arc<Route>>,
    /// Upstream attempts made, retries and fallbacks included.
    pub attempts: u32,
    pub stream: bool,
    /// Time spent waiting on the provider (for streams: until its headers).
    pub upstream_elapsed: Duration,
    pub usage: Option<Usage>,
    pub cost: Option<Cost>,
    /// The prompt template rendered for this request, as `name@version`.
    pub prompt: Option<Arc<str>>,
    /// What the cache did: `hit-exact`, `hit-semantic`, `miss`, `bypass`.
    pub cache: Option<&'static str>,
    /// The request's trace, when `[otel]` is on and it is sampled.
    pub trace: Option<crate::traces::Trace>,
    /// Whether the request log is on: stages and attempts are noted only then.
    pub logged: bool,
    /// Each pipeline stage and how long it took, for the request log.
    /// (`switchboard.<stage>`, also the stage's span name.)
    pub stages: Vec<(&'static str, Duration)>,
    /// Each upstream attempt: the model, how long, and its error if any.
    pub attempt_log: Vec<crate::request_log::Attempt>,
    /// What the guardrails did (`x-switchboard-guardrails`), if anything.
    pub guard: Option<String>,
    /// The prompt and answer as the log keeps them, for a team that
    /// captures content (`[request_log] capture`), after redaction.
    pub captured: Option<crate::request_log::Captured>,
    /// Told what the request cost once it is settled (a tool loop sums its
    /// model calls with it). Moves with the context to wherever it is
    /// settled, a stream's end included; dropped unsent, nothing was spent.
    pub on_settled: Option<tokio::sync::oneshot::Sender<Option<Cost>>>,
}

impl RequestCx {
    pub fn new(endpoint: Endpoint, request_id: HeaderValue, peer: Option<SocketAddr>) -> Self {
        Self {
            request_id,
            started: Instant::now(),
            endpoint,
            peer,
            caller: None,
            requested_model: None,
            target: None,
            route: None,
            attempts: 0,
            stream: false,
            upstream_elapsed: Duration::ZERO,
            usage: None,
            cost: None,
            prompt: None,
            cache: None,
            trace: None,
            logged: false,
            stages: Vec::new(),
            attempt_log: Vec::new(),
            guard: None,
            captured: None,
            on_settled: None,
        }
    }

    /// Moves the context out (to a stream or the settle stage), leaving a
    /// fresh one with the same ids behind for the caller.
    pub fn take(&mut self) -> Self {
        let fresh = Self::new(self.endpoint, self.request_id.clone(), self.peer);
        std::mem::replace(self, fresh)
    }

    /// Says whether the request log keeps this request, and starts its trace
    /// from the client's `traceparent` when traces are on and it is sampled.
    pub fn start_recording(
        &mut self,
        log: &crate::request_log::RequestLog,
        exporter: &crate::traces::Exporter,
        headers: &http::HeaderMap,
    ) {
        self.logged = log.enabled();
        if exporter.enabled() {
            let incoming = headers.get("traceparent").and_then(|v| v.to_str().ok());
            self.trace = crate::traces::Trace::start(incoming, exporter.sample_ratio());
        }
    }

    /// Records a pipeline stage (`switchboard.<stage>`) that began at
    /// `start` and ends now (a span too, when the request is traced).
    pub fn stage(&mut self, name: &'static str, start: Instant) {
        let now = Instant::now();
        if self.logged && self.stages.len() < 16 {
            self.stages
                .push((name, now.saturating_duration_since(start)));
        }
        if let Some(trace) = &mut self.trace {
            trace.child(
                name,
                crate::traces::Kind::Internal,
                crate::traces::random_span_id(),
                (start, now),
                Vec::new(),
                None,
            );
        }
    }

    /// The gateway's own share of the time so far.
    pub fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.upstream_elapsed)
    }

    pub fn model_label(&self) -> String {
        match &self.target {
            Some(target) => target.metric_name.to_string(),
            None => "none".to_owned(),
        }
    }

    pub fn provider_label(&self) -> String {
        match &self.target {
            Some(target) => target.provider_id().to_owned(),
            None => "none".to_owned(),
        }
    }
}
