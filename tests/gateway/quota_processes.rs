//! Budgets across processes: two real gateways sharing one Redis, and
//! settled spend surviving `kill -9` (embedded and Redis).

use super::harness::{ALPHA_KEY, JsonBody, config_text};
use super::processes::{ConfigDir, GatewayProcess};
use futures::future::join_all;
use serde_json::{Value, json};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// gpt-4o-mini: $0.15 and $0.60 per 1M tokens = 150 and 600 nano-USD a token.
fn cost_of(body: &Value) -> u64 {
    let usage = &body["usage"];
    usage["prompt_tokens"].as_u64().unwrap() * 150
        + usage["completion_tokens"].as_u64().unwrap() * 600
}

fn request() -> String {
    json!({
        "model": "fast",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "tell me one short thing about budgets"}],
    })
    .to_string()
}

/// The test config with a team budget and a `[quota]` section.
fn config(limits: &str, quota: &str) -> String {
    config_text("")
        .replace(
            "[quota]\nledger = \":memory:\"\n",
            &format!("[quota]\n{quota}\n"),
        )
        .replace(
            "[[teams]]\nid = \"alpha\"\n",
            &format!("[[teams]]\nid = \"alpha\"\n[teams.limits]\n{limits}\n"),
        )
}

/// Whether Redis answers; when it does not, the test says it is skipped
/// (and fails under CI).
pub async fn redis_up() -> bool {
    let reachable = match redis::Client::open(REDIS_URL) {
        Ok(client) => client
            .get_multiplexed_async_connection()
            .await
            .map(|_| ())
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match reachable {
        Ok(()) => true,
        Err(error) => {
            crate::harness::missing_dependency(
                &format!("Redis at {REDIS_URL}"),
                &format!("unreachable: {error}; scripts/test starts it"),
            );
            false
        }
    }
}

async fn redis_value(key: &str) -> u64 {
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let value: Option<u64> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap();
    value.unwrap_or(0)
}

/// Redis settles leave the request path: wait (at most 10 s) until the
/// counter shows them all.
async fn settles_land(counter: &str, expected: u64) {
    for _ in 0..200 {
        if redis_value(counter).await == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(redis_value(counter).await, expected, "{counter}");
}

/// (rows, total nano-USD) of the ledger at `path`: its SQLite rows plus the
/// settled requests still in its pending file, as a restart would fold them.
pub fn ledger_total(path: &std::path::Path) -> (u64, u64) {
    // Pending files first: the ledger commits a file's rows before it
    // deletes the file, so a fold between the two reads is seen in SQLite.
    let pending = switchboard::quota::pending::read_pending(path).unwrap();
    let mut connection = rusqlite::Connection::open(path).unwrap();
    // One read transaction, so the count and the look-ups below see the
    // same commits: a fold landing between two separate reads would leave
    // its rows out of the count and mark them as already folded.
    let snapshot = connection.transaction().unwrap();
    let (mut rows, mut total) = snapshot
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(cost_nano), 0) FROM spend",
            [],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )
        .unwrap();
    let mut folded = snapshot
        .prepare("SELECT COUNT(*) FROM spend WHERE id = ?1")
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for record in pending {
        let in_ledger: i64 = folded
            .query_row([&record.entry.id], |row| row.get(0))
            .unwrap();
        if in_ledger == 0 && seen.insert(record.entry.id.clone()) {
            rows += 1;
            total += record.entry.cost_nano;
        }
    }
    (rows, total)
}

fn client() -> reqwest::Client {
    switchboard::install_crypto_provider();
    reqwest::Client::new()
}

async fn post(client: &reqwest::Client, gateway: &GatewayProcess) -> (u16, Value) {
    let response = client
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .header("content-type", "application/json")
        .body(request())
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json_body().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_never_overshoot_the_budget() {
    if !redis_up().await {
        return;
    }
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    // One request costs 6_300 nano-USD here (its worst case, reserved first,
    // 11_550); a budget of 330_000 affords about 50 of them.
    let budget_nano = 330_000u64;
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let dir = ConfigDir::new();
    let mut gateways = Vec::new();
    for name in ["a", "b"] {
        let text = config(
            &format!("usd_total = {}", budget_nano as f64 / 1e9),
            &format!(
                "store = \"redis\"\nredis_url = \"{REDIS_URL}\"\nredis_prefix = \"{prefix}\"\nledger = \"ledger-{name}.sqlite\""
            ),
        );
        let path = dir.write(&format!("{name}.toml"), &text);
        gateways.push(GatewayProcess::start(&path, &upstream.base_url()).await);
    }
    let client = client();
    let calls = (0..200).map(|i| post(&client, &gateways[i % 2]));
    let results = join_all(calls).await;
    let mut served_cost = 0;
    let mut served = 0;
    for (status, body) in &results {
        match status {
            200 => {
                served += 1;
                served_cost += cost_of(body);
            }
            429 => {
                let error = &body["error"];
                assert_eq!(error["code"], "insufficient_quota", "{body}");
                assert_eq!(error["scope"], "team alpha", "{body}");
                assert_eq!(error["limit_kind"], "usd:total", "{body}");
                assert_eq!(error["limit"], json!(budget_nano as f64 / 1e9), "{body}");
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    eprintln!("served {served} of 200, settled {served_cost} of {budget_nano} nano-USD");
    // At least what worst-case holds guarantee (a refusal means the holds in
    // flight filled the budget), at most what actual costs allow.
    let worst_case = 11_550;
    let floor = budget_nano / worst_case;
    let ceiling = (budget_nano - worst_case) / 6_300 + 1;
    assert!((floor..=ceiling).contains(&served), "served {served}");
    assert!(served_cost <= budget_nano);
    // The shared counter, once every settle has landed (they are batched in
    // the background), is exactly what was served.
    let counter = format!("{prefix}:usd:total:t:alpha");
    settles_land(&counter, served_cost).await;
    let (rows_a, total_a) = ledger_total(&dir.path("ledger-a.sqlite"));
    let (rows_b, total_b) = ledger_total(&dir.path("ledger-b.sqlite"));
    assert_eq!(rows_a + rows_b, served);
    assert_eq!(total_a + total_b, served_cost);
}

/// Spend two requests' worth, `kill -9`, restart: the budget still knows.
/// With Redis (`counter` names its budget counter), the kill comes once the
/// settles have landed there; one still queued at the kill leaves its hold
/// counted at the worst case until the hold expires (see the contract test
/// `redis_takes_back_a_hold_that_is_never_settled`).
async fn spend_survives_kill_9(quota_section: &str, counter: Option<&str>) {
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let path = dir.write(
        "gateway.toml",
        &config(
            "usd_total = 0.00002515",
            &format!("ledger = \"ledger.sqlite\"\n{quota_section}"),
        ),
    );
    let client = client();
    let gateway = GatewayProcess::start(&path, &upstream.base_url()).await;
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 200, "{body}");
    let first_cost = cost_of(&body);
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 200, "{body}");
    if let Some(counter) = counter {
        settles_land(counter, 2 * first_cost).await;
    }
    gateway.kill_9().await;
    assert_eq!(
        ledger_total(&dir.path("ledger.sqlite")),
        (2, 2 * first_cost)
    );
    let gateway = GatewayProcess::start(&path, &upstream.base_url()).await;
    // 25_150 budget, 12_600 spent: the next request's worst case (11_550)
    // fits once, then no more. Forgetting the spend would serve three.
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 200, "{body}");
    // With Redis the settle lands after the response; until it does, the
    // refusal would count the third request at its worst case.
    if let Some(counter) = counter {
        settles_land(counter, 3 * first_cost).await;
    }
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["error"]["current"],
        json!((3 * first_cost) as f64 / 1e9)
    );
    gateway.kill_9().await;
}

/// A SIGTERM folds the pending file into the SQLite file before the exit,
/// so the file alone is complete for whoever reads it next.
#[tokio::test]
async fn a_graceful_shutdown_leaves_every_settle_in_the_sqlite_file() {
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let path = dir.write(
        "gateway.toml",
        &config("usd_total = 1", "ledger = \"ledger.sqlite\"\n"),
    );
    let client = client();
    let gateway = GatewayProcess::start(&path, &upstream.base_url()).await;
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 200, "{body}");
    gateway.terminate().await;
    let connection = rusqlite::Connection::open(dir.path("ledger.sqlite")).unwrap();
    let (rows, total): (i64, i64) = connection
        .query_row("SELECT COUNT(*), SUM(cost_nano) FROM spend", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((rows, total as u64), (1, cost_of(&body)));
    let left: Vec<_> = std::fs::read_dir(dir.path("."))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains("-pending."))
        .collect();
    assert!(left.is_empty(), "pending files left: {left:?}");
}

#[tokio::test]
async fn embedded_spend_survives_kill_9() {
    spend_survives_kill_9("", None).await;
}

#[tokio::test]
async fn redis_spend_survives_kill_9() {
    if !redis_up().await {
        return;
    }
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    spend_survives_kill_9(
        &format!("store = \"redis\"\nredis_url = \"{REDIS_URL}\"\nredis_prefix = \"{prefix}\""),
        Some(&format!("{prefix}:usd:total:t:alpha")),
    )
    .await;
}
