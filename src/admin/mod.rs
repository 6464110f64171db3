//! The admin API under `/admin`: operator views of the running gateway.
//! One layer (`require_admin`, over `auth.rs`) stands before every route, so
//! no handler runs without the admin credential and none checks it itself.

pub mod auth;
pub mod pins;
pub mod quota;
mod routes;
pub mod session;

use crate::gateway::Gateway;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// Run `step` again and again on the current runtime for as long as the
/// gateway lives. Each step owns the gateway and should drop it before it
/// waits, so that a gateway dropped meanwhile ends the loop.
pub(crate) fn while_gateway_lives<F, Fut>(gateway: &Arc<Gateway>, mut step: F)
where
    F: FnMut(Arc<Gateway>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(gateway);
    runtime.spawn(async move {
        while let Some(gateway) = weak.upgrade() {
            step(gateway).await;
        }
    });
}

/// Starts what the admin area keeps running for a gateway (once): with
/// Redis, following the changes other replicas publish; saving new MCP tool
/// pins as the hub sets them.
pub fn start_followers(gateway: &Arc<Gateway>) {
    if gateway.admin.start_followers_once() {
        quota::follow_shared_changes(gateway, std::time::Duration::from_secs(2));
        pins::keep_saved(gateway);
    }
}

/// The admin routes, to be nested under `/admin`: its own, and the routes
/// the cache and MCP expose over their state, all behind the admin key.
pub fn router(gateway: &Arc<Gateway>) -> Router<Arc<Gateway>> {
    Router::new()
        .route("/routes", get(routes::list))
        .merge(quota_routes())
        .merge(crate::cache::admin::routes(gateway.response_cache.clone()))
        .merge(crate::request_log::admin::routes(
            gateway.request_log.clone(),
        ))
        .merge(crate::mcp::admin::routes(crate::mcp::admin::McpAdmin {
            mcp: gateway.mcp.clone(),
            changes: Arc::new(quota::SavedServers(gateway.clone())),
        }))
        .route_layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            require_admin,
        ))
}

/// Lets a request through to an admin route only with the admin key.
async fn require_admin(
    axum::extract::State(gateway): axum::extract::State<Arc<Gateway>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match auth::authorize(&gateway, request.method(), request.headers()) {
        Ok(_) => next.run(request).await,
        Err(error) => axum::response::IntoResponse::into_response(error),
    }
}

/// The quota half of the admin API: teams, keys, limits and spend.
fn quota_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/teams", get(quota::list_teams).post(quota::create_team))
        .route(
            "/teams/{id}",
            get(quota::get_team)
                .patch(quota::update_team)
                .delete(quota::revoke_team),
        )
        .route("/keys", get(quota::list_keys).post(quota::create_key))
        .route(
            "/keys/{id}",
            axum::routing::patch(quota::update_key).delete(quota::revoke_key),
        )
        .route("/spend", get(quota::spend))
}
