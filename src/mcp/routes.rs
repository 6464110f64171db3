//! The HTTP mount: `/mcp` (every server the team may use) and
//! `/mcp/{server}` (one server), streamable HTTP served by rmcp, behind
//! gateway-key authentication.

use super::front::{FrontDoor, McpRequest};
use crate::gateway::Gateway;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

pub fn routes(gateway: Arc<Gateway>) -> Router<Arc<Gateway>> {
    let settings = &gateway.mcp.settings;
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_legacy_session_mode(settings.legacy_sessions)
        .with_sse_keep_alive(Some(settings.sse_keep_alive))
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(gateway.mcp.stop_token());
    if let Some(url) = &settings.session_store {
        match super::sessions::RedisSessionStore::new(url, settings.session_ttl) {
            Ok(store) => config.session_store = Some(Arc::new(store)),
            Err(error) => tracing::error!(%error, "MCP session store unavailable"),
        }
    }
    config = if settings.allowed_origins.is_empty() {
        // No browser origin is trusted unless configured.
        config.enforce_origin_validation()
    } else {
        config.with_allowed_origins(settings.allowed_origins.clone())
    };
    let for_sessions = gateway.clone();
    let service = StreamableHttpService::new(
        move || Ok(FrontDoor::new(for_sessions.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/mcp/{server}", service)
        .route_layer(middleware::from_fn_with_state(gateway, authenticate))
}

/// A JSON-RPC error as the whole HTTP response, for failures before the
/// MCP layer (which has no request id to answer to yet).
fn rpc_error(status: StatusCode, code: i32, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"switchboard\""),
        );
    }
    response
}

async fn authenticate(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let caller = match gateway.keys.load().authenticate(request.headers(), peer) {
        Ok(caller) => caller,
        Err(crate::error::GatewayError::Unauthenticated(message)) => {
            return rpc_error(StatusCode::UNAUTHORIZED, -32001, message);
        }
        Err(_) => return rpc_error(StatusCode::UNAUTHORIZED, -32001, "unauthenticated"),
    };
    let scope = match request.uri().path().strip_prefix("/mcp/") {
        None => None,
        Some(server) => match gateway.mcp.upstream(server) {
            Some(upstream) => Some(upstream.name().clone()),
            None => {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    -32002,
                    &format!("no MCP server `{server}` is registered"),
                );
            }
        },
    };
    // The client's credential stays here: upstream requests are built by the
    // gateway from its own config, never from these headers.
    request
        .extensions_mut()
        .insert(McpRequest { caller, scope });
    next.run(request).await
}
