//! `POST /v1/messages` through the pipeline: the Anthropic request is
//! translated to the OpenAI shape and runs the same stages as
//! `/v1/chat/completions` (`chat::handle`), so routing, budgets, guardrails
//! and settlement behave the same on both doors. The OpenAI-shaped answer is
//! translated back on the way out; a stream is translated event by event.

use super::chat;
use super::context::RequestCx;
use super::stages;
use crate::api::anthropic::MessagesRequest;
use crate::api::anthropic::events::EventTranslator;
use crate::api::anthropic::reply;
use crate::api::decode_json;
use crate::catalog::ModelKind;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::tokens;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http::HeaderMap;
use std::sync::Arc;

pub async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    // Authenticate before parsing, as every door does.
    stages::authenticate(gateway, cx, headers)?;
    let request: MessagesRequest = decode_json(&body)?;
    let chat_request = request.to_chat(false)?;
    let chat_body = serde_json::to_vec(&chat_request)
        .map_err(|error| GatewayError::Internal(format!("encode translated request: {error}")))?;
    let response = chat::handle(gateway, cx, headers, Bytes::from(chat_body)).await?;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let (parts, body) = response.into_parts();
    if !request.is_stream() {
        let completion = chat::read_completion(body).await?;
        let message = reply::message(&completion, &id, &request.model);
        return Ok(Response::from_parts(parts, Body::from(message.to_string())));
    }
    let mut translator = EventTranslator::new(id, request.model.clone());
    let events = body
        .into_data_stream()
        .eventsource()
        .map(Some)
        .chain(futures::stream::once(std::future::ready(None)))
        .flat_map(move |event| {
            let out = match event {
                _ if translator.finished => Vec::new(),
                Some(Ok(event)) => translator.data(&event.data),
                Some(Err(_)) | None => translator.ended_early(),
            };
            futures::stream::iter(out.into_iter().map(Ok::<_, std::convert::Infallible>))
        });
    Ok(Response::from_parts(parts, Body::from_stream(events)))
}

/// `POST /v1/messages/count_tokens`: the prompt counted with the resolved
/// model's tokenizer. Nothing is reserved or sent upstream.
pub async fn count_tokens(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    let caller = stages::authenticate(gateway, cx, headers)?;
    let request: MessagesRequest = decode_json(&body)?;
    let chat_request = request.to_chat(true)?;
    let target = stages::resolve(gateway, cx, &caller, &request.model, ModelKind::Chat)?;
    let mut count = tokens::count_messages(target.model.tokenizer, &chat_request.messages);
    if let Some(tools) = chat_request.extra.get("tools") {
        count += tokens::count_text(target.model.tokenizer, &tools.to_string());
    }
    let mut response = crate::shapes::json_response(Bytes::from(
        serde_json::json!({"input_tokens": count}).to_string(),
    ));
    chat::add_headers(&mut response, cx);
    Ok(response)
}
