//! `POST /v1/responses` through the pipeline: the request is translated to
//! a chat request and runs the same stages as `/v1/chat/completions`
//! (`chat::handle`), so routing, budgets, guardrails, the cache and
//! settlement behave the same on both doors. The chat answer is translated
//! back into a response object, or event by event into the Responses
//! stream; a response is kept (unless `store: false`) for
//! `previous_response_id` and `GET`/`DELETE /v1/responses/{id}`.

use super::chat;
use super::context::RequestCx;
use super::stages;
use super::tool_loop::for_responses as tool_loop;
use crate::api::decode_json;
use crate::api::responses::events::EventTranslator;
use crate::api::responses::loop_events::LoopEvents;
use crate::api::responses::request::{is_mcp_tool, items_to_messages};
use crate::api::responses::{ResponsesRequest, Translated, new_id, reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::stored_responses::StoredResponse;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;
use std::sync::Arc;

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound {
        message: format!("Response with id '{id}' not found."),
    }
}

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
    let chat_body = serde_json::to_vec(&translated.chat)
        .map_err(|error| GatewayError::Internal(format!("encode translated request: {error}")))?;
    let response = chat::handle(gateway, cx, headers, Bytes::from(chat_body)).await?;
    let id = new_id("resp");
    let created_at = crate::shapes::unix_seconds();
    // What a continuation reads: the conversation without instructions.
    let mut conversation = history;
    conversation.extend(items_to_messages(&translated.input_items)?);
    let store = request.store.unwrap_or(true).then(|| {
        (
            gateway.clone(),
            caller.team.to_string(),
            translated.input_items,
        )
    });
    let (mut parts, body) = response.into_parts();
    if !request.is_stream() {
        let completion = chat::read_completion(body).await?;
        let object = reply::from_completion(&request, &id, created_at, &completion);
        if let Some((gateway, team, input_items)) = store {
            keep(
                &gateway,
                &id,
                &team,
                &object,
                input_items,
                conversation,
                true,
            )
            .await;
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        return Ok(Response::from_parts(parts, Body::from(object.to_string())));
    }
    let mut translator = EventTranslator::new(request, id.clone(), created_at);
    let mut store = store;
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
            // The response is kept before its last event leaves, so a client
            // that reads it back right after the stream finds it.
            let kept = match (&translator.finished, store.take()) {
                (Some(finished), Some((gateway, team, input_items))) => {
                    let (id, finished) = (id.clone(), finished.clone());
                    let conversation = std::mem::take(&mut conversation);
                    Some(async move {
                        keep(
                            &gateway,
                            &id,
                            &team,
                            &finished,
                            input_items,
                            conversation,
                            true,
                        )
                        .await;
                    })
                }
                (_, store_left) => {
                    store = store_left;
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
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    Ok(Response::from_parts(parts, Body::from_stream(events)))
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

/// Store a finished response with the conversation it ends (`derive`: the
/// response's output read back as messages and added to it). A store that
/// fails is logged: the client has its answer either way.
async fn keep(
    gateway: &Gateway,
    id: &str,
    team: &str,
    response: &Value,
    input_items: Vec<Value>,
    mut conversation: Vec<Value>,
    derive: bool,
) {
    if response["status"] == "failed" {
        return;
    }
    let output = response["output"].as_array().cloned().unwrap_or_default();
    if derive && let Ok(messages) = items_to_messages(&output) {
        conversation.extend(messages);
    }
    let stored = StoredResponse {
        team: team.to_owned(),
        response: response.clone(),
        input_items,
        messages: conversation,
    };
    if let Err(error) = gateway.responses.put(id, &stored).await {
        tracing::warn!(response = id, %error, "could not keep a response");
    }
}

fn store_failed(id: &str, error: String) -> GatewayError {
    tracing::warn!(response = id, %error, "the response store did not answer");
    GatewayError::Internal("the response store did not answer".into())
}

/// A kept response of `team`.
async fn lookup(
    gateway: &Gateway,
    id: &str,
    team: &str,
) -> Result<Option<StoredResponse>, GatewayError> {
    gateway
        .responses
        .get(id, team)
        .await
        .map_err(|error| store_failed(id, error))
}

/// `GET /v1/responses/{id}`.
pub async fn get(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    id: &str,
) -> Result<Value, GatewayError> {
    let caller = stages::authenticate(gateway, cx, headers)?;
    let stored = lookup(gateway, id, &caller.team)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(stored.response)
}

/// `GET /v1/responses/{id}/input_items`: the request's input, newest first
/// as OpenAI lists them by default (`order=asc` for oldest first).
pub async fn input_items(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    id: &str,
    ascending: bool,
) -> Result<Value, GatewayError> {
    let caller = stages::authenticate(gateway, cx, headers)?;
    let stored = lookup(gateway, id, &caller.team)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut items: Vec<Value> = stored
        .input_items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut item = item.clone();
            if item.get("id").is_none() {
                item["id"] = Value::String(format!("{id}_in_{i}"));
            }
            item
        })
        .collect();
    if !ascending {
        items.reverse();
    }
    Ok(serde_json::json!({
        "object": "list",
        "data": items,
        "first_id": items.first().and_then(|i| i.get("id")),
        "last_id": items.last().and_then(|i| i.get("id")),
        "has_more": false,
    }))
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    id: &str,
) -> Result<Value, GatewayError> {
    let caller = stages::authenticate(gateway, cx, headers)?;
    let deleted = gateway
        .responses
        .delete(id, &caller.team)
        .await
        .map_err(|error| store_failed(id, error))?;
    if !deleted {
        return Err(not_found(id));
    }
    Ok(serde_json::json!({"id": id, "object": "response.deleted", "deleted": true}))
}
