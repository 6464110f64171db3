//! Operations endpoints: liveness, readiness, metrics; and the panic response.

use crate::error::GatewayError;
use crate::gateway::Gateway;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use std::any::Any;
use std::sync::Arc;

/// Liveness: the process answers. Nothing else is checked.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Readiness (`crate::readiness`): 200 when this replica should get traffic,
/// else 503; either way a JSON body naming each check and what is not ready.
pub async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let report = gateway.readiness.report(gateway.readiness_facts()).await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, report.body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
