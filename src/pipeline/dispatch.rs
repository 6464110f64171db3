//! Stages 6 and 7, route and dispatch: the attempt loop. The route's strategy
//! orders its targets; each target is tried (and retried with backoff) until
//! one answers, then the next target takes over. Open breakers and targets
//! too small for the prompt are skipped.
//!
//! Nothing has reached the client while this loop runs: for streams an
//! attempt succeeds only when the upstream's first chunk has arrived, and that
//! is the moment the target is committed. A failure after it is the relay's
//! error event, never a retry.

use super::context::RequestCx;
use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::provider::{ChatCall, ChatReply, Complete, EmbeddingsCall, Provider, ResponsesCall};
use crate::routing::breaker::Admission;
use crate::routing::retry::{self, Next};
use crate::routing::strategy::{self, Candidate};
use crate::routing::{Route, Target};
use crate::tokens;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The time limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Each attempt, until the first token.
    pub per_attempt: Duration,
    /// The whole request, streams until their last chunk.
    pub deadline: Instant,
}

impl Limits {
    pub fn of(gateway: &Gateway, route: &Route, stream: bool) -> Self {
        let config = gateway.config.load();
        let upstream = &config.upstream;
        let default_attempt = if stream {
            upstream.first_byte_timeout
        } else {
            upstream.total_timeout
        };
        Self {
            per_attempt: route.first_token.unwrap_or(default_attempt),
            deadline: Instant::now() + route.total.unwrap_or(upstream.total_timeout),
        }
    }
}

fn route_of(cx: &RequestCx) -> Result<Arc<Route>, GatewayError> {
    cx.route
        .clone()
        .ok_or_else(|| GatewayError::Internal("dispatch before the model was resolved".into()))
}

/// A chat request, to the first target that answers. Returns the reply (a
/// stream is returned with its first chunk already received) and the limits,
/// whose deadline the relay keeps.
pub async fn chat(
    gateway: &Gateway,
    cx: &mut RequestCx,
    request: &ChatRequest,
) -> Result<(ChatReply, Limits), GatewayError> {
    let route = route_of(cx)?;
    let limits = Limits::of(gateway, &route, request.is_stream());
    let prompt_tokens = prompt_tokens(&route, request);
    let reply = attempts(
        cx,
        &route,
        request.is_stream(),
        prompt_tokens,
        limits,
        |adapter, model| async move {
            let reply = adapter
                .chat(ChatCall {
                    request,
                    upstream_model: &model,
                })
                .await?;
            first_chunk(reply).await
        },
    )
    .await?;
    Ok((reply, limits))
}

/// Counting costs a tokenizer pass, so only when it can change the choice.
fn prompt_tokens(route: &Route, request: &ChatRequest) -> Option<u64> {
    route
        .counts_prompt
        .then(|| tokens::count_messages(route.primary().model.tokenizer, &request.messages))
}

/// What answered a Responses request: a provider's own Responses API, or
/// its chat endpoint with the request translated (`chat`).
pub enum Served {
    Native(ChatReply),
    Translated(ChatReply),
}

/// A Responses request, to the first target that answers: natively to a
/// provider that serves the Responses API (`native`, the upstream body),
/// translated (`chat`) to any other, so a fallback may cross from one to
/// the other within the same attempt loop and reservation.
pub async fn responses(
    gateway: &Gateway,
    cx: &mut RequestCx,
    chat: &ChatRequest,
    native: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Served, Limits), GatewayError> {
    let route = route_of(cx)?;
    let stream = chat.is_stream();
    let limits = Limits::of(gateway, &route, stream);
    let prompt_tokens = prompt_tokens(&route, chat);
    let served = attempts(
        cx,
        &route,
        stream,
        prompt_tokens,
        limits,
        |adapter, model| async move {
            if adapter.serves_responses() {
                let call = ResponsesCall {
                    body: native,
                    upstream_model: &model,
                    stream,
                };
                let reply = adapter.responses(call).await?;
                return first_chunk(reply).await.map(Served::Native);
            }
            let call = ChatCall {
                request: chat,
                upstream_model: &model,
            };
            let reply = adapter.chat(call).await?;
            first_chunk(reply).await.map(Served::Translated)
        },
    )
    .await?;
    Ok((served, limits))
}

pub async fn embeddings(
    gateway: &Gateway,
    cx: &mut RequestCx,
    request: &EmbeddingsRequest,
) -> Result<Complete, GatewayError> {
    let route = route_of(cx)?;
    let limits = Limits::of(gateway, &route, false);
    attempts(
        cx,
        &route,
        false,
        None,
        limits,
        |adapter, model| async move {
            adapter
                .embeddings(EmbeddingsCall {
                    request,
                    upstream_model: &model,
                })
                .await
        },
    )
    .await
}

/// Waits for a stream's first chunk: a stream that fails or ends before it
/// has sent nothing to the client yet, so it is an attempt that may be retried.
async fn first_chunk(reply: ChatReply) -> Result<ChatReply, GatewayError> {
    let ChatReply::Stream(mut stream) = reply else {
        return Ok(reply);
    };
    match stream.next().await {
        Some(Ok(first)) => {
            let rest = futures::stream::once(std::future::ready(Ok(first))).chain(stream);
            Ok(ChatReply::Stream(Box::pin(rest)))
        }
        Some(Err(error)) => Err(error),
        None => Err(GatewayError::UpstreamFailed {
            message: "the provider ended the stream before its first chunk".to_owned(),
        }),
    }
}

/// Why no target answered, when no attempt was even made.
#[derive(Default)]
struct Skipped {
    breaker_open: bool,
    too_small: bool,
}

/// One upstream attempt: a note for the request log and, when traced, a
/// CLIENT span with the GenAI conventions' attributes.
fn attempt_span(
    cx: &mut RequestCx,
    span_id: crate::traces::SpanId,
    target: &Target,
    attempt: u32,
    started: Instant,
    error: Option<&GatewayError>,
) {
    let operation = cx.endpoint.operation();
    if cx.logged && cx.attempt_log.len() < 32 {
        cx.attempt_log.push(crate::request_log::Attempt {
            model: target.canonical.clone(),
            us: started.elapsed().as_micros() as u64,
            error: error.map(|e| e.label().into()),
        });
    }
    let Some(trace) = &mut cx.trace else {
        return;
    };
    let mut attributes = Vec::with_capacity(5);
    attributes.extend([
        ("gen_ai.operation.name", operation.into()),
        (
            "gen_ai.provider.name",
            crate::traces::provider_name(&target.provider.id),
        ),
        ("gen_ai.request.model", target.upstream_model.clone().into()),
        ("switchboard.attempt", u64::from(attempt).into()),
    ]);
    if let Some(error) = error {
        attributes.push(("error.type", error.label().into()));
    }
    trace.child(
        crate::traces::SpanName::Call(operation, target.upstream_model.clone()),
        crate::traces::Kind::Client,
        span_id,
        (started.into_std(), Instant::now().into_std()),
        attributes,
        error.map(ToString::to_string),
    );
}

/// The attempt loop over a route's targets.
async fn attempts<T, F, Fut>(
    cx: &mut RequestCx,
    route: &Route,
    stream: bool,
    prompt_tokens: Option<u64>,
    limits: Limits,
    mut call: F,
) -> Result<T, GatewayError>
where
    F: FnMut(Arc<dyn Provider>, Arc<str>) -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let started = Instant::now();
    let mut rng = fastrand::Rng::new();
    let ordered;
    let order: &[usize] = if route.targets.len() == 1 {
        &[0]
    } else {
        let candidates: Vec<Candidate> = route
            .targets
            .iter()
            .map(|t| Candidate {
                weight: t.weight,
                priority: t.priority,
                ttft: t.target.health.ttft(),
                cost: t.target.blended_cost(),
            })
            .collect();
        ordered = strategy::order(route.strategy, &candidates, &mut rng);
        &ordered
    };
    let mut made = 0u32;
    let mut last: Option<(GatewayError, &Target)> = None;
    let mut skipped = Skipped::default();
    // After a context-window error, only targets with a larger known window.
    let mut context_floor: Option<u32> = None;
    'targets: for &index in order {
        let target = &route.targets[index].target;
        let Some(adapter) = target.provider.adapter.clone() else {
            continue;
        };
        let window = target.model.context_window;
        if window != 0 && prompt_tokens.is_some_and(|n| n > u64::from(window)) {
            skipped.too_small = true;
            continue;
        }
        if context_floor.is_some_and(|floor| window == 0 || window <= floor) {
            continue;
        }
        let health = &target.health;
        let mut tries = 0u32;
        loop {
            let now = Instant::now();
            if health.breaker.admit(now) == Admission::Rejected {
                skipped.breaker_open |= tries == 0;
                health.publish(now);
                continue 'targets;
            }
            if tries == 0
                && let Some((_, previous)) = &last
                && let Some(metrics) = previous.health.metrics()
            {
                metrics.fallbacks.inc();
            }
            let remaining = limits.deadline.saturating_duration_since(now);
            if remaining.is_zero() {
                finish(cx, target, made, started);
                return Err(GatewayError::UpstreamTimeout {
                    message: format!("model `{}` did not answer in time", route.name),
                });
            }
            tries += 1;
            made += 1;
            let limit = limits.per_attempt.min(remaining);
            let call =
                tokio::time::timeout(limit, call(adapter.clone(), target.upstream_model.clone()));
            // A traced attempt has its own span, named to the provider in `traceparent`.
            let span_id = crate::traces::random_span_id();
            let result = match &cx.trace {
                Some(trace) => {
                    let traceparent = crate::traces::traceparent_bytes(&trace.trace_id, &span_id);
                    crate::shapes::trace_context::TRACEPARENT
                        .scope(traceparent, call)
                        .await
                }
                None => call.await,
            };
            let result = match result {
                Ok(result) => result,
                Err(_) => Err(GatewayError::UpstreamTimeout {
                    message: format!(
                        "provider `{}` sent no first token within {limit:?}",
                        target.provider_id()
                    ),
                }),
            };
            attempt_span(cx, span_id, target, made, now, result.as_ref().err());
            let error = match result {
                Ok(value) => {
                    health.observe_ttft(now.elapsed());
                    // A stream's health is known only at its end: the relay reports it.
                    if !stream {
                        health.on_success(Instant::now());
                    }
                    finish(cx, target, made, started);
                    return Ok(value);
                }
                Err(error) => error,
            };
            let decision = retry::next(&route.retries, &error, tries, &mut rng);
            tracing::debug!(
                target_model = &*target.canonical,
                error = %error,
                ?decision,
                "upstream attempt failed"
            );
            match decision {
                Next::Stop => {
                    health.breaker.on_neutral();
                    finish(cx, target, made, started);
                    return Err(error);
                }
                Next::LargerContext => {
                    health.breaker.on_neutral();
                    context_floor = Some(context_floor.unwrap_or(0).max(window));
                    last = Some((error, target));
                    continue 'targets;
                }
                Next::Fallback => {
                    health.on_failure(Instant::now());
                    last = Some((error, target));
                    continue 'targets;
                }
                Next::Retry(delay) => {
                    health.on_failure(Instant::now());
                    last = Some((error, target));
                    if Instant::now() + delay >= limits.deadline {
                        continue 'targets;
                    }
                    if let Some(metrics) = health.metrics() {
                        metrics.retries.inc();
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
    if let Some((error, target)) = last {
        finish(cx, target, made, started);
        return Err(error);
    }
    cx.attempts = made;
    cx.upstream_elapsed = started.elapsed();
    Err(if skipped.too_small {
        GatewayError::ContextLengthExceeded {
            message: format!(
                "the prompt has about {} tokens, more than the context window of every target of model `{}`",
                prompt_tokens.unwrap_or(0),
                route.name
            ),
        }
    } else if skipped.breaker_open {
        GatewayError::UpstreamFailed {
            message: format!(
                "every provider of model `{}` is failing; it is being skipped for a while",
                route.name
            ),
        }
    } else {
        GatewayError::ModelNotFound {
            message: format!("model `{}` has no configured provider", route.name),
        }
    })
}

/// Records who served (or last failed) and how many attempts it took.
fn finish(cx: &mut RequestCx, target: &Target, made: u32, started: Instant) {
    cx.target = Some(target.clone());
    cx.attempts = made;
    cx.upstream_elapsed = started.elapsed();
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
