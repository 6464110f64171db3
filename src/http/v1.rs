//! The model endpoints: transport in, pipeline, response out.

use super::REQUEST_ID;
use super::body::read_limited;
use crate::gateway::Gateway;
use crate::pipeline::finish::{Outcome, record};
use crate::pipeline::{Endpoint, RequestCx, chat, embeddings};
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
    gateway.metrics.in_flight.inc();
    let result = match read_limited(body, gateway.config.load().max_body_bytes).await {
        Ok(body) => match endpoint {
            // `/v1/messages` has its own handler (`http/messages.rs`).
            Endpoint::ChatCompletions | Endpoint::Messages => {
                chat::handle(&gateway, &mut cx, &parts.headers, body).await
            }
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
                &cx,
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
