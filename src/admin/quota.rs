//! Teams, keys, limits and spend through the admin API. Every change builds
//! a new key store and limit book and swaps them in (requests already in
//! flight finish under the old ones), then saves the admin's changes in the
//! ledger file so they outlive a restart.
//!
//! - `GET/POST /admin/teams`, `GET/PATCH/DELETE /admin/teams/{id}`
//! - `GET/POST /admin/keys`, `PATCH/DELETE /admin/keys/{id}`
//! - `GET /admin/spend?by=team|key|model|day&team=&key=&model=&from=&to=`
//!
//! MCP servers added, replaced or removed through `/admin/mcp/servers` are
//! saved in the same document (`mcp_servers`), as their request bodies:
//! secrets in them are environment variable names, never values.
//!
//! A new key's plaintext is in the creation response only; the gateway keeps
//! its SHA-256. With several replicas, each applies the changes it is sent.

use crate::api::decode_json;
use crate::auth::KeyStore;
use crate::auth::hash_key;
use crate::directory::{Directory, KeyDoc, Overlay, TeamDoc};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::mcp::config::RawServer;
use crate::quota::book::LimitBook;
use crate::quota::ledger::{GroupBy, SpendFilter};
use crate::quota::limits::RawLimits;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// With Redis, replicas share the admin API's changes: each polls the
/// published version and applies a newer document, so a change sent to
/// one replica reaches all of them within `every`.
pub fn follow_shared_changes(gateway: &Arc<Gateway>, every: std::time::Duration) {
    if gateway.quota.shared().is_none() {
        return;
    }
    super::while_gateway_lives(gateway, move |gateway| async move {
        if let Err(error) = pull_shared(&gateway).await {
            tracing::debug!(%error, "could not read shared admin changes");
        }
        drop(gateway);
        tokio::time::sleep(every).await;
    });
}

/// Applies the shared document if it is newer than what this replica has.
async fn pull_shared(gateway: &Gateway) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    let Some(shared) = gateway.quota.shared() else {
        return Ok(());
    };
    let seen = gateway.admin.seen_version.load(Ordering::Acquire);
    if shared
        .admin_overlay_version()
        .await
        .map_err(|e| e.to_string())?
        <= seen
    {
        return Ok(());
    }
    let Some(seal) = &gateway.admin.seal else {
        return Ok(());
    };
    let (version, Some(sealed)) = shared.admin_overlay().await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let Some(doc) = seal.open(&sealed) else {
        // Forged, damaged or from another deployment: never applied, and
        // reported once per version.
        gateway.admin.seen_version.store(version, Ordering::Release);
        gateway.admin.refused_documents.inc();
        tracing::warn!(
            version,
            "refused the shared admin document: its seal does not match this gateway's admin credential"
        );
        return Ok(());
    };
    let doc = doc.to_owned();
    let mut directory = gateway.admin.directory.lock().await;
    let next = Directory::restore(&gateway.config.load(), Some(&doc));
    let (keys, book) = next.build()?;
    gateway.keys.store(Arc::new(keys));
    gateway.quota.update_book(|current| *current = book.clone());
    crate::mcp::registry::apply_saved_changes(
        &gateway.mcp,
        directory.mcp_servers(),
        next.mcp_servers(),
        &gateway.config.load().mcp.admin_commands,
    );
    gateway
        .mcp
        .adopt_pins(crate::directory::pins::parse(next.mcp_pins()));
    gateway.admin.adopt_ended_sessions(&next);
    *directory = next;
    gateway.admin.seen_version.store(version, Ordering::Release);
    // Kept locally too, for a restart while Redis is down.
    gateway.quota.ledger().save_admin_overlay(doc).await
}

fn valid_id(id: &str, param: &str) -> Result<(), GatewayError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::invalid(
            format!("`{param}` must be 1-64 letters, digits, `-`, `_` or `.`"),
            Some(param),
        ))
    }
}

/// A reloaded config under the admin API's changes: the directory is
/// rebuilt from `config` with the same changes on top, and `commit` runs
/// with its key store and limit book while the directory's lock is held,
/// so no admin change interleaves with a reload. Nothing is committed if
/// the result does not build.
pub async fn rebase(
    gateway: &Gateway,
    config: &crate::config::Config,
    commit: impl FnOnce(KeyStore, LimitBook),
) -> Result<(), String> {
    let mut directory = gateway.admin.directory.lock().await;
    let doc = serde_json::to_string(&directory.overlay).map_err(|e| e.to_string())?;
    let next = Directory::restore(config, Some(&doc));
    let (keys, book) = next.build()?;
    commit(keys, book);
    *directory = next;
    Ok(())
}

/// Apply a change to the directory; it takes effect only if the result builds.
async fn change(
    gateway: &Gateway,
    edit: impl FnOnce(&mut Directory) -> Result<(), GatewayError>,
) -> Result<(), GatewayError> {
    let mut directory = gateway.admin.directory.lock().await;
    let mut next = Directory {
        teams: directory.teams.clone(),
        keys: directory.keys.clone(),
        overlay: directory.overlay.clone(),
    };
    edit(&mut next)?;
    let (keys, book) = next
        .build()
        .map_err(|message| GatewayError::invalid(message, None))?;
    save(gateway, &next.overlay).await?;
    gateway.keys.store(Arc::new(keys));
    gateway.quota.update_book(|current| *current = book.clone());
    *directory = next;
    Ok(())
}

/// Save the admin's changes in the ledger file and, with Redis, share them.
async fn save(gateway: &Gateway, overlay: &Overlay) -> Result<(), GatewayError> {
    let doc = serde_json::to_string(overlay).map_err(|e| GatewayError::Internal(e.to_string()))?;
    gateway
        .quota
        .ledger()
        .save_admin_overlay(doc.clone())
        .await
        .map_err(GatewayError::Internal)?;
    if let (Some(shared), Some(seal)) = (gateway.quota.shared(), &gateway.admin.seal) {
        // Other replicas apply it when they next poll; this one already has it.
        match shared.put_admin_overlay(&seal.seal(&doc)).await {
            Ok(version) => gateway
                .admin
                .seen_version
                .store(version, std::sync::atomic::Ordering::Release),
            Err(error) => {
                tracing::warn!(%error, "admin change applied here but not shared with other replicas");
            }
        }
    }
    Ok(())
}

/// Save MCP tool pins with the other admin changes (the ledger file and,
/// with Redis, the shared document).
pub(super) async fn save_mcp_pins(
    gateway: &Gateway,
    pins: &[(String, String)],
) -> Result<(), GatewayError> {
    let mut directory = gateway.admin.directory.lock().await;
    let mut overlay = directory.overlay.clone();
    overlay.mcp_pins.extend(pins.iter().cloned());
    save(gateway, &overlay).await?;
    directory.overlay = overlay;
    Ok(())
}

/// Most ended sessions kept at once; past it the soonest to expire go
/// first (each would end within hours anyway).
const MAX_ENDED_SESSIONS: usize = 1_000;

/// End a dashboard session before its expiry (signing out): saved with the
/// other admin changes, so every replica refuses it and a restart keeps it
/// refused. Expired entries are dropped as it is saved.
pub async fn end_session(
    gateway: &Gateway,
    session: &super::session::Session,
) -> Result<(), GatewayError> {
    let now = crate::shapes::unix_seconds();
    let mut directory = gateway.admin.directory.lock().await;
    let mut overlay = directory.overlay.clone();
    let ended = &mut overlay.ended_sessions;
    ended.retain(|_, expires| *expires > now);
    ended.insert(session.id.clone(), session.expires);
    while ended.len() > MAX_ENDED_SESSIONS {
        let soonest = ended
            .iter()
            .min_by_key(|(_, expires)| **expires)
            .map(|(id, _)| id.clone());
        match soonest {
            Some(id) => ended.remove(&id),
            None => break,
        };
    }
    // Refused here at once, whether or not the save succeeds.
    directory.overlay.ended_sessions = overlay.ended_sessions.clone();
    gateway.admin.adopt_ended_sessions(&directory);
    save(gateway, &overlay).await
}

/// MCP server changes through the admin API, saved with the other admin
/// changes under the directory lock.
pub struct SavedServers(pub Arc<Gateway>);

#[async_trait::async_trait]
impl crate::mcp::admin::ServerChanges for SavedServers {
    async fn change<'a>(
        &'a self,
        name: &'a str,
        doc: Option<RawServer>,
        check: Box<dyn FnOnce() -> Result<(), GatewayError> + Send + 'a>,
        apply: Box<dyn FnOnce() + Send + 'a>,
    ) -> Result<(), GatewayError> {
        let gateway = &self.0;
        let mut directory = gateway.admin.directory.lock().await;
        check()?;
        let mut overlay = directory.overlay.clone();
        overlay.mcp_servers.insert(name.to_owned(), doc);
        save(gateway, &overlay).await?;
        directory.overlay = overlay;
        apply();
        Ok(())
    }
}

fn team_json(id: &str, doc: &TeamDoc, directory: &Directory) -> Value {
    let keys: Vec<&String> = directory
        .keys
        .iter()
        .filter(|(_, key)| key.team == id)
        .map(|(key_id, _)| key_id)
        .collect();
    json!({"id": id, "models": doc.models, "limits": doc.limits, "user_limits": doc.user_limits,
           "hard_cutoff": doc.hard_cutoff, "keys": keys})
}

pub async fn list_teams(State(gateway): State<Arc<Gateway>>) -> Response {
    respond(async {
        let directory = gateway.admin.directory.lock().await;
        let teams: Vec<Value> = directory
            .teams
            .iter()
            .map(|(id, doc)| team_json(id, doc, &directory))
            .collect();
        Ok((StatusCode::OK, json!({"object": "list", "data": teams})))
    })
    .await
}

pub async fn get_team(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    respond(async {
        let directory = gateway.admin.directory.lock().await;
        let doc = directory.teams.get(&id).ok_or_else(|| not_found("team", &id))?;
        let mut body = team_json(&id, doc, &directory);
        let limits = gateway.quota.book().teams.get(&id).map(|t| t.limits.clone()).unwrap_or_default();
        let usage: Vec<Value> = gateway
            .quota
            .usage_of(&format!("t:{id}"), &limits)
            .await
            .into_iter()
            .map(|(window, limit, used)| json!({"window": window.name(), "limit_usd": limit.as_usd(), "used_usd": used.as_usd()}))
            .collect();
        body["budget_usage"] = json!(usage);
        Ok((StatusCode::OK, body))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    id: String,
    #[serde(flatten)]
    doc: TeamDoc,
}

pub async fn create_team(State(gateway): State<Arc<Gateway>>, body: Bytes) -> Response {
    respond(async {
        let NewTeam { id, doc } = decode_json(&body)?;
        valid_id(&id, "id")?;
        change(&gateway, |directory| {
            if directory.teams.contains_key(&id) {
                return Err(GatewayError::invalid(
                    format!("team `{id}` exists"),
                    Some("id"),
                ));
            }
            directory.teams.insert(id.clone(), doc.clone());
            directory
                .overlay
                .teams
                .insert(id.clone(), Some(doc.clone()));
            Ok(())
        })
        .await?;
        Ok((StatusCode::CREATED, json!({"id": id, "team": doc})))
    })
    .await
}

/// A partial update: fields left out keep their value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamPatch {
    models: Option<Vec<String>>,
    limits: Option<RawLimits>,
    user_limits: Option<RawLimits>,
    hard_cutoff: Option<bool>,
}

pub async fn update_team(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(async {
        let patch: TeamPatch = decode_json(&body)?;
        let mut updated = None;
        change(&gateway, |directory| {
            let doc = directory
                .teams
                .get_mut(&id)
                .ok_or_else(|| not_found("team", &id))?;
            if let Some(models) = patch.models {
                doc.models = models;
            }
            if let Some(limits) = patch.limits {
                doc.limits = limits;
            }
            if let Some(user_limits) = patch.user_limits {
                doc.user_limits = user_limits;
            }
            if let Some(hard_cutoff) = patch.hard_cutoff {
                doc.hard_cutoff = hard_cutoff;
            }
            let doc = doc.clone();
            directory
                .overlay
                .teams
                .insert(id.clone(), Some(doc.clone()));
            updated = Some(doc);
            Ok(())
        })
        .await?;
        Ok((StatusCode::OK, json!({"id": id, "team": updated})))
    })
    .await
}

pub async fn revoke_team(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    respond(async {
        change(&gateway, |directory| {
            directory
                .teams
                .remove(&id)
                .ok_or_else(|| not_found("team", &id))?;
            directory.overlay.teams.insert(id.clone(), None);
            // Its keys go with it.
            let keys: Vec<String> = directory
                .keys
                .iter()
                .filter(|(_, key)| key.team == id)
                .map(|(key_id, _)| key_id.clone())
                .collect();
            for key in keys {
                directory.keys.remove(&key);
                directory.overlay.keys.insert(key, None);
            }
            Ok(())
        })
        .await?;
        Ok((StatusCode::OK, json!({"id": id, "revoked": true})))
    })
    .await
}

pub async fn list_keys(State(gateway): State<Arc<Gateway>>) -> Response {
    respond(async {
        let directory = gateway.admin.directory.lock().await;
        let keys: Vec<Value> = directory
            .keys
            .iter()
            .map(|(id, key)| json!({"id": id, "team": key.team, "limits": key.limits, "loopback_only": key.loopback_only}))
            .collect();
        Ok((StatusCode::OK, json!({"object": "list", "data": keys})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    id: String,
    team: String,
    #[serde(default)]
    limits: RawLimits,
}

pub async fn create_key(State(gateway): State<Arc<Gateway>>, body: Bytes) -> Response {
    respond(async {
        let NewKey { id, team, limits } = decode_json(&body)?;
        valid_id(&id, "id")?;
        // 32 random bytes from two v4 UUIDs' CSPRNG output.
        let plaintext = format!(
            "sk-sb-{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let doc = KeyDoc {
            team: team.clone(),
            hash: format!("sha256:{}", hex::encode(hash_key(&plaintext))),
            loopback_only: false,
            limits,
        };
        change(&gateway, |directory| {
            if directory.keys.contains_key(&id) {
                return Err(GatewayError::invalid(
                    format!("key `{id}` exists"),
                    Some("id"),
                ));
            }
            if !directory.teams.contains_key(&team) {
                return Err(GatewayError::invalid(
                    format!("no team `{team}`"),
                    Some("team"),
                ));
            }
            directory.keys.insert(id.clone(), doc.clone());
            directory.overlay.keys.insert(id.clone(), Some(doc.clone()));
            Ok(())
        })
        .await?;
        Ok((
            StatusCode::CREATED,
            json!({"id": id, "team": team, "key": plaintext,
                   "note": "the key is shown only in this response; only its hash is kept"}),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPatch {
    limits: RawLimits,
}

pub async fn update_key(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(async {
        let patch: KeyPatch = decode_json(&body)?;
        change(&gateway, |directory| {
            let key = directory
                .keys
                .get_mut(&id)
                .ok_or_else(|| not_found("key", &id))?;
            key.limits = patch.limits.clone();
            let key = key.clone();
            directory.overlay.keys.insert(id.clone(), Some(key));
            Ok(())
        })
        .await?;
        Ok((StatusCode::OK, json!({"id": id, "limits": patch.limits})))
    })
    .await
}

pub async fn revoke_key(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    respond(async {
        change(&gateway, |directory| {
            directory
                .keys
                .remove(&id)
                .ok_or_else(|| not_found("key", &id))?;
            directory.overlay.keys.insert(id.clone(), None);
            Ok(())
        })
        .await?;
        Ok((StatusCode::OK, json!({"id": id, "revoked": true})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendQuery {
    by: Option<String>,
    team: Option<String>,
    key: Option<String>,
    model: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub async fn spend(
    State(gateway): State<Arc<Gateway>>,
    query: Result<Query<SpendQuery>, QueryRejection>,
) -> Response {
    respond(async {
        let Query(query) = query.map_err(|rejection| GatewayError::invalid(rejection.body_text(), None))?;
        let by_text = query.by.as_deref().unwrap_or("team");
        let by = GroupBy::parse(by_text)
            .ok_or_else(|| GatewayError::invalid("`by` must be team, key, model or day", Some("by")))?;
        let filter = SpendFilter {
            team: query.team,
            key: query.key,
            model: query.model,
            from_day: query.from,
            to_day: query.to,
        };
        let rows = gateway
            .quota
            .spend(by, filter)
            .await
            .map_err(GatewayError::Internal)?;
        let data: Vec<Value> = rows
            .iter()
            .map(|row| json!({by_text: row.group, "requests": row.requests, "cost_usd": row.cost_nano as f64 / 1e9,
                              "cost_nano_usd": row.cost_nano, "prompt_tokens": row.prompt_tokens,
                              "completion_tokens": row.completion_tokens}))
            .collect();
        Ok((StatusCode::OK, json!({"object": "list", "by": by_text, "data": data})))
    })
    .await
}

fn not_found(what: &str, id: &str) -> GatewayError {
    GatewayError::invalid(format!("no {what} `{id}`"), Some("id"))
}

async fn respond(
    work: impl Future<Output = Result<(StatusCode, Value), GatewayError>>,
) -> Response {
    match work.await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_changes_come_back_on_top_of_the_config() {
        let hash = |key: &str| format!("sha256:{}", hex::encode(hash_key(key)));
        let text = format!(
            "[[teams]]\nid = \"a\"\n[teams.limits]\nusd_per_day = 1.5\n\
             [[keys]]\nid = \"ka\"\nteam = \"a\"\nhash = \"{}\"\n\
             [[keys]]\nid = \"kb\"\nteam = \"a\"\nhash = \"{}\"\n[quota]\nledger = \":memory:\"",
            hash("sk-a"),
            hash("sk-b")
        );
        let config =
            crate::config::load_str("t.toml", &text, None, std::path::Path::new(".")).unwrap();
        let saved = json!({
            "teams": {"g": {"models": ["mock/*"], "limits": {"max_concurrent": 2}}},
            "keys": {"kb": null, "kg": {"team": "g", "hash": hash("sk-g")}},
        })
        .to_string();
        let directory = Directory::restore(&config, Some(&saved));
        assert_eq!(directory.teams["a"].limits.usd_per_day, Some(1.5));
        let (keys, book) = directory.build().unwrap();
        let ids: Vec<&str> = keys.keys().iter().map(|k| &*k.id).collect();
        assert_eq!(ids, ["ka", "kg"]);
        assert_eq!(book.teams["g"].limits.max_concurrent, Some(2));
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer sk-g".parse().unwrap());
        assert_eq!(&*keys.authenticate(&headers, None).unwrap().team, "g");
        headers.insert("authorization", "Bearer sk-b".parse().unwrap());
        assert!(keys.authenticate(&headers, None).is_err());
    }
}
