//! Config reload on SIGHUP and on a changed file, through the real binary:
//! a new key works and a removed one stops working without a restart, a
//! request in flight finishes on the config it started with, a
//! restart-only change is kept as it was and named, and a broken config is
//! refused with the gateway left as it was.

use crate::harness::*;
use crate::processes::{ConfigDir, GatewayProcess};
use std::time::{Duration, Instant};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

const GAMMA_KEY: &str = "sk-gamma-test";

/// Writes `text` to the config at `path`, signals the gateway, and waits
/// for the reload counter `name` (applied or refused) to reach `value`.
pub(crate) async fn reload_with(
    client: &reqwest::Client,
    gateway: &GatewayProcess,
    path: &std::path::Path,
    text: &str,
    name: &str,
    value: u64,
) {
    std::fs::write(path, text).unwrap();
    hangup(gateway);
    wait_for_counter(client, gateway, name, value).await;
}

fn hangup(gateway: &GatewayProcess) {
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &gateway.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGHUP is sent");
}

/// The value of a counter on `/metrics`, 0 when absent.
async fn counter(client: &reqwest::Client, gateway: &GatewayProcess, name: &str) -> u64 {
    let text = get_text(client, &gateway.url("/metrics")).await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

async fn wait_for_counter(
    client: &reqwest::Client,
    gateway: &GatewayProcess,
    name: &str,
    value: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(client, gateway, name).await < value {
        assert!(Instant::now() < deadline, "{name} never reached {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_with(client: &reqwest::Client, gateway: &GatewayProcess, key: &str) -> u16 {
    client
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(key)
        .body(chat_body("fast", "hello").to_string())
        .send()
        .await
        .expect("the gateway answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn sighup_and_file_changes_reload_the_config_and_keep_requests_in_flight() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions {
        slow_first_byte: Duration::from_secs(5),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    let original = config_text("");
    let path = dir.write("gateway.toml", &original);
    let gateway = GatewayProcess::start(&path, &upstream.base_url()).await;
    let client = reqwest::Client::new();
    assert_eq!(status_with(&client, &gateway, GAMMA_KEY).await, 401);

    // A request in flight when the config changes under it.
    let in_flight = {
        let (client, url) = (client.clone(), gateway.url("/v1/chat/completions"));
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(ALPHA_KEY)
                .body(chat_body("openai/fault-slow", "started before the reload").to_string())
                .send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while upstream.state.chat_calls() < 1 {
        assert!(
            Instant::now() < deadline,
            "the request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The alpha key is replaced by gamma's, and the listener "moved"
    // (restart-only: kept, and named in a warning).
    let gamma_hash = format!(
        "sha256:{}",
        hex::encode(switchboard::auth::hash_key(GAMMA_KEY))
    );
    let alpha_key = format!(
        "[[keys]]\nid = \"alpha-ci\"\nteam = \"alpha\"\nhash = \"sha256:{}\"\n",
        hex::encode(switchboard::auth::hash_key(ALPHA_KEY))
    );
    assert!(
        original.contains(&alpha_key),
        "the test config has the alpha key"
    );
    let changed = original
        .replace(
            &alpha_key,
            &format!("[[keys]]\nid = \"gamma-ci\"\nteam = \"alpha\"\nhash = \"{gamma_hash}\"\n"),
        )
        .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"");
    reload_with(
        &client,
        &gateway,
        &path,
        &changed,
        "switchboard_config_reloads_applied_total",
        1,
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "the upstream holds the request for 5 s; the reload took effect meanwhile"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in flight finishes"
    );
    assert_eq!(status_with(&client, &gateway, GAMMA_KEY).await, 200);
    assert_eq!(status_with(&client, &gateway, ALPHA_KEY).await, 401);
    // The restart-only change is named.
    gateway.wait_for_log("server.listen").await;

    // A config that does not validate changes nothing.
    reload_with(
        &client,
        &gateway,
        &path,
        &changed.replace("fast = \"openai/gpt-4o-mini\"", "fast = \"nowhere/model\""),
        "switchboard_config_reloads_refused_total",
        1,
    )
    .await;
    assert_eq!(status_with(&client, &gateway, GAMMA_KEY).await, 200);
    gateway.wait_for_log("config reload refused").await;

    // No signal needed: a changed file is noticed and reloaded.
    let applied = counter(
        &client,
        &gateway,
        "switchboard_config_reloads_applied_total",
    )
    .await;
    std::fs::write(&path, &original).unwrap();
    wait_for_counter(
        &client,
        &gateway,
        "switchboard_config_reloads_applied_total",
        applied + 1,
    )
    .await;
    assert_eq!(status_with(&client, &gateway, ALPHA_KEY).await, 200);
    assert_eq!(status_with(&client, &gateway, GAMMA_KEY).await, 401);
    gateway.terminate().await;
}
