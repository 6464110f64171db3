//! `POST /v1/chat/completions` through the pipeline.

use super::context::{Endpoint, RequestCx};
use super::dispatch;
use super::finish::{Outcome, settle_and_record};
use super::relay::{Relay, Settlement};
use super::stages;
use super::tool_loop;
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::auth::Caller;
use crate::catalog::ModelKind;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guardrails::stage::RequestGuard;
use crate::guardrails::window::StreamGuard;
use crate::provider::ChatReply;
use crate::quota::estimate;
use crate::shapes::json_response;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use std::sync::Arc;

/// Largest complete chat answer a translating door reads back.
const MAX_COMPLETE_BODY: usize = 64 * 1024 * 1024;

/// A complete chat answer (this module's own response body), read back by
/// a door that translates it (`/v1/messages`, `/v1/responses`).
pub(super) async fn read_completion(body: Body) -> Result<serde_json::Value, GatewayError> {
    let bytes = axum::body::to_bytes(body, MAX_COMPLETE_BODY)
        .await
        .map_err(|error| GatewayError::Internal(format!("read completion: {error}")))?;
    serde_json::from_slice(&bytes).map_err(|_| GatewayError::UpstreamFailed {
        message: "the provider answered with invalid JSON".to_owned(),
    })
}

/// Runs the stages in order. Errors returned here happened before any byte
/// went to the client; the caller turns them into OpenAI-shaped responses.
pub async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    // 1. authenticate: first, so an unknown caller learns nothing about models.
    let started = std::time::Instant::now();
    let caller = stages::authenticate(gateway, cx, headers)?;
    cx.stage("switchboard.authenticate", started);
    handle_as(gateway, cx, headers, caller, body).await
}

/// The chat stages after authentication, for `caller`: a client's request
/// once its key was checked, or one the gateway makes for a caller it
/// already knows (a server's sampling request during that caller's tool
/// call).
pub async fn handle_as(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    caller: Caller,
    body: Bytes,
) -> Result<Response, GatewayError> {
    let started = std::time::Instant::now();
    // 2. normalize: parse and check the body, then resolve the model name.
    let mut request: ChatRequest = decode_json(&body)?;
    // `mcp` tools: the gateway runs its tool loop, whose model calls come
    // back through here (without them).
    if cx.endpoint == Endpoint::ChatCompletions && tool_loop::for_chat::wanted(&request) {
        return tool_loop::for_chat::handle(gateway, cx, headers, caller, request).await;
    }
    render_prompt_extension(gateway, cx, &mut request)?;
    request.check()?;
    cx.stream = request.is_stream();
    let target = stages::resolve(gateway, cx, &caller, &request.model, ModelKind::Chat)?;
    cx.stage("switchboard.normalize", started);
    // 3. guard input: before anything is spent or sent.
    let started = std::time::Instant::now();
    let mut guard = stages::guard_input(gateway, cx, &caller, &mut request).await?;
    cx.stage("switchboard.guard_input", started);
    capture_prompt(gateway, cx, &caller, &request);
    let started = std::time::Instant::now();
    // 4. reserve budget: before the upstream call, so concurrency cannot overshoot.
    let reservation = stages::reserve(
        gateway,
        cx,
        &caller,
        &target,
        estimate::user_of(&request),
        |target| estimate::chat(&request, target),
    )
    .await?;
    cx.stage("switchboard.reserve", started);
    let started = std::time::Instant::now();
    // 5. cache: a hit is served here and costs the team nothing; a miss
    // carries what is needed to store the answer once it is complete.
    // A request whose prompt was redacted skips the cache: its answer holds
    // placeholders that only this request can restore.
    let cache_fill = if guard.redacted() {
        None
    } else {
        match crate::cache::stage::lookup(
            gateway.response_cache.as_ref(),
            &caller,
            &target,
            &request,
            headers,
        )
        .await
        {
            Ok(crate::cache::stage::Step::Serve(mut response)) => {
                cx.stage("switchboard.cache", started);
                let mut record_cx = cx.take();
                record_cx.cache = Some(crate::cache::stage::hit_layer(&response));
                add_headers(&mut response, &record_cx);
                settle_and_record(
                    gateway,
                    record_cx,
                    Some(reservation),
                    None,
                    200,
                    Outcome::Ok,
                )
                .await;
                return Ok(response);
            }
            Ok(crate::cache::stage::Step::Continue(fill)) => {
                cx.cache = fill.as_ref().map(crate::cache::stage::Fill::outcome);
                fill
            }
            Err(error) => {
                gateway.quota.settle(reservation, None).await;
                return Err(error);
            }
        }
    };
    if cx.cache.is_some() {
        cx.stage("switchboard.cache", started);
    }
    // 6. route + 7. dispatch: retries and fallbacks happen in there, all
    // before the first byte goes to the client.
    let started = std::time::Instant::now();
    let reply = dispatch::chat(gateway, cx, &request).await;
    cx.stage("switchboard.dispatch", started);
    let (reply, limits) = match reply {
        Ok(reply) => reply,
        Err(error) => {
            // Nothing was served: release the whole reservation.
            gateway.quota.settle(reservation, None).await;
            return Err(error);
        }
    };
    // 8. guard output, 9. settle and 10. record: now for complete responses,
    // at the end of the stream for streams.
    match reply {
        ChatReply::Complete(complete) => {
            let request_id = cx.request_id.to_str().unwrap_or("-").to_owned();
            // Only answers that passed the output guard are cached, as the upstream sent them.
            let cache_body = cache_fill.as_ref().map(|_| complete.body.clone());
            let started = std::time::Instant::now();
            let checked = guard
                .check_response(
                    &gateway.metrics.guardrail_decisions,
                    &request_id,
                    &caller.team,
                    complete.body,
                )
                .await;
            cx.stage("switchboard.guard_output", started);
            cx.guard = guard_summary(&guard);
            let mut record_cx = cx.take();
            let mut response = match checked {
                Ok(body) => {
                    let value = record_cx
                        .captured
                        .as_ref()
                        .and_then(|_| serde_json::from_slice::<serde_json::Value>(&body).ok());
                    capture_answer(&mut record_cx, &guard, || {
                        value
                            .as_ref()?
                            .pointer("/choices/0/message/content")?
                            .as_str()
                    });
                    json_response(body)
                }
                Err(error) => {
                    // The upstream was paid for: settle its usage, then refuse.
                    tracing::debug!(error = %error, "response refused");
                    let (status, label) = (error.status().as_u16(), error.label());
                    let response = error.into_response();
                    settle_and_record(
                        gateway,
                        record_cx,
                        Some(reservation),
                        complete.usage,
                        status,
                        Outcome::Error(label),
                    )
                    .await;
                    return Ok(response);
                }
            };
            add_headers(&mut response, &record_cx);
            add_guard_header(&mut response, &guard);
            if let Some(fill) = &cache_fill {
                fill.annotate(&mut response);
            }
            if let (Some(fill), Some(body)) = (cache_fill, cache_body) {
                fill.finish_json(&body, complete.usage);
            }
            reservation.headers.apply(response.headers_mut());
            settle_and_record(
                gateway,
                record_cx,
                Some(reservation),
                complete.usage,
                200,
                Outcome::Ok,
            )
            .await;
            Ok(response)
        }
        ChatReply::Stream(upstream) => {
            let wants_usage = request.wants_stream_usage();
            // The served target's tokenizer counts usage the upstream did not report.
            let tokenizer = cx
                .target
                .as_ref()
                .map_or(target.model.tokenizer, |served| served.model.tokenizer);
            cx.guard = guard_summary(&guard);
            let capture = stream_capture(cx, &guard);
            let stream_cx = cx.take();
            let mut response = Response::new(Body::empty());
            add_headers(&mut response, &stream_cx);
            if let Some(fill) = &cache_fill {
                fill.annotate(&mut response);
            }
            let request_id = cx.request_id.to_str().unwrap_or("-").to_owned();
            // Flags from the prompt are known now; those from the stream are logged and counted.
            add_guard_header(&mut response, &guard);
            let stream_guard = StreamGuard::new(
                &gateway.guardrails.load(),
                &gateway.metrics.guardrail_decisions,
                &request_id,
                &caller.team,
                guard,
            );
            reservation.headers.apply(response.headers_mut());
            let settlement = Settlement {
                gateway: gateway.clone(),
                cx: stream_cx,
                reservation: Some(reservation),
                messages: request.messages,
                tokenizer,
                cache_fill,
            };
            let relay = Relay::new(upstream, settlement, wants_usage, limits.deadline)
                .with_guard(stream_guard)
                .with_capture(capture);
            *response.body_mut() = Body::from_stream(relay);
            stream_headers(response.headers_mut());
            Ok(response)
        }
    }
}

/// The `prompt` extension: a template rendered into the first message.
pub(super) fn render_prompt_extension(
    gateway: &Gateway,
    cx: &mut RequestCx,
    request: &mut ChatRequest,
) -> Result<(), GatewayError> {
    if let Some(parameter) = request.extra.remove("prompt") {
        let message = stages::render_prompt(gateway, cx, &parameter)?;
        let message = serde_json::from_value(message)
            .map_err(|error| GatewayError::Internal(format!("rendered prompt: {error}")))?;
        request.messages.insert(0, message);
    }
    Ok(())
}

/// The headers of an SSE answer.
pub(super) fn stream_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// For a team whose content the request log keeps: the prompt, after the
/// input guard (what went upstream, redactions applied).
pub(super) fn capture_prompt(
    gateway: &Gateway,
    cx: &mut RequestCx,
    caller: &crate::auth::Caller,
    request: &ChatRequest,
) {
    if gateway.request_log.captures(&caller.team) {
        let messages = serde_json::to_value(&request.messages).unwrap_or_default();
        cx.captured = Some(crate::request_log::Captured {
            messages: crate::request_log::Captured::messages(messages),
            ..Default::default()
        });
    }
}

/// Why an answer is not kept when the prompt had redactions.
const REDACTED_PROMPT: &str = "the prompt had redactions: the answer holds originals put back";

/// Keeps the answer (`text`, read only when needed) with the captured
/// prompt: only one that passed the output guardrails, and not when the
/// prompt had redactions (the answer then holds the originals put back for
/// the client).
pub(super) fn capture_answer<'a>(
    cx: &mut RequestCx,
    guard: &RequestGuard,
    text: impl FnOnce() -> Option<&'a str>,
) {
    let Some(captured) = &mut cx.captured else {
        return;
    };
    if guard.redacted() {
        captured.answer_withheld = Some(REDACTED_PROMPT.into());
        return;
    }
    captured.answer = text().map(crate::request_log::Captured::answer);
}

/// Whether a streamed answer is kept as it streams out: when the team
/// captures content and the prompt had no redactions (as for a complete
/// answer, `capture_answer`).
pub(super) fn stream_capture(cx: &mut RequestCx, guard: &RequestGuard) -> bool {
    match &mut cx.captured {
        Some(captured) if guard.redacted() => {
            captured.answer_withheld = Some(REDACTED_PROMPT.into());
            false
        }
        Some(_) => true,
        None => false,
    }
}

/// What the guardrails did, as the request log keeps it: the value of
/// `x-switchboard-guardrails`.
pub(super) fn guard_summary(guard: &RequestGuard) -> Option<String> {
    guard
        .header()
        .and_then(|value| value.to_str().ok().map(str::to_owned))
}

/// `x-switchboard-guardrails`, when a rule flagged or redacted something.
pub(super) fn add_guard_header(response: &mut Response, guard: &RequestGuard) {
    if let Some(value) = guard.header() {
        response
            .headers_mut()
            .insert("x-switchboard-guardrails", value);
    }
}

/// Which provider and model served the request, and the gateway's own time.
pub fn add_headers(response: &mut Response, cx: &RequestCx) {
    let headers = response.headers_mut();
    if let Some(target) = &cx.target {
        if let Ok(value) = HeaderValue::from_str(target.provider_id()) {
            headers.insert("x-switchboard-provider", value);
        }
        if let Ok(value) = HeaderValue::from_str(&target.canonical) {
            headers.insert("x-switchboard-model", value);
        }
    }
    if cx.attempts > 0 {
        headers.insert("x-switchboard-attempts", HeaderValue::from(cx.attempts));
    }
    headers.insert(
        "x-switchboard-overhead-us",
        HeaderValue::from(cx.overhead().as_micros() as u64),
    );
}
