//! The model endpoints: transport in, pipeline, response out.

use super::REQUEST_ID;
use super::body::read_limited;
use crate::gateway::Gateway;
use crate::pipeline::finish::{Outcome, record};
use crate::pipeline::{Endpoint, RequestCx, chat, embeddings, responses};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    request: Request<Body>,
) -> Response {
    serve(gateway, Endpoint::ChatCompletions, request).await
}

pub async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    serve(gateway, Endpoint::Embeddings, request).await
}

pub async fn responses(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    serve(gateway, Endpoint::Responses, request).await
}

/// `GET /v1/responses/{id}`, `GET .../input_items` and `DELETE`: answered from
/// the responses this process keeps, for the caller's team only.
pub async fn stored_response(
    State(gateway): State<Arc<Gateway>>,
    axum::extract::Path(path): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    request: Request<Body>,
) -> Response {
    let (parts, _) = request.into_parts();
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("-"));
    let mut cx = RequestCx::new(Endpoint::Responses, request_id, None);
    let headers = &parts.headers;
    let result = match (parts.method.as_str(), path.split_once('/')) {
        ("GET", None) => responses::get(&gateway, &mut cx, headers, &path).await,
        ("GET", Some((id, "input_items"))) => {
            let ascending = query.as_deref().is_some_and(|q| q.contains("order=asc"));
            responses::input_items(&gateway, &mut cx, headers, id, ascending).await
        }
        ("DELETE", None) => responses::delete(&gateway, &mut cx, headers, &path).await,
        _ => Err(crate::error::GatewayError::UnknownPath(format!(
            "/v1/responses/{path}"
        ))),
    };
    match result {
        Ok(value) => crate::shapes::json_response(bytes::Bytes::from(value.to_string())),
        Err(error) => error.into_response(),
    }
}

async fn serve(gateway: Arc<Gateway>, endpoint: Endpoint, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("-"));
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut cx = RequestCx::new(endpoint, request_id, peer);
    cx.start_recording(&gateway.request_log, &gateway.traces, &parts.headers);
    gateway.metrics.in_flight.inc();
    let result = match read_limited(body, gateway.config.load().max_body_bytes).await {
        Ok(body) => match endpoint {
            // `/v1/messages` has its own handler (`http/messages.rs`).
            Endpoint::ChatCompletions | Endpoint::Messages => {
                chat::handle(&gateway, &mut cx, &parts.headers, body).await
            }
            Endpoint::Responses => responses::handle(&gateway, &mut cx, &parts.headers, body).await,
            Endpoint::Embeddings => {
                embeddings::handle(&gateway, &mut cx, &parts.headers, body).await
            }
        },
        Err(error) => Err(error),
    };
    gateway.metrics.in_flight.dec();
    match result {
        Ok(response) => response,
        Err(error) => {
            // The one place an error is logged.
            match error.source_kind() {
                crate::error::ErrorSource::Client => {
                    tracing::debug!(error = %error, "request refused")
                }
                crate::error::ErrorSource::Upstream => {
                    tracing::warn!(error = %error, "upstream failed")
                }
                crate::error::ErrorSource::Internal => {
                    tracing::error!(error = %error, "internal error")
                }
            }
            record(
                &gateway,
                &mut cx,
                error.status().as_u16(),
                Outcome::Error(error.label()),
            );
            let mut response = error.into_response();
            // Once a model was resolved, say how many upstream attempts failed.
            if cx.route.is_some() {
                response
                    .headers_mut()
                    .insert("x-switchboard-attempts", HeaderValue::from(cx.attempts));
            }
            response
        }
    }
}
