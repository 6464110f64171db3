//! The admin API under `/admin`: operator views of the running gateway.
//! Every handler takes an `AdminCaller` (see `auth.rs`), so none runs without
//! the admin credential.

pub mod auth;
pub mod quota;
mod routes;

use crate::gateway::Gateway;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

pub use auth::AdminCaller;

/// The admin routes, to be nested under `/admin`.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/routes", get(routes::list))
        .merge(crate::cache::admin::routes())
        .merge(crate::mcp::admin::routes())
        .merge(quota_routes())
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
