//! What is kept of a Responses API response (unless `store: false`), per
//! team, and read back: `GET`/`DELETE /v1/responses/{id}` and its
//! `input_items`, and the conversation `previous_response_id` continues.

use super::context::RequestCx;
use super::stages;
use crate::api::responses::ResponsesRequest;
use crate::api::responses::request::items_to_messages;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::stored_responses::StoredResponse;
use http::HeaderMap;
use serde_json::Value;
use std::sync::Arc;

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound {
        message: format!("Response with id '{id}' not found."),
    }
}

/// What keeps a finished response (unless `store: false`): the caller's
/// team, this request's input items and the conversation it continues.
pub(super) struct Keep {
    gateway: Arc<Gateway>,
    team: String,
    input_items: Vec<Value>,
    /// The conversation without instructions, as a continuation reads it:
    /// the history, then this input (the answer is added when kept).
    conversation: Vec<Value>,
}

impl Keep {
    pub(super) fn of(
        gateway: &Arc<Gateway>,
        caller: &crate::auth::Caller,
        request: &ResponsesRequest,
        history: Vec<Value>,
        input_items: Vec<Value>,
    ) -> Result<Option<Self>, GatewayError> {
        if !request.store.unwrap_or(true) {
            return Ok(None);
        }
        let mut conversation = history;
        conversation.extend(items_to_messages(&input_items)?);
        Ok(Some(Self {
            gateway: gateway.clone(),
            team: caller.team.to_string(),
            input_items,
            conversation,
        }))
    }

    /// Keeps `response` under `id`, with its output added to the conversation.
    pub(super) async fn put(self, id: &str, response: &Value) {
        keep(
            &self.gateway,
            id,
            &self.team,
            response,
            self.input_items,
            self.conversation,
            true,
        )
        .await;
    }
}

/// Store a finished response with the conversation it ends (`derive`: the
/// response's output read back as messages and added to it). A store that
/// fails is logged: the client has its answer either way.
pub(super) async fn keep(
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
pub(super) async fn lookup(
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

/// The caller's kept response `id`, or "not found".
async fn read(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    id: &str,
) -> Result<StoredResponse, GatewayError> {
    let caller = stages::authenticate(gateway, cx, headers)?;
    lookup(gateway, id, &caller.team)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /v1/responses/{id}`.
pub async fn get(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    id: &str,
) -> Result<Value, GatewayError> {
    Ok(read(gateway, cx, headers, id).await?.response)
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
    let stored = read(gateway, cx, headers, id).await?;
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
