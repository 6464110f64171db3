//! The admin API under `/admin`: operator views of the running gateway.
//! Every handler takes an `AdminCaller` (see `auth.rs`), so none runs without
//! the admin credential.

pub mod auth;
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
}
