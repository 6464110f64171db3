//! Operations endpoints: liveness, readiness, metrics; and the panic response.

use crate::error::GatewayError;
use crate::gateway::Gateway;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use std::any::Any;
use std::sync::Arc;

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Ready when at least one provider can serve.
pub async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let serving = gateway
        .router
        .providers()
        .entries
        .values()
        .filter(|entry| entry.adapter.is_some())
        .count();
    if serving > 0 {
        (StatusCode::OK, format!("ready: {serving} providers\n")).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no provider is configured\n",
        )
            .into_response()
    }
}

pub async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    let mut response = gateway.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// A panic anywhere below becomes a JSON 500; the payload goes to the log only.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "request handler panicked");
    GatewayError::Internal(detail.to_owned()).into_response()
}
