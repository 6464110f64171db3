//! `POST /v1/chat/completions` through the pipeline.

use super::context::RequestCx;
use super::finish::{Outcome, settle_and_record};
use super::relay::{Relay, Settlement};
use super::stages;
use crate::api::chat::ChatRequest;
use crate::api::decode_json;
use crate::catalog::ModelKind;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::provider::{ChatCall, ChatReply};
use crate::quota::estimate;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::Arc;
use std::time::Instant;

/// Runs the stages in order. Errors returned here happened before any byte
/// went to the client; the caller turns them into OpenAI-shaped responses.
pub async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    // 1. authenticate: first, so an unknown caller learns nothing about models.
    let caller = stages::authenticate(gateway, cx, headers)?;
    // 2. normalize: parse and check the body, then resolve the model name.
    let request: ChatRequest = decode_json(&body)?;
    request.check()?;
    cx.stream = request.is_stream();
    let target = stages::resolve(gateway, cx, &caller, &request.model, ModelKind::Chat)?;
    // 3. guard input: before anything is spent or sent.
    stages::guard_input(gateway, &request)?;
    // 4. reserve budget: before the upstream call, so concurrency cannot overshoot.
    let reservation = stages::reserve(
        gateway,
        &caller,
        &target,
        estimate::user_of(&request),
        || estimate::chat(&request, &target),
    )
    .await?;
    // 5. cache: no cache store is configured yet, so every request goes upstream.
    // 6. route + 7. dispatch.
    let adapter = target
        .provider
        .adapter
        .clone()
        .ok_or_else(|| GatewayError::Internal("resolved a disabled provider".into()))?;
    let call = ChatCall {
        request: &request,
        upstream_model: &target.upstream_model,
    };
    let upstream_started = Instant::now();
    let reply = adapter.chat(call).await;
    cx.upstream_elapsed = upstream_started.elapsed();
    let reply = match reply {
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
            let mut response = json_response(complete.body);
            let record_cx = cx.take();
            add_headers(&mut response, &record_cx);
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
            let deadline = tokio::time::Instant::now() + gateway.config.upstream.total_timeout;
            let stream_cx = cx.take();
            let mut response = Response::new(Body::empty());
            add_headers(&mut response, &stream_cx);
            reservation.headers.apply(response.headers_mut());
            let settlement = Settlement {
                gateway: gateway.clone(),
                cx: stream_cx,
                reservation: Some(reservation),
                messages: request.messages,
                tokenizer: target.model.tokenizer,
            };
            let relay = Relay::new(upstream, settlement, wants_usage, deadline);
            *response.body_mut() = Body::from_stream(relay);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            // Proxies such as nginx buffer responses unless told not to.
            headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
            Ok(response)
        }
    }
}

pub fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
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
    headers.insert(
        "x-switchboard-overhead-us",
        HeaderValue::from(cx.overhead().as_micros() as u64),
    );
}
