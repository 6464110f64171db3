//! The request log under `/admin/requests`: rows filtered by team, key,
//! model, status and time (newest first, paged by `before`), one request's
//! rows by its id, and the summary the dashboard's overview and spend
//! pages draw. Behind the admin key, like every admin route.

use super::{Filter, ReadError, RequestLog};
use crate::error::GatewayError;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Reply = Result<Json<Value>, GatewayError>;
type LogState = State<Arc<RequestLog>>;

pub fn routes<S: Clone + Send + Sync + 'static>(log: Arc<RequestLog>) -> Router<S> {
    Router::new()
        .route("/requests", get(list))
        .route("/requests/summary", get(summary))
        .route("/requests/{id}", get(show))
        .with_state(log)
}

fn filter<T>(found: Result<Query<T>, QueryRejection>) -> Result<T, GatewayError> {
    found
        .map(|Query(filter)| filter)
        .map_err(|rejection| GatewayError::invalid(rejection.body_text(), None))
}

/// Reads run on the blocking pool: SQLite is synchronous.
async fn read<T: Send + 'static>(
    log: Arc<RequestLog>,
    work: impl FnOnce(&RequestLog) -> Result<T, ReadError> + Send + 'static,
) -> Result<T, GatewayError> {
    tokio::task::spawn_blocking(move || work(&log))
        .await
        .map_err(|_| GatewayError::Internal("the request log read failed".into()))?
        .map_err(|error| match error {
            ReadError::BadFilter { field, message } => GatewayError::invalid(message, Some(field)),
            ReadError::Off => GatewayError::UnknownPath(
                "/admin/requests (the request log is off: `[request_log] enabled = false`)".into(),
            ),
            ReadError::Store(message) => {
                tracing::warn!(error = %message, "request log read failed");
                GatewayError::Internal("the request log could not be read".into())
            }
        })
}

async fn list(State(log): LogState, found: Result<Query<Filter>, QueryRejection>) -> Reply {
    let filter = filter(found)?;
    let rows = read(log.clone(), move |log| log.list(&filter)).await?;
    let next = rows.last().map(|row| row.seq);
    Ok(Json(json!({
        "requests": rows,
        "next_before": next,
        "dropped": log.dropped(),
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    team: Option<String>,
    key: Option<String>,
    model: Option<String>,
    status: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// Points in each series (default 24, at most 240).
    buckets: Option<u32>,
}

async fn summary(
    State(log): LogState,
    found: Result<Query<SummaryQuery>, QueryRejection>,
) -> Reply {
    let query = filter(found)?;
    let buckets = query.buckets.unwrap_or(24);
    let filter = Filter {
        team: query.team,
        key: query.key,
        model: query.model,
        status: query.status,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
        ..Filter::default()
    };
    let summary = read(log, move |log| log.summary(&filter, buckets)).await?;
    Ok(Json(serde_json::to_value(summary).unwrap_or_default()))
}

async fn show(State(log): LogState, Path(id): Path<String>) -> Reply {
    let key = id.clone();
    let rows = read(log, move |log| log.by_request_id(&key)).await?;
    if rows.is_empty() {
        return Err(GatewayError::NotFound {
            message: format!("no request `{id}` in the log"),
        });
    }
    Ok(Json(json!({ "request_id": id, "calls": rows })))
}
