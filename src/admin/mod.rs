//! The admin API under `/admin`, behind its own credential (`[admin]`).

pub mod auth;
pub mod quota;

use crate::gateway::Gateway;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// The quota half of the admin API: teams, keys, limits and spend.
pub fn quota_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route(
            "/admin/teams",
            get(quota::list_teams).post(quota::create_team),
        )
        .route(
            "/admin/teams/{id}",
            get(quota::get_team)
                .patch(quota::update_team)
                .delete(quota::revoke_team),
        )
        .route("/admin/keys", get(quota::list_keys).post(quota::create_key))
        .route(
            "/admin/keys/{id}",
            axum::routing::patch(quota::update_key).delete(quota::revoke_key),
        )
        .route("/admin/spend", get(quota::spend))
}
