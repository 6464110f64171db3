//! The dashboard at `/ui`: a sign-in page, then one page of HTML and a
//! script that draws the operator's views from the `/admin` API, which it
//! reaches with the session cookie (`admin::session`). Everything it loads
//! is embedded in the binary (no CDN: it works air-gapped), and every
//! answer carries a strict Content-Security-Policy: scripts, styles and
//! requests only from the gateway itself, no inline script.

mod assets;
mod pages;

use crate::admin::session;
use crate::auth::hash_key;
use crate::gateway::Gateway;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::Arc;
use subtle::ConstantTimeEq;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// The dashboard's routes, all under `/ui`.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/ui", get(|| async { see_other("/ui/", None) }))
        .route("/ui/", get(home))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/{name}", get(asset))
}

fn secure(gateway: &Gateway) -> bool {
    gateway.config.load().tls.is_some()
}

/// Headers every dashboard answer carries.
fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    harden(response)
}

fn see_other(location: &'static str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    harden(response)
}

/// The session this request carries, if any.
fn session_of(gateway: &Gateway, headers: &HeaderMap) -> Option<session::Session> {
    let config = gateway.config.load();
    session::of_request(&config.admin.as_ref()?.key_hash, headers)
        .filter(|session| !gateway.admin.session_ended(&session.id))
}

/// A form posted from another site is refused: browsers name the page's
/// origin on a POST, and it must be the gateway's own.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

async fn home(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if gateway.config.load().admin.is_none() {
        return html(StatusCode::FORBIDDEN, pages::login(Some(pages::ADMIN_OFF)));
    }
    match session_of(&gateway, &headers) {
        Some(session) => html(StatusCode::OK, pages::app(&session.csrf)),
        None => html(StatusCode::OK, pages::login(None)),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers) {
        return html(StatusCode::FORBIDDEN, pages::login(Some(pages::CROSS_SITE)));
    }
    let config = gateway.config.load();
    let Some(admin) = &config.admin else {
        return html(StatusCode::FORBIDDEN, pages::login(Some(pages::ADMIN_OFF)));
    };
    let Ok(LoginForm { key }) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return html(StatusCode::BAD_REQUEST, pages::login(Some(pages::NO_KEY)));
    };
    let key = key.trim();
    if bool::from(hash_key(key).ct_eq(&admin.key_hash)) {
        let (cookie, _) = session::issue(&admin.key_hash, crate::shapes::unix_seconds());
        tracing::info!("dashboard session started");
        return see_other("/ui/", Some(session::set_cookie(&cookie, secure(&gateway))));
    }
    let team_key = !key.is_empty() && gateway.keys.load().find(key).is_some();
    tracing::warn!(team_key, "dashboard sign-in refused");
    if team_key {
        html(StatusCode::FORBIDDEN, pages::login(Some(pages::TEAM_KEY)))
    } else {
        html(
            StatusCode::UNAUTHORIZED,
            pages::login(Some(pages::WRONG_KEY)),
        )
    }
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = serde_urlencoded::from_bytes::<LogoutForm>(&body).ok();
    let session = session_of(&gateway, &headers).filter(|session| {
        form.is_some_and(|form| bool::from(form.csrf.as_bytes().ct_eq(session.csrf.as_bytes())))
    });
    let Some(session) = session.filter(|_| same_origin(&headers)) else {
        return html(StatusCode::FORBIDDEN, pages::login(Some(pages::CROSS_SITE)));
    };
    // The cookie is cleared in this browser; ending the session refuses a
    // copy of it anywhere else until it would have expired.
    if let Err(error) = crate::admin::quota::end_session(&gateway, &session).await {
        tracing::warn!(%error, "dashboard session ended here but not saved");
    }
    tracing::info!("dashboard session ended");
    see_other("/ui/", Some(session::clear_cookie(secure(&gateway))))
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some((content_type, body)) = assets::find(&name) else {
        return harden((StatusCode::NOT_FOUND, "no such asset").into_response());
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    harden(response)
}
