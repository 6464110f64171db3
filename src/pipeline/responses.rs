//! `POST /v1/responses` through the pipeline: the request is translated to
//! a chat request and runs the same stages as `/v1/chat/completions`
//! (`chat::handle`), so routing, budgets, guardrails, the cache and
//! settlement behave the same on both doors. The chat answer is translated
//! back into a response object, or event by event into the Responses
//! stream; a response is kept (unless `store: false`, `kept_responses.rs`)
//! for `previous_response_id` and `GET`/`DELETE /v1/responses/{id}`. A
//! request whose route reaches a provider that serves the Responses API
//! itself goes there as one (`native_responses.rs`), and one with `mcp`
//! tools runs the gateway's tool loop (`tool_loop.rs`).

use super::chat;
use super::context::RequestCx;
use super::kept_responses::{Keep, keep, lookup};
use super::native_responses;
use super::stages;
use super::tool_loop::for_responses as tool_loop;
use crate::api::decode_json;
use crate::api::responses::events::EventTranslator;
use crate::api::responses::loop_events::LoopEvents;
use crate::api::responses::request::{is_mcp_tool, items_to_messages};
use crate::api::responses::{ResponsesRequest, Translated, new_id, reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;
use std::sync::Arc;

pub async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    // Authenticate before parsing, as every door does.
    let caller = stages::authenticate(gateway, cx, headers)?;
    let request: ResponsesRequest = decode_json(&body)?;
    request.check()?;
    let (history, previous_output) = match &request.previous_response_id {
        Some(id) => {
            let previous = lookup(gateway, id, &caller.team).await?.ok_or_else(|| {
                GatewayError::InvalidRequest {
                    message: format!("Previous response with id '{id}' not found."),
                    param: Some("previous_response_id".into()),
                }
            })?;
            let output = previous.response["output"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (previous.messages, output)
        }
        None => (Vec::new(), Vec::new()),
    };
    let prompt = match &request.prompt {
        Some(parameter) => Some(stages::render_prompt(gateway, cx, parameter)?),
        None => None,
    };
    let translated = request.to_chat(prompt, &history)?;
    if request.tools.iter().flatten().any(is_mcp_tool) {
        return run_tools(
            gateway,
            cx,
            headers,
            &caller,
            request,
            translated,
            history,
            previous_output,
        )
        .await;
    }
    if request.tool_loop.is_some() {
        return Err(GatewayError::invalid(
            "`tool_loop` applies to a request with `mcp` tools",
            Some("tool_loop"),
        ));
    }
    if native_responses::applies(gateway, &caller, &request) {
        let raw = decode_json(&body)?;
        let turn = native_responses::Turn {
            request,
            raw,
            translated,
            history,
        };
        return native_responses::handle(gateway, cx, &caller, turn).await;
    }
    let chat_body = serde_json::to_vec(&translated.chat)
        .map_err(|error| GatewayError::Internal(format!("encode translated request: {error}")))?;
    let response = chat::handle(gateway, cx, headers, Bytes::from(chat_body)).await?;
    let id = new_id("resp");
    let created_at = crate::shapes::unix_seconds();
    let keep = Keep::of(gateway, &caller, &request, history, translated.input_items)?;
    let (mut parts, body) = response.into_parts();
    if !request.is_stream() {
        let completion = chat::read_completion(body).await?;
        let object = reply::from_completion(&request, &id, created_at, &completion);
        if let Some(keep) = keep {
            keep.put(&id, &object).await;
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        return Ok(Response::from_parts(parts, Body::from(object.to_string())));
    }
    let translator = EventTranslator::new(request, id.clone(), created_at);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    Ok(Response::from_parts(
        parts,
        translate_stream(body, translator, id, keep),
    ))
}

/// A chat SSE body (the chat stages' own) as the Responses event stream;
/// the finished response is kept before its last event leaves, so a client
/// that reads it back right after the stream finds it.
pub(super) fn translate_stream(
    body: Body,
    mut translator: EventTranslator,
    id: String,
    keep: Option<Keep>,
) -> Body {
    let mut keep = keep;
    let events = body
        .into_data_stream()
        .eventsource()
        .map(Some)
        .chain(futures::stream::once(std::future::ready(None)))
        .then(move |event| {
            let out = match event {
                _ if translator.finished.is_some() => Vec::new(),
                Some(Ok(event)) => translator.data(&event.data),
                Some(Err(_)) | None => translator.ended_early(),
            };
            let kept = match (&translator.finished, keep.take()) {
                (Some(finished), Some(keep)) => {
                    let (id, finished) = (id.clone(), finished.clone());
                    Some(async move { keep.put(&id, &finished).await })
                }
                (_, left) => {
                    keep = left;
                    None
                }
            };
            async move {
                if let Some(kept) = kept {
                    kept.await;
                }
                futures::stream::iter(out.into_iter().map(Ok::<_, std::convert::Infallible>))
            }
        })
        .flatten();
    Body::from_stream(events)
}

/// A request with `mcp` tools: the gateway's tool loop, then the response
/// as JSON or, for a stream, its events as each step happens.
#[allow(clippy::too_many_arguments)]
async fn run_tools(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    caller: &crate::auth::Caller,
    request: ResponsesRequest,
    translated: crate::api::responses::Translated,
    history: Vec<Value>,
    previous_output: Vec<Value>,
) -> Result<Response, GatewayError> {
    let id = new_id("resp");
    let created_at = crate::shapes::unix_seconds();
    if request.is_stream() {
        let (gateway, cx, headers, caller) =
            (gateway.clone(), cx.take(), headers.clone(), caller.clone());
        return stream_tools(
            gateway,
            cx,
            headers,
            caller,
            request,
            translated,
            history,
            previous_output,
            id,
            created_at,
        )
        .await;
    }
    let Translated { chat, input_items } = translated;
    let outcome = tool_loop::run(
        gateway,
        cx,
        headers,
        caller,
        &request,
        chat,
        &input_items,
        &previous_output,
        &id,
        created_at,
        None,
    )
    .await?;
    keep_loop(
        gateway,
        caller,
        &request,
        &id,
        &outcome,
        input_items,
        history,
    )
    .await?;
    Ok(crate::shapes::json_response(Bytes::from(
        outcome.response.to_string(),
    )))
}

/// A kept loop's conversation: what it continued, this input, then what the
/// loop added.
async fn keep_loop(
    gateway: &Gateway,
    caller: &crate::auth::Caller,
    request: &ResponsesRequest,
    id: &str,
    outcome: &tool_loop::Outcome,
    input_items: Vec<Value>,
    history: Vec<Value>,
) -> Result<(), GatewayError> {
    let mut conversation = history;
    conversation.extend(items_to_messages(&input_items)?);
    conversation.extend(outcome.messages.iter().cloned());
    if request.store.unwrap_or(true) {
        let team = caller.team.to_string();
        keep(
            gateway,
            id,
            &team,
            &outcome.response,
            input_items,
            conversation,
            false,
        )
        .await;
    }
    Ok(())
}

/// The streamed tool loop: its events go out as each step happens, once
/// its first model call was accepted (`tool_loop/drive.rs`).
#[allow(clippy::too_many_arguments)]
async fn stream_tools(
    gateway: Arc<Gateway>,
    cx: RequestCx,
    headers: HeaderMap,
    caller: crate::auth::Caller,
    request: ResponsesRequest,
    translated: crate::api::responses::Translated,
    history: Vec<Value>,
    previous_output: Vec<Value>,
    id: String,
    created_at: u64,
) -> Result<Response, GatewayError> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let opening = reply::response(
        &request,
        &id,
        created_at,
        "in_progress",
        Vec::new(),
        Value::Null,
        Value::Null,
    );
    let mut events = LoopEvents::new(sender, opening);
    // What the loop leaves to say: `Some` only for an error before it
    // committed; everything else went out as events.
    let drive = async move {
        let Translated { chat, input_items } = translated;
        let outcome = tool_loop::run(
            &gateway,
            &cx,
            &headers,
            &caller,
            &request,
            chat,
            &input_items,
            &previous_output,
            &id,
            created_at,
            Some(&mut events),
        )
        .await;
        let error = match outcome {
            // Kept before its last event leaves, so a client that reads it
            // back right after the stream finds it.
            Ok(outcome) => match keep_loop(
                &gateway,
                &caller,
                &request,
                &id,
                &outcome,
                input_items,
                history,
            )
            .await
            {
                Ok(()) => {
                    events.finish(&outcome.response);
                    return None;
                }
                Err(error) => error,
            },
            Err(error) => error,
        };
        if !events.committed() {
            return Some(error);
        }
        tracing::warn!(error = %error, "the streamed tool loop failed");
        let message = match &error {
            GatewayError::Internal(_) => {
                "the gateway hit an internal error; see its log".to_owned()
            }
            other => other.to_string(),
        };
        events.fail("server_error", &message);
        None
    };
    super::tool_loop::drive::respond(drive, receiver).await
}

pub use super::kept_responses::{delete, get, input_items};
