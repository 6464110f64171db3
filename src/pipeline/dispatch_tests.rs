//! The attempt loop against scripted providers on paused time: retries,
//! `Retry-After`, fallbacks, breakers, first-token timeouts and context
//! windows, with exact call counts and exact elapsed time.

use super::*;
use crate::api::decode_json;
use crate::catalog::{AuthScheme, ModelKind, ModelSpec, ProviderSpec, Wire};
use crate::pipeline::context::Endpoint;
use crate::provider::{EmbeddingsCall, ProviderEntry};
use crate::routing::health::Health;
use crate::routing::{BreakerSettings, RetrySettings, Strategy};
use crate::routing::{RouteTarget, Target};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// What a scripted provider does on one call.
#[derive(Debug, Clone, Copy)]
enum Step {
    Ok,
    /// 5xx: `UpstreamFailed`.
    Down,
    /// A 4xx with an optional `Retry-After` and a body.
    Status(u16, Option<&'static str>, &'static str),
    /// Answers only after this long.
    Slow(Duration),
}

/// Plays its steps in order, then repeats the last one.
struct Scripted {
    steps: Mutex<Vec<Step>>,
    calls: AtomicU32,
}

impl Scripted {
    fn new(steps: &[Step]) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.iter().rev().copied().collect()),
            calls: AtomicU32::new(0),
        })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn play(&self) -> Result<Complete, GatewayError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let step = {
            let mut steps = self.steps.lock();
            if steps.len() > 1 {
                steps.pop()
            } else {
                steps.last().copied()
            }
        };
        match step.unwrap_or(Step::Ok) {
            Step::Ok => Ok(Complete {
                body: Bytes::from_static(b"{}"),
                usage: None,
            }),
            Step::Down => Err(GatewayError::UpstreamFailed {
                message: "answered 503".into(),
            }),
            Step::Status(status, retry_after, body) => Err(GatewayError::UpstreamRejected {
                status: StatusCode::from_u16(status).unwrap(),
                body: Bytes::from_static(body.as_bytes()),
                retry_after: retry_after.map(HeaderValue::from_static),
            }),
            Step::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(Complete {
                    body: Bytes::from_static(b"{}"),
                    usage: None,
                })
            }
        }
    }
}

#[async_trait::async_trait]
impl Provider for Scripted {
    async fn chat(&self, _call: ChatCall<'_>) -> Result<ChatReply, GatewayError> {
        self.play().await.map(ChatReply::Complete)
    }

    async fn embeddings(&self, _call: EmbeddingsCall<'_>) -> Result<Complete, GatewayError> {
        self.play().await
    }
}

fn breaker() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: 2,
        error_ratio: 1.0,
        min_requests: 100,
        window: Duration::from_secs(60),
        cool_down: Duration::from_secs(30),
    }
}

fn target(id: &str, provider: &Arc<Scripted>, context_window: u32, priority: u32) -> RouteTarget {
    let adapter: Arc<dyn Provider> = provider.clone();
    let entry = Arc::new(ProviderEntry {
        id: id.into(),
        spec: ProviderSpec {
            id: id.to_owned(),
            name: id.to_owned(),
            wire: Wire::Openai,
            base_url: "http://127.0.0.1:9".to_owned(),
            base_url_env: None,
            auth: AuthScheme::None,
            api_key_env: None,
            api_key_env_fallbacks: Vec::new(),
            responses_api: false,
            api_version: None,
            region: None,
            region_env: None,
            allow_unlisted_models: true,
            docs: None,
            models: BTreeMap::new(),
        },
        allow_unlisted_models: true,
        adapter: Some(adapter),
        disabled_reason: None,
    });
    let canonical: Arc<str> = Arc::from(format!("{id}/m"));
    RouteTarget {
        target: Target {
            public_name: Arc::from("r"),
            metric_name: canonical.clone(),
            canonical,
            provider: entry,
            upstream_model: Arc::from("m"),
            model: Arc::new(ModelSpec {
                context_window,
                ..ModelSpec::unlisted(ModelKind::Chat)
            }),
            price: None,
            health: Arc::new(Health::new(breaker())),
        },
        weight: 1,
        priority,
    }
}

fn route(targets: Vec<RouteTarget>, attempts: u32) -> Route {
    Route {
        name: Arc::from("r"),
        strategy: Strategy::Priority,
        targets,
        first_token: None,
        total: None,
        retries: RetrySettings {
            attempts,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(5),
        },
        counts_prompt: false,
    }
}

fn limits(per_attempt_secs: u64) -> Limits {
    Limits {
        per_attempt: Duration::from_secs(per_attempt_secs),
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

struct Outcome {
    served_by: Option<String>,
    error: Option<String>,
    attempts: u32,
    elapsed: Duration,
}

async fn run(route: &Route, prompt_tokens: Option<u64>, limits: Limits) -> Outcome {
    let request: ChatRequest =
        decode_json(br#"{"model":"r","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    let mut cx = RequestCx::new(
        Endpoint::ChatCompletions,
        HeaderValue::from_static("t"),
        None,
    );
    let started = Instant::now();
    let request = &request;
    let result = attempts(
        &mut cx,
        route,
        false,
        prompt_tokens,
        limits,
        |adapter, model| async move {
            adapter
                .chat(ChatCall {
                    request,
                    upstream_model: &model,
                })
                .await
        },
    )
    .await;
    Outcome {
        served_by: result
            .is_ok()
            .then(|| cx.target.as_ref().map(|t| t.canonical.to_string()))
            .flatten(),
        error: result.err().map(|e| e.label().to_owned()),
        attempts: cx.attempts,
        elapsed: started.elapsed(),
    }
}

const RATE_LIMITED: Step = Step::Status(
    429,
    Some("1"),
    r#"{"error":{"code":"rate_limit_exceeded"}}"#,
);
const CONTEXT: Step = Step::Status(400, None, r#"{"error":{"code":"context_length_exceeded"}}"#);

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_its_retry_after() {
    let a = Scripted::new(&[RATE_LIMITED, Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0)], 2);
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("a/m"));
    assert_eq!((a.calls(), out.attempts), (2, 2));
    // Retry-After (1s) is more than the backoff (50-100ms), so it wins.
    assert_eq!(out.elapsed, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_over_the_cap_falls_back_at_once() {
    let a = Scripted::new(&[Step::Status(429, Some("60"), "{}")]);
    let b = Scripted::new(&[Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0), target("b", &b, 0, 1)], 3);
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("b/m"));
    assert_eq!((a.calls(), b.calls(), out.attempts), (1, 1, 2));
    assert_eq!(out.elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_target_down_is_retried_with_backoff_then_falls_back() {
    let a = Scripted::new(&[Step::Down]);
    let b = Scripted::new(&[Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0), target("b", &b, 0, 1)], 2);
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("b/m"));
    assert_eq!((a.calls(), b.calls(), out.attempts), (2, 1, 3));
    // One jittered backoff of 100ms: between half and all of it.
    assert!(
        (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&out.elapsed),
        "{:?}",
        out.elapsed
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_skips_the_target_and_probes_after_cool_down() {
    let a = Scripted::new(&[Step::Down, Step::Down, Step::Ok]);
    let b = Scripted::new(&[Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0), target("b", &b, 0, 1)], 1);
    for _ in 0..2 {
        assert_eq!(
            run(&r, None, limits(10)).await.served_by.as_deref(),
            Some("b/m")
        );
    }
    assert_eq!(a.calls(), 2);
    let health = &r.targets[0].target.health;
    assert_eq!(
        health.state(Instant::now()),
        crate::routing::breaker::BreakerState::Open
    );
    // Open: skipped without a call.
    let out = run(&r, None, limits(10)).await;
    assert_eq!((out.served_by.as_deref(), out.attempts), (Some("b/m"), 1));
    assert_eq!(a.calls(), 2);
    // After the cool-down one probe goes through, succeeds, and closes it.
    tokio::time::advance(Duration::from_secs(30)).await;
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("a/m"));
    assert_eq!(a.calls(), 3);
    assert_eq!(
        health.state(Instant::now()),
        crate::routing::breaker::BreakerState::Closed
    );
}

#[tokio::test(start_paused = true)]
async fn every_breaker_open_fails_fast() {
    let a = Scripted::new(&[Step::Down]);
    let r = route(vec![target("a", &a, 0, 0)], 2);
    let out = run(&r, None, limits(10)).await;
    assert_eq!(
        (out.error.as_deref(), a.calls()),
        (Some("upstream_failed"), 2)
    );
    let out = run(&r, None, limits(10)).await;
    assert_eq!(
        (out.error.as_deref(), out.attempts, a.calls()),
        (Some("upstream_failed"), 0, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_token_times_out_and_falls_back() {
    let a = Scripted::new(&[Step::Slow(Duration::from_secs(10))]);
    let b = Scripted::new(&[Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0), target("b", &b, 0, 1)], 1);
    let out = run(&r, None, limits(2)).await;
    assert_eq!(out.served_by.as_deref(), Some("b/m"));
    assert_eq!((a.calls(), b.calls()), (1, 1));
    assert_eq!(out.elapsed, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_stops_retries() {
    let a = Scripted::new(&[RATE_LIMITED]);
    let mut only = target("a", &a, 0, 0);
    // A breaker that stays closed, so only the deadline stops the retries.
    only.target.health = Arc::new(Health::new(BreakerSettings {
        consecutive_failures: 10,
        ..breaker()
    }));
    let r = route(vec![only], 5);
    let limits = Limits {
        per_attempt: Duration::from_secs(10),
        deadline: Instant::now() + Duration::from_millis(2500),
    };
    let out = run(&r, None, limits).await;
    // Tries at 0s, 1s, 2s; a fourth would start after the deadline.
    assert_eq!(
        (out.error.as_deref(), a.calls()),
        (Some("upstream_rejected"), 3)
    );
    assert_eq!(out.elapsed, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_neither_retried_nor_failed_over() {
    let a = Scripted::new(&[Step::Status(
        400,
        None,
        r#"{"error":{"code":"invalid_value"}}"#,
    )]);
    let b = Scripted::new(&[Step::Ok]);
    let r = route(vec![target("a", &a, 0, 0), target("b", &b, 0, 1)], 3);
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.error.as_deref(), Some("upstream_rejected"));
    assert_eq!((a.calls(), b.calls(), out.attempts), (1, 0, 1));
    assert_eq!(
        r.targets[0].target.health.state(Instant::now()),
        crate::routing::breaker::BreakerState::Closed
    );
}

#[tokio::test(start_paused = true)]
async fn a_context_error_falls_back_to_a_larger_window_only() {
    let a = Scripted::new(&[CONTEXT]);
    let smaller = Scripted::new(&[Step::Ok]);
    let larger = Scripted::new(&[Step::Ok]);
    let r = route(
        vec![
            target("a", &a, 8_192, 0),
            target("smaller", &smaller, 4_096, 1),
            target("larger", &larger, 200_000, 2),
        ],
        3,
    );
    let out = run(&r, None, limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("larger/m"));
    assert_eq!((a.calls(), smaller.calls(), larger.calls()), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_prompt_counted_over_a_window_skips_that_target() {
    let small = Scripted::new(&[Step::Ok]);
    let large = Scripted::new(&[Step::Ok]);
    let r = route(
        vec![
            target("small", &small, 8_192, 0),
            target("large", &large, 200_000, 1),
        ],
        1,
    );
    let out = run(&r, Some(10_000), limits(10)).await;
    assert_eq!(out.served_by.as_deref(), Some("large/m"));
    assert_eq!((small.calls(), large.calls(), out.attempts), (0, 1, 1));
    let out = run(&r, Some(500_000), limits(10)).await;
    assert_eq!(out.error.as_deref(), Some("context_length_exceeded"));
    assert_eq!(large.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn least_latency_sends_nearly_all_traffic_to_the_faster_target() {
    let slow = Scripted::new(&[Step::Slow(Duration::from_millis(400))]);
    let fast = Scripted::new(&[Step::Slow(Duration::from_millis(40))]);
    let mut r = route(
        vec![target("slow", &slow, 0, 0), target("fast", &fast, 0, 0)],
        1,
    );
    r.strategy = Strategy::LeastLatency;
    for _ in 0..1_000 {
        assert!(run(&r, None, limits(10)).await.served_by.is_some());
    }
    // Each is measured once; from then on the pair always favours the faster.
    assert_eq!(slow.calls() + fast.calls(), 1_000);
    assert!(
        fast.calls() >= 900,
        "fast {} slow {}",
        fast.calls(),
        slow.calls()
    );
    assert!(slow.calls() <= 2, "slow {}", slow.calls());
}
