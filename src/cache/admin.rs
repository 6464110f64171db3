//! The cache inspection API under `/admin/cache`, for operators holding the
//! admin key: list, search by text, show one entry with its hit history,
//! delete, purge by team or model, stats, and the shadow log.

use super::ResponseCache;
use super::exact::Entry;
use crate::api::decode_json;
use crate::error::GatewayError;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Reply = Result<Json<Value>, GatewayError>;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// The routes over the cache (`None` when it is off: each answers 404).
/// They do not check the admin key themselves: the admin router puts every
/// area's routes behind it.
pub fn routes<S: Clone + Send + Sync + 'static>(cache: Option<Arc<ResponseCache>>) -> Router<S> {
    Router::new()
        .route("/cache/entries", get(list))
        .route("/cache/entries/{id}", get(show).delete(delete))
        .route("/cache/search", get(search))
        .route("/cache/purge", post(purge))
        .route("/cache/stats", get(stats))
        .route("/cache/shadow", get(shadow))
        .route("/cache/shadow/report", get(shadow_report))
        .with_state(cache)
}

type CacheState = State<Option<Arc<ResponseCache>>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    team: Option<String>,
    model: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
}

impl Filter {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    fn selects(&self, entry: &Entry) -> bool {
        self.team.as_ref().is_none_or(|team| &entry.team == team)
            && self
                .model
                .as_ref()
                .is_none_or(|model| &entry.model == model)
    }
}

/// The cache, or a 404 when it is off.
fn guard(cache: &Option<Arc<ResponseCache>>) -> Result<&Arc<ResponseCache>, GatewayError> {
    cache
        .as_ref()
        .ok_or_else(|| GatewayError::UnknownPath("/admin/cache (the cache is off)".into()))
}

fn query(found: Result<Query<Filter>, QueryRejection>) -> Result<Filter, GatewayError> {
    found
        .map(|Query(filter)| filter)
        .map_err(|rejection| GatewayError::invalid(rejection.body_text(), None))
}

fn summary(entry: &Entry) -> Value {
    json!({
        "id": entry.id_text(),
        "team": entry.team,
        "model": entry.model,
        "prompt": entry.question,
        "created_ms": entry.created_ms,
        "expires_ms": entry.expires_ms,
        "hits": entry.hits,
        "last_hit_ms": entry.last_hit_ms,
        "saved_tokens": entry.saved_tokens,
        "saved_usd": entry.saved_nano_usd as f64 / 1e9,
    })
}

fn parse_id(id: &str) -> Result<u64, GatewayError> {
    u64::from_str_radix(id, 16)
        .map_err(|_| GatewayError::invalid(format!("`{id}` is not a cache entry id"), Some("id")))
}

async fn list(State(cache): CacheState, found: Result<Query<Filter>, QueryRejection>) -> Reply {
    let cache = guard(&cache)?;
    let filter = query(found)?;
    let mut entries: Vec<Value> = cache.with_table(|table| {
        let mut selected: Vec<&Entry> = table.iter().filter(|e| filter.selects(e)).collect();
        selected.sort_by_key(|entry| std::cmp::Reverse(entry.created_ms));
        selected
            .into_iter()
            .take(filter.limit())
            .map(summary)
            .collect()
    });
    entries.truncate(filter.limit());
    Ok(Json(json!({ "entries": entries })))
}

async fn show(State(cache): CacheState, Path(id): Path<String>) -> Reply {
    let cache = guard(&cache)?;
    let id = parse_id(&id)?;
    cache
        .with_table(|table| {
            table.get(id).map(|entry| {
                let mut value = summary(entry);
                value["response"] = entry.response.clone();
                value["history"] = json!(entry.history);
                value["prompt_tokens"] = json!(entry.prompt_tokens);
                value["completion_tokens"] = json!(entry.completion_tokens);
                value
            })
        })
        .map(Json)
        .ok_or_else(|| GatewayError::UnknownPath(format!("/admin/cache/entries/{id:016x}")))
}

async fn delete(State(cache): CacheState, Path(id): Path<String>) -> Reply {
    let cache = guard(&cache)?;
    let id = parse_id(&id)?;
    let removed = cache.purge_scope(&super::purge::PurgeScope {
        id: Some(id),
        ..Default::default()
    });
    if removed == 0 {
        return Err(GatewayError::UnknownPath(format!(
            "/admin/cache/entries/{id:016x}"
        )));
    }
    Ok(Json(json!({ "deleted": removed })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    team: Option<String>,
    model: Option<String>,
}

async fn purge(State(cache): CacheState, body: Bytes) -> Reply {
    let cache = guard(&cache)?;
    let request: PurgeRequest = decode_json(&body)?;
    if request.team.is_none() && request.model.is_none() {
        return Err(GatewayError::invalid(
            "name a `team`, a `model` or both; purging everything takes both filters off on purpose",
            Some("team"),
        ));
    }
    let scope = super::purge::PurgeScope {
        team: request.team,
        model: request.model,
        id: None,
    };
    Ok(Json(json!({ "purged": cache.purge_scope(&scope) })))
}

/// Nearest entries to a text, with their similarity (brute force: an
/// operator's query, not the hot path). Without a model: entries whose
/// prompt contains the text.
async fn search(State(cache): CacheState, found: Result<Query<Filter>, QueryRejection>) -> Reply {
    let cache = guard(&cache)?;
    let filter = query(found)?;
    let Some(text) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) else {
        return Err(GatewayError::invalid("`q` is required", Some("q")));
    };
    let vector = cache.embed(text).await;
    let results = cache.with_table(|table| {
        let mut scored: Vec<(f32, &Entry)> = table
            .iter()
            .filter(|e| filter.selects(e))
            .filter_map(|entry| match (&vector, &entry.vector) {
                (Some(query), Some(stored)) => {
                    Some((query.iter().zip(stored).map(|(a, b)| a * b).sum(), entry))
                }
                (None, _) => entry
                    .question
                    .to_lowercase()
                    .contains(&text.to_lowercase())
                    .then_some((1.0, entry)),
                _ => None,
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(filter.limit())
            .map(|(similarity, entry)| {
                let mut value = summary(entry);
                value["similarity"] = json!(similarity);
                value
            })
            .collect::<Vec<_>>()
    });
    Ok(Json(
        json!({ "semantic": vector.is_some(), "results": results }),
    ))
}

async fn stats(State(cache): CacheState) -> Reply {
    let cache = guard(&cache)?;
    let metrics = &cache.metrics;
    let [exact, semantic, miss, bypass] =
        ["hit-exact", "hit-semantic", "miss", "bypass"].map(|o| metrics.count(o));
    let looked = (exact + semantic + miss).max(1) as f64;
    Ok(Json(json!({
        "entries": cache.len(),
        "semantic_layer": cache.semantic_enabled(),
        "shadow_mode": cache.settings.shadow,
        "lookups": {"hit_exact": exact, "hit_semantic": semantic, "miss": miss, "bypass": bypass},
        "hit_ratio": {
            "exact": exact as f64 / looked,
            "semantic": semantic as f64 / looked,
            "total": (exact + semantic) as f64 / looked,
        },
        "saved_tokens": metrics.saved_tokens.get(),
        "saved_usd": metrics.saved_usd.get(),
    })))
}

async fn shadow(State(cache): CacheState, found: Result<Query<Filter>, QueryRejection>) -> Reply {
    let cache = guard(&cache)?;
    let filter = query(found)?;
    Ok(Json(
        json!({ "records": cache.shadow_log.recent(filter.limit()) }),
    ))
}

/// How often each confidence would have served an answer different from
/// the fresh one, from the shadow records that were compared: an
/// operator's check of the operating point on their own traffic.
async fn shadow_report(State(cache): CacheState) -> Reply {
    let cache = guard(&cache)?;
    Ok(Json(cache.shadow_log.report()))
}
