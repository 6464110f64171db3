//! Azure OpenAI's deployments API:
//! `POST /openai/deployments/{deployment}/chat/completions?api-version=...`
//! with the key in `api-key`. Azure checks its own key header and the
//! `api-version` query, then speaks OpenAI's body; so does this mock, which
//! after Azure's checks answers exactly as the OpenAI mock does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::{MockState, chat, json_response};

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
}

pub(crate) async fn handle(
    State(state): State<Arc<MockState>>,
    Path(_deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    mut req: Request,
) -> Response {
    let key = req.headers().get("api-key").cloned();
    match &key {
        Some(key) if key.as_bytes() == state.options().api_key.as_bytes() => {}
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            );
        }
    }
    if !query.contains_key("api-version") {
        return error(StatusCode::NOT_FOUND, "404", "Resource not found");
    }
    // From here on the request is an OpenAI one.
    if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", state.options().api_key)) {
        req.headers_mut().insert(header::AUTHORIZATION, bearer);
    }
    let response = chat::handle(State(state.clone()), req).await;
    state.record_credential(key.as_ref());
    response
}
