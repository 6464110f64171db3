//! `GET /admin/routes`: every configured route with its targets, each
//! target's breaker state and its moving average of time to first token.

use crate::gateway::Gateway;
use crate::routing::Route;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;

pub async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let now = Instant::now();
    let routes: Vec<Value> = gateway
        .router
        .load()
        .configured_routes(gateway.config.load().routing())
        .into_iter()
        .map(|route| route_json(route, now))
        .collect();
    Json(json!({ "routes": routes }))
}

fn route_json(route: &Route, now: Instant) -> Value {
    let targets: Vec<Value> = route
        .targets
        .iter()
        .map(|t| {
            let target = &t.target;
            json!({
                "model": &*target.canonical,
                "provider": target.provider_id(),
                "enabled": target.provider.adapter.is_some(),
                "weight": t.weight,
                "priority": t.priority,
                "breaker": target.health.state(now).label(),
                "ttft_ewma_ms": target.health.ttft().map(|d| d.as_secs_f64() * 1e3),
                "context_window": target.model.context_window,
            })
        })
        .collect();
    json!({
        "name": &*route.name,
        "strategy": route.strategy.label(),
        "retries": {
            "attempts": route.retries.attempts,
            "backoff_ms": route.retries.backoff.as_millis() as u64,
            "max_backoff_ms": route.retries.max_backoff.as_millis() as u64,
        },
        "targets": targets,
    })
}
