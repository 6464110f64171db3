//! `POST /v1/responses` to providers that serve the Responses API
//! themselves (`responses_api = true` in their data): the same stages as a
//! chat request, in the same order and for the same reasons (see
//! `chat.rs`), around a Responses call instead of a chat call. The request
//! is still translated to chat once: the input guardrails, the budget
//! estimate and a fallback to a provider without the Responses API all read
//! that; what goes upstream natively is built from the guarded messages
//! (`api::responses::native`). The answer is the upstream's response object
//! (or its events), under the gateway's own response id.
//!
//! Not through here: the tool loop (`mcp` tools), which runs translated.
//! The response cache, which holds chat completions, is not consulted.

use super::chat::{
    add_guard_header, add_headers, capture_answer, capture_prompt, guard_summary, stream_capture,
    stream_headers,
};
use super::context::RequestCx;
use super::dispatch::{self, Served};
use super::finish::{Outcome, settle_and_record};
use super::kept_responses::Keep;
use super::native_relay::NativeStream;
use super::relay::{Relay, Settlement};
use super::responses::translate_stream;
use super::stages;
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::api::responses::events::EventTranslator;
use crate::api::responses::{ResponsesRequest, Translated, native, new_id, reply};
use crate::auth::Caller;
use crate::catalog::ModelKind;
use crate::cost::Usage;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guardrails::Phase;
use crate::guardrails::stage::RequestGuard;
use crate::guardrails::window::StreamGuard;
use crate::provider::ChatReply;
use crate::quota::Hold as Reservation;
use crate::quota::estimate;
use crate::shapes::json_response;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// What the Responses door read before choosing this path.
pub(super) struct Turn {
    pub request: ResponsesRequest,
    /// The request's own parameters, as sent (already checked).
    pub raw: Map<String, Value>,
    pub translated: Translated,
    /// The conversation it continues, as chat messages.
    pub history: Vec<Value>,
}

/// Whether a request goes natively: a target of its route serves the
/// Responses API.
pub(super) fn applies(gateway: &Gateway, caller: &Caller, request: &ResponsesRequest) -> bool {
    let router = gateway.router.load();
    let Ok(route) = router.resolve_route(&request.model, &caller.team_entry, ModelKind::Chat)
    else {
        // The chat stages name the error.
        return false;
    };
    route.targets.iter().any(|t| {
        let provider = &t.target.provider;
        provider.spec.responses_api && provider.adapter.is_some()
    })
}

pub(super) async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    caller: &Caller,
    turn: Turn,
) -> Result<Response, GatewayError> {
    let Turn {
        request,
        raw,
        translated,
        history,
    } = turn;
    // 2. normalize: the translated chat request, checked as the chat door does.
    let started = Instant::now();
    let chat_body = serde_json::to_vec(&translated.chat)
        .map_err(|error| GatewayError::Internal(format!("encode translated request: {error}")))?;
    let mut chat: ChatRequest = decode_json(&chat_body)?;
    chat.check()?;
    cx.stream = chat.is_stream();
    let target = stages::resolve(gateway, cx, caller, &chat.model, ModelKind::Chat)?;
    cx.stage("switchboard.normalize", started);
    // 3. guard input: before anything is spent or sent.
    let started = Instant::now();
    let guard = stages::guard_input(gateway, cx, caller, &mut chat).await?;
    cx.stage("switchboard.guard_input", started);
    capture_prompt(gateway, cx, caller, &chat);
    // What goes upstream natively: built from the guarded messages.
    let upstream = native::upstream_body(&raw, &request, &chat.messages);
    let keep = Keep::of(gateway, caller, &request, history, translated.input_items)?;
    // 4. reserve budget: before the upstream call.
    let started = Instant::now();
    let reservation = stages::reserve(
        gateway,
        cx,
        caller,
        &target,
        estimate::user_of(&chat),
        |target| estimate::chat(&chat, target),
    )
    .await?;
    cx.stage("switchboard.reserve", started);
    // 6. route + 7. dispatch: natively or translated, target by target.
    let started = Instant::now();
    let served = dispatch::responses(gateway, cx, &chat, &upstream).await;
    cx.stage("switchboard.dispatch", started);
    let (served, limits) = match served {
        Ok(served) => served,
        Err(error) => {
            gateway.quota.settle(reservation, None).await;
            return Err(error);
        }
    };
    let id = new_id("resp");
    let created_at = crate::shapes::unix_seconds();
    let answer = Answer {
        gateway,
        caller,
        guard,
        reservation,
        keep,
    };
    match served {
        Served::Native(ChatReply::Complete(complete)) => {
            let object = serde_json::from_slice::<Value>(&complete.body).ok();
            let Some(mut object) = object.filter(Value::is_object) else {
                let error = GatewayError::UpstreamFailed {
                    message: "the provider answered with an invalid response object".into(),
                };
                answer.refuse(cx, &error, complete.usage).await;
                return Err(error);
            };
            native::adopt(&mut object, &request, &id, created_at);
            answer.complete(cx, &id, object, complete.usage).await
        }
        Served::Translated(ChatReply::Complete(complete)) => {
            let Ok(completion) = serde_json::from_slice::<Value>(&complete.body) else {
                let error = GatewayError::UpstreamFailed {
                    message: "the provider answered with invalid JSON".into(),
                };
                answer.refuse(cx, &error, complete.usage).await;
                return Err(error);
            };
            let object = reply::from_completion(&request, &id, created_at, &completion);
            answer.complete(cx, &id, object, complete.usage).await
        }
        Served::Native(ChatReply::Stream(upstream)) => {
            let (response, settlement, keep, guard, capture) = answer.stream(cx, &chat, &target);
            let events = NativeStream::new(
                upstream,
                request,
                (id, created_at),
                limits.deadline,
                settlement,
                guard,
            )
            .keeping(keep)
            .capturing(capture);
            Ok(with_body(response, Body::from_stream(events.into_body())))
        }
        Served::Translated(ChatReply::Stream(upstream)) => {
            let (response, settlement, keep, guard, capture) = answer.stream(cx, &chat, &target);
            let relay = Relay::new(upstream, settlement, true, limits.deadline)
                .with_guard(guard)
                .with_capture(capture);
            let translator = EventTranslator::new(request, id.clone(), created_at);
            let body = translate_stream(Body::from_stream(relay), translator, id, keep);
            Ok(with_body(response, body))
        }
    }
}

/// A streamed answer's response around `body`.
fn with_body(mut response: Response, body: Body) -> Response {
    *response.body_mut() = body;
    stream_headers(response.headers_mut());
    response
}

/// What stages 8 to 10 need once an upstream answered.
struct Answer<'a> {
    gateway: &'a Arc<Gateway>,
    caller: &'a Caller,
    guard: RequestGuard,
    reservation: Reservation,
    keep: Option<Keep>,
}

impl Answer<'_> {
    /// The upstream was paid for: settle its usage, then refuse.
    async fn refuse(self, cx: &mut RequestCx, error: &GatewayError, usage: Option<Usage>) {
        let (status, label) = (error.status().as_u16(), error.label());
        let record_cx = cx.take();
        settle_and_record(
            self.gateway,
            record_cx,
            Some(self.reservation),
            usage,
            status,
            Outcome::Error(label),
        )
        .await;
    }

    /// A complete response object: 8. guard output (over its output
    /// items), kept, 9. settled and 10. recorded.
    async fn complete(
        mut self,
        cx: &mut RequestCx,
        id: &str,
        mut object: Value,
        usage: Option<Usage>,
    ) -> Result<Response, GatewayError> {
        let started = Instant::now();
        let request_id = cx.request_id.to_str().unwrap_or("-").to_owned();
        if self.guard.guards_output() {
            let mut output = object["output"].take();
            let texts = output
                .as_array_mut()
                .map(|items| native::output_texts(items))
                .unwrap_or_default()
                .into_iter()
                .map(|(arguments, text)| {
                    let phase = if arguments {
                        Phase::ToolArguments
                    } else {
                        Phase::Output
                    };
                    (phase, text)
                })
                .collect();
            let checked = self
                .guard
                .check_answer_texts(
                    &self.gateway.metrics.guardrail_decisions,
                    &request_id,
                    &self.caller.team,
                    texts,
                )
                .await;
            object["output"] = output;
            if let Err(error) = checked {
                cx.stage("switchboard.guard_output", started);
                cx.guard = guard_summary(&self.guard);
                tracing::debug!(error = %error, "response refused");
                self.refuse(cx, &error, usage).await;
                return Ok(error.into_response());
            }
        }
        cx.stage("switchboard.guard_output", started);
        cx.guard = guard_summary(&self.guard);
        let mut record_cx = cx.take();
        capture_answer(&mut record_cx, &self.guard, || first_text(&object));
        if let Some(keep) = self.keep.take() {
            keep.put(id, &object).await;
        }
        let mut response = json_response(bytes::Bytes::from(object.to_string()));
        add_headers(&mut response, &record_cx);
        add_guard_header(&mut response, &self.guard);
        self.reservation.headers.apply(response.headers_mut());
        settle_and_record(
            self.gateway,
            record_cx,
            Some(self.reservation),
            usage,
            200,
            Outcome::Ok,
        )
        .await;
        Ok(response)
    }

    /// A stream's response headers, what settles it and keeps its response
    /// when it ends, its output guardrails, and whether its answer is
    /// captured for the request log.
    fn stream(
        self,
        cx: &mut RequestCx,
        chat: &ChatRequest,
        target: &crate::routing::Target,
    ) -> (
        Response,
        Settlement,
        Option<Keep>,
        Option<StreamGuard>,
        bool,
    ) {
        // The served target's tokenizer counts usage the upstream did not report.
        let tokenizer = cx
            .target
            .as_ref()
            .map_or(target.model.tokenizer, |served| served.model.tokenizer);
        cx.guard = guard_summary(&self.guard);
        let capture = stream_capture(cx, &self.guard);
        let request_id = cx.request_id.to_str().unwrap_or("-").to_owned();
        let stream_cx = cx.take();
        let mut response = Response::new(Body::empty());
        add_headers(&mut response, &stream_cx);
        // Flags from the prompt are known now; those from the stream are logged and counted.
        add_guard_header(&mut response, &self.guard);
        let guard = StreamGuard::new(
            &self.gateway.guardrails.load(),
            &self.gateway.metrics.guardrail_decisions,
            &request_id,
            &self.caller.team,
            self.guard,
        );
        self.reservation.headers.apply(response.headers_mut());
        let settlement = Settlement {
            gateway: self.gateway.clone(),
            cx: stream_cx,
            reservation: Some(self.reservation),
            messages: chat.messages.clone(),
            tokenizer,
            cache_fill: None,
        };
        (response, settlement, self.keep, guard, capture)
    }
}

/// The response's first output text.
fn first_text(object: &Value) -> Option<&str> {
    object["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["content"].as_array())
        .flatten()
        .find_map(|part| part["text"].as_str())
}
