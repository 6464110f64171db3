//! `GET /v1/models`: only the models the caller's team may use and that can serve now.

use crate::auth::Team;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::routing::Target;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// A fixed creation time: the gateway does not know when providers made their models.
const CREATED: u64 = 1_700_000_000;

fn model_object(name: &str, target: &Target) -> Value {
    json!({
        "id": name,
        "object": "model",
        "created": CREATED,
        "owned_by": target.provider_id(),
    })
}

/// The caller's team, or the 401 to send.
fn team_of(gateway: &Gateway, parts: &Parts) -> Result<Arc<Team>, GatewayError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let caller = gateway.keys.load().authenticate(&parts.headers, peer)?;
    Ok(caller.team_entry)
}

pub async fn list(State(gateway): State<Arc<Gateway>>, parts: Parts) -> Response {
    let team = match team_of(&gateway, &parts) {
        Ok(team) => team,
        Err(error) => return error.into_response(),
    };
    let data: Vec<Value> = gateway
        .router
        .load()
        .visible_models(&team)
        .into_iter()
        .map(|(name, target)| model_object(name, target))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn retrieve(
    State(gateway): State<Arc<Gateway>>,
    Path(model): Path<String>,
    parts: Parts,
) -> Response {
    let team = match team_of(&gateway, &parts) {
        Ok(team) => team,
        Err(error) => return error.into_response(),
    };
    match gateway
        .router
        .load()
        .visible_models(&team)
        .into_iter()
        .find(|(name, _)| *name == model)
    {
        Some((name, target)) => Json(model_object(name, target)).into_response(),
        None => GatewayError::ModelNotFound {
            message: format!("the model `{model}` does not exist or you do not have access to it"),
        }
        .into_response(),
    }
}
