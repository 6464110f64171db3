//! The Anthropic-compatible endpoints: transport in, pipeline, response out.
//! Errors leave this door in Anthropic's shape.

use super::REQUEST_ID;
use super::body::read_limited;
use crate::api::anthropic::error;
use crate::error::ErrorSource;
use crate::gateway::Gateway;
use crate::pipeline::finish::{Outcome, record};
use crate::pipeline::{Endpoint, RequestCx, messages};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use http::{HeaderValue, Request};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn create(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    serve(gateway, false, request).await
}

pub async fn count_tokens(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    serve(gateway, true, request).await
}

async fn serve(gateway: Arc<Gateway>, count: bool, request: Request<Body>) -> Response {
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
    let mut cx = RequestCx::new(Endpoint::Messages, request_id, peer);
    if !count {
        cx.start_recording(&gateway.request_log, &gateway.traces, &parts.headers);
    }
    gateway.metrics.in_flight.inc();
    let result = match read_limited(body, gateway.config.load().max_body_bytes).await {
        Ok(body) if count => messages::count_tokens(&gateway, &mut cx, &parts.headers, body).await,
        Ok(body) => messages::handle(&gateway, &mut cx, &parts.headers, body).await,
        Err(error) => Err(error),
    };
    gateway.metrics.in_flight.dec();
    match result {
        Ok(response) => {
            if count {
                record(&gateway, &mut cx, 200, Outcome::Ok);
            }
            response
        }
        Err(failure) => {
            // The one place an error of this door is logged.
            match failure.source_kind() {
                ErrorSource::Client => tracing::debug!(error = %failure, "request refused"),
                ErrorSource::Upstream => tracing::warn!(error = %failure, "upstream failed"),
                ErrorSource::Internal => tracing::error!(error = %failure, "internal error"),
            }
            record(
                &gateway,
                &mut cx,
                failure.status().as_u16(),
                Outcome::Error(failure.label()),
            );
            error::response(failure)
        }
    }
}
