//! Dashboard sessions end when their holder signs out: a copy of the cookie
//! is refused from then on, by the admin API and the dashboard alike, and
//! still after a restart on the same ledger.

use super::harness::config_text;
use std::time::Duration;
use switchboard::auth::hash_key;
use switchboard::config::load_str;
use switchboard::gateway::Gateway;
use switchboard::server::{self, RunningServer};

const ADMIN_KEY: &str = "sk-admin-ui-session-test";

/// A gateway with `quota` as its whole `[quota]` table.
async fn gateway_with(quota: &str) -> RunningServer {
    switchboard::install_crypto_provider();
    let extra = format!(
        "[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_KEY))
    );
    let text = config_text(&extra).replace("[quota]\nledger = \":memory:\"\n", quota);
    let config = load_str("test.toml", &text, None, std::path::Path::new("."))
        .expect("test config is valid");
    let gateway = Gateway::build_with_env(config, &|_| None).expect("gateway builds");
    server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("gateway binds")
}

async fn gateway_on(ledger: &str) -> RunningServer {
    gateway_with(&format!("[quota]\nledger = {}\n", toml_string(ledger))).await
}

fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A browser-like client that does not follow redirects, so the sign-in's
/// cookie can be read.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Signs in with the admin key: the session cookie (`name=value`).
async fn sign_in(base: &str) -> String {
    let response = client()
        .post(format!("{base}/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token the dashboard's page carries for this session.
async fn csrf_of(base: &str, cookie: &str) -> String {
    let page = client()
        .get(format!("{base}/ui/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page
        .find("name=\"csrf-token\" content=\"")
        .expect("a signed-in page carries its CSRF token")
        + "name=\"csrf-token\" content=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Posts the sign-out form with `csrf`: the status.
async fn post_sign_out(base: &str, cookie: &str, csrf: &str) -> u16 {
    client()
        .post(format!("{base}/ui/logout"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn sign_out(base: &str, cookie: &str) {
    let csrf = csrf_of(base, cookie).await;
    assert_eq!(post_sign_out(base, cookie, &csrf).await, 303);
}

async fn admin_status(base: &str, cookie: &str) -> u16 {
    client()
        .get(format!("{base}/admin/teams"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_signed_out_session_is_refused_everywhere_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let ledger = ledger.to_str().unwrap();
    let running = gateway_on(ledger).await;
    let base = format!("http://{}", running.addr);

    let cookie = sign_in(&base).await;
    let other = sign_in(&base).await;
    assert_eq!(admin_status(&base, &cookie).await, 200);
    let csrf = csrf_of(&base, &cookie).await;

    // A sign-out without the session's CSRF token changes nothing.
    assert_eq!(post_sign_out(&base, &cookie, "0000").await, 403);
    assert_eq!(admin_status(&base, &cookie).await, 200);

    assert!(!csrf.is_empty());
    sign_out(&base, &cookie).await;
    // A copy of the cookie kept elsewhere: refused by the admin API, and the
    // dashboard shows the sign-in form instead of the app.
    assert_eq!(admin_status(&base, &cookie).await, 401);
    let page = client()
        .get(format!("{base}/ui/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("csrf-token"), "{page}");
    // Another session of the same admin is untouched.
    assert_eq!(admin_status(&base, &other).await, 200);

    // A restart on the same ledger keeps the session ended.
    running.gateway.quota.close_ledger().await;
    drop(running);
    let running = gateway_on(ledger).await;
    let base = format!("http://{}", running.addr);
    assert_eq!(admin_status(&base, &cookie).await, 401);
    assert_eq!(admin_status(&base, &other).await, 200);
}

#[tokio::test]
async fn a_session_ended_on_one_replica_is_refused_by_the_others() {
    if !crate::quota_processes::redis_up().await {
        return;
    }
    let quota = format!(
        "[quota]\nledger = \":memory:\"\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nredis_prefix = \"sbtest:{}\"\n",
        uuid::Uuid::new_v4()
    );
    let first = gateway_with(&quota).await;
    let second = gateway_with(&quota).await;
    let (one, two) = (
        format!("http://{}", first.addr),
        format!("http://{}", second.addr),
    );
    // Signed by the same admin credential, the cookie opens both.
    let cookie = sign_in(&one).await;
    assert_eq!(admin_status(&two, &cookie).await, 200);
    sign_out(&one, &cookie).await;
    assert_eq!(admin_status(&one, &cookie).await, 401);
    // The other replica learns it from the shared admin document.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while admin_status(&two, &cookie).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the other replica still accepts the ended session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
