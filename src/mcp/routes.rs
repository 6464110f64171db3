//! The HTTP mount: `/mcp` (every server the team may use) and
//! `/mcp/{server}` (one server), streamable HTTP served by rmcp, behind
//! gateway keys or, in OAuth resource-server mode, access tokens; and the
//! Protected Resource Metadata (RFC 9728) of that mode.

use super::McpContext;
use super::front::{FrontDoor, McpRequest};
use super::jwt::{TokenError, TokenVerifier};
use crate::auth::{Caller, KeyStore};
use crate::error::GatewayError;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

/// The `/mcp` front door over `cx`, mergeable into any router.
pub fn routes<S: Clone + Send + Sync + 'static>(cx: McpContext) -> Router<S> {
    let settings = &cx.mcp.settings;
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_legacy_session_mode(settings.legacy_sessions)
        .with_sse_keep_alive(Some(settings.sse_keep_alive))
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(cx.mcp.stop_token());
    if let Some(url) = &settings.session_store {
        match super::sessions::RedisSessionStore::new(url, settings.session_ttl) {
            Ok(store) => config.session_store = Some(Arc::new(store)),
            Err(error) => tracing::error!(%error, "MCP session store unavailable"),
        }
    }
    config = if settings.allowed_origins.is_empty() {
        // An empty list, set on purpose: every browser origin is refused
        // (rmcp would read it as "no validation").
        config.enforce_origin_validation()
    } else {
        config.with_allowed_origins(settings.allowed_origins.clone())
    };
    let for_sessions = cx.clone();
    let service = StreamableHttpService::new(
        move || Ok(FrontDoor::new(for_sessions.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut router = Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/mcp/{server}", service)
        .route_layer(middleware::from_fn_with_state(cx.clone(), authenticate));
    if let Some(oauth) = &cx.mcp.settings.oauth {
        // Public by design (RFC 9728): clients read it before they hold a token.
        router = router.route(&oauth.metadata_path, get(protected_resource_metadata));
        if oauth.metadata_path != WELL_KNOWN {
            router = router.route(WELL_KNOWN, get(protected_resource_metadata));
        }
    }
    router.with_state(cx)
}

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

async fn protected_resource_metadata(State(cx): State<McpContext>) -> Response {
    match &cx.mcp.settings.oauth {
        Some(oauth) => axum::Json(oauth.metadata()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A JSON-RPC error as the whole HTTP response, for failures before the
/// MCP layer (which has no request id to answer to yet).
fn rpc_error(status: StatusCode, code: i32, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

/// A 401 with its challenge: in OAuth mode it points at the Protected
/// Resource Metadata and, for a refused token, says why.
fn unauthorized(cx: &McpContext, message: &str, invalid_token: Option<&str>) -> Response {
    let mut response = rpc_error(StatusCode::UNAUTHORIZED, -32001, message);
    let challenge = match &cx.mcp.settings.oauth {
        Some(oauth) => HeaderValue::try_from(oauth.challenge(invalid_token)).ok(),
        None => Some(HeaderValue::from_static("Bearer realm=\"switchboard\"")),
    };
    if let Some(challenge) = challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// Who calls: the holder of an access token (OAuth mode) or of a gateway key.
async fn caller_of(
    cx: &McpContext,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Caller, Response> {
    let verifier = cx.mcp.oauth.as_deref();
    let presented = KeyStore::presented_key(headers).filter(|key| !key.is_empty());
    if let (Some(verifier), Some(token)) = (verifier, presented)
        && TokenVerifier::looks_like_jwt(token)
    {
        let verified = verifier.verify(token).await.map_err(|error| match error {
            TokenError::Invalid(reason) => unauthorized(cx, &reason, Some(&reason)),
            TokenError::InsufficientScope(missing) => {
                let mut response = rpc_error(
                    StatusCode::FORBIDDEN,
                    -32001,
                    &format!("the access token lacks the required scope(s): {missing}"),
                );
                let challenge = verifier.settings().insufficient_scope_challenge();
                if let Ok(challenge) = HeaderValue::try_from(challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                response
            }
            TokenError::KeysUnavailable(reason) => {
                tracing::error!(%reason, "cannot check MCP access tokens");
                rpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -32603,
                    "access tokens cannot be checked right now",
                )
            }
        })?;
        let keys = cx.keys.load();
        let Some(team_index) = keys
            .teams()
            .iter()
            .position(|team| *team.id == *verified.team)
        else {
            return Err(rpc_error(
                StatusCode::FORBIDDEN,
                -32001,
                &format!(
                    "the token's team `{}` is not a team of this gateway",
                    verified.team
                ),
            ));
        };
        let team = keys.teams()[team_index].clone();
        return Ok(Caller {
            team: team.id.clone(),
            team_index,
            key_id: Arc::from(format!("oauth:{}", verified.subject)),
            team_entry: team,
        });
    }
    if verifier.is_some_and(|v| !v.settings().gateway_keys) {
        return Err(unauthorized(
            cx,
            "an OAuth access token is required: send `Authorization: Bearer <token>`",
            presented.map(|_| "not an access token"),
        ));
    }
    cx.keys
        .load()
        .authenticate(headers, peer)
        .map_err(|error| match error {
            GatewayError::Unauthenticated(message) => unauthorized(cx, message, None),
            _ => unauthorized(cx, "unauthenticated", None),
        })
}

async fn authenticate(
    State(cx): State<McpContext>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let caller = match caller_of(&cx, request.headers(), peer).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let scope = match request.uri().path().strip_prefix("/mcp/") {
        None => None,
        Some(server) => match cx.mcp.upstream(server) {
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
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .map_or_else(|| Arc::from("-"), Arc::from);
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .map(Arc::from);
    request.extensions_mut().insert(McpRequest {
        caller,
        scope,
        request_id,
        traceparent,
    });
    next.run(request).await
}
