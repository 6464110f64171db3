//! Quotas on Redis, against a private `redis-server` each test starts (and
//! may kill and restart): one round trip per request with settles batched in
//! the background, the failure policy while Redis is down and the exact
//! spend once it is back, spend reads across replicas, and a fallback target
//! priced at what it costs.

use super::harness::{ALPHA_KEY, BETA_KEY, JsonBody, config_text};
use super::processes::{ConfigDir, GatewayProcess};
use super::quota_processes::ledger_total;
use futures::future::join_all;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use switchboard::auth::hash_key;
use switchboard_mock_upstream::{self as mock_upstream, MockOptions};
use tokio::process::{Child, Command};

const ADMIN_TOKEN: &str = "sk-admin-quota-redis";

/// A `redis-server` of the test's own on a free port. With an append-only
/// file synced on every write and no snapshots (`--save ""`), a kill and a
/// restart on the same folder keep every write, like a production Redis with
/// persistence going down and coming back.
struct PrivateRedis {
    port: u16,
    dir: ConfigDir,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            dir: ConfigDir::new(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..200 {
            if self.connection().await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the private redis-server did not answer on port {}",
            self.port
        );
    }

    /// SIGKILL: Redis goes away mid-traffic.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("redis is running");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .ok()?;
        Some(connection)
    }

    async fn get(&self, key: &str) -> u64 {
        let mut connection = self.connection().await.expect("redis answers");
        let value: Option<u64> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        value.unwrap_or(0)
    }

    /// Commands the server has run, by name, from `INFO commandstats`.
    async fn command_calls(&self) -> Vec<(String, u64)> {
        let mut connection = self.connection().await.expect("redis answers");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut connection)
            .await
            .unwrap();
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }

    /// Script calls the server has run (`EVALSHA` and `EVAL`): each is one
    /// round trip of the gateway's. (Commands a script runs inside count in
    /// `INFO commandstats` under their own names, so those are left out.)
    async fn script_calls(&self) -> u64 {
        self.command_calls()
            .await
            .iter()
            .filter(|(name, _)| name == "evalsha" || name == "eval")
            .map(|(_, calls)| calls)
            .sum()
    }
}

/// The test config: alpha's `limits`, a Redis `[quota]` section, the admin
/// API, and `lab` (a provider data file of the test's own) pointed at the mock.
fn config(
    limits: &str,
    redis_url: &str,
    prefix: &str,
    on_store_error: &str,
    ledger: &str,
) -> String {
    config_text(&format!(
        "[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_TOKEN))
    ))
    .replace(
        "max_body_bytes = 1048576\n",
        "max_body_bytes = 1048576\nproviders_dir = \"providers\"\n",
    )
    .replace(
        "[quota]\nledger = \":memory:\"\n",
        &format!(
            "[quota]\nstore = \"redis\"\nredis_url = \"{redis_url}\"\nredis_prefix = \"{prefix}\"\n\
             on_store_error = \"{on_store_error}\"\nledger = \"{ledger}\"\nredis_timeout = \"300ms\"\n"
        ),
    )
    .replace(
        "[[teams]]\nid = \"alpha\"\n",
        &format!("[[teams]]\nid = \"alpha\"\n[teams.limits]\n{limits}\n"),
    ) + LAB_ROUTE
}

/// `priced`: first a cheap target that answers 503 (the mock fails a model
/// named `fault-503`), then one about 17 times pricier.
const LAB_ROUTE: &str = r#"
[routes.priced]
targets = [{ model = "lab/fault-503", priority = 1 }, { model = "lab/pricey", priority = 2 }]
retries = { attempts = 1, backoff = "10ms", max_backoff = "10ms" }
"#;

const LAB_PROVIDER: &str = r#"
id = "lab"
name = "Lab"
wire = "openai"
base_url = "http://127.0.0.1:9/v1"
base_url_env = "OPENAI_BASE_URL"
auth = "bearer"
api_key_env = "OPENAI_API_KEY"
allow_unlisted_models = false

[models.fault-503]
kind = "chat"
context_window = 128000
max_output_tokens = 16384
tokenizer = "o200k_base"
price = { input = 0.15, output = 0.60 }

[models.pricey]
kind = "chat"
context_window = 128000
max_output_tokens = 16384
tokenizer = "o200k_base"
price = { input = 2.50, output = 10.00 }
"#;

fn write_config(dir: &ConfigDir, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.path("providers")).unwrap();
    std::fs::write(dir.path("providers/lab.toml"), LAB_PROVIDER).unwrap();
    dir.write(name, text)
}

fn client() -> reqwest::Client {
    switchboard::install_crypto_provider();
    reqwest::Client::new()
}

fn chat(model: &str) -> String {
    json!({
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "tell me one short thing about budgets"}],
    })
    .to_string()
}

async fn post_as(
    client: &reqwest::Client,
    gateway: &GatewayProcess,
    key: &str,
    model: &str,
) -> (u16, Value, Option<String>) {
    let response = client
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(chat(model))
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let served = response
        .headers()
        .get("x-switchboard-model")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.json_body().await, served)
}

async fn post(client: &reqwest::Client, gateway: &GatewayProcess) -> (u16, Value) {
    let (status, body, _) = post_as(client, gateway, ALPHA_KEY, "fast").await;
    (status, body)
}

/// Nano-USD of a response at `(input, output)` nano-USD per token.
fn cost_at(body: &Value, (input, output): (u64, u64)) -> u64 {
    let usage = &body["usage"];
    usage["prompt_tokens"].as_u64().unwrap() * input
        + usage["completion_tokens"].as_u64().unwrap() * output
}

/// gpt-4o-mini ($0.15 and $0.60 per 1M tokens).
const MINI: (u64, u64) = (150, 600);
/// `lab/pricey` ($2.50 and $10 per 1M tokens).
const PRICEY: (u64, u64) = (2_500, 10_000);

async fn metrics(client: &reqwest::Client, gateway: &GatewayProcess) -> String {
    client
        .get(gateway.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

async fn admin_spend(client: &reqwest::Client, gateway: &GatewayProcess, query: &str) -> Value {
    let response = client
        .get(gateway.url(&format!("/admin/spend?{query}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json_body().await
}

/// `(group, requests, nano-USD)` rows of a spend answer.
fn rows(spend: &Value, by: &str) -> Vec<(String, u64, u64)> {
    spend["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[by].as_str().unwrap().to_owned(),
                row["requests"].as_u64().unwrap(),
                row["cost_nano_usd"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Settles land in the background: wait until `done` holds (at most 20 s).
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 20 s: {what}");
}

const REQUEST_TRIPS: &str = "switchboard_quota_redis_round_trips_request_total";
const BACKGROUND_TRIPS: &str = "switchboard_quota_redis_round_trips_background_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_one_redis_round_trip_and_settles_go_in_batches() {
    let redis = PrivateRedis::start().await;
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let text = config(
        "usd_total = 1.0\nrequests_per_minute = 100000\ntokens_per_minute = 100000000\nmax_concurrent = 1000",
        &redis.url(),
        "rt",
        "fail_closed",
        "ledger.sqlite",
    );
    let gateway =
        GatewayProcess::start(&write_config(&dir, "g.toml", &text), &upstream.base_url()).await;
    let client = client();
    let counter = "rt:usd:total:t:alpha";
    // The first request loads the scripts into Redis (a first EVALSHA is
    // answered NOSCRIPT, then loaded): counted from the second on.
    let (status, body) = post(&client, &gateway).await;
    assert_eq!(status, 200, "{body}");
    let mut served_cost = cost_at(&body, MINI);
    eventually("the warm-up settle lands", || async {
        redis.get(counter).await == served_cost
    })
    .await;

    let before = metrics(&client, &gateway).await;
    let scripts_before = redis.script_calls().await;
    let started = std::time::Instant::now();
    let sequential = 20;
    for _ in 0..sequential {
        let (status, body) = post(&client, &gateway).await;
        assert_eq!(status, 200, "{body}");
        served_cost += cost_at(&body, MINI);
    }
    let after_sequential = metrics(&client, &gateway).await;
    // Each request waited for exactly one round trip: its reservation.
    assert_eq!(
        metric(&after_sequential, REQUEST_TRIPS) - metric(&before, REQUEST_TRIPS),
        sequential
    );
    let concurrent = 40;
    let results = join_all((0..concurrent).map(|_| post(&client, &gateway))).await;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        served_cost += cost_at(body, MINI);
    }
    eventually("every settle lands", || async {
        redis.get(counter).await == served_cost
    })
    .await;
    let after = metrics(&client, &gateway).await;
    let request_trips = metric(&after, REQUEST_TRIPS) - metric(&before, REQUEST_TRIPS);
    let background_trips = metric(&after, BACKGROUND_TRIPS) - metric(&before, BACKGROUND_TRIPS);
    assert_eq!(request_trips, sequential + concurrent);
    // The server agrees: one script call per reservation, and the rest are
    // settle batches (the gateway's other background round trips are its
    // change polls, one every 2 s, which are not scripts).
    let settle_batches = redis.script_calls().await - scripts_before - request_trips;
    assert!(
        (1..=sequential + concurrent).contains(&settle_batches),
        "{settle_batches} settle batches"
    );
    let polls = background_trips - settle_batches;
    assert!(
        polls <= started.elapsed().as_secs() / 2 + 1,
        "{polls} background round trips that are not settles"
    );
    eprintln!(
        "{} requests: {request_trips} round trips on the request path, {settle_batches} settle batches, {polls} change polls",
        sequential + concurrent
    );
    let (rows, total) = ledger_total(&dir.path("ledger.sqlite"));
    assert_eq!((rows, total), (1 + sequential + concurrent, served_cost));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_back_fails_closed_or_serves_locally_and_charges_once() {
    let mut redis = PrivateRedis::start().await;
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    // $0.00002515: the worst case of a request (11_550 nano-USD) fits
    // three times on counters that start from zero, not a fourth.
    let limits = "usd_total = 0.00002515";
    let closed = GatewayProcess::start(
        &write_config(
            &dir,
            "closed.toml",
            &config(
                limits,
                &redis.url(),
                "closed",
                "fail_closed",
                "closed.sqlite",
            ),
        ),
        &upstream.base_url(),
    )
    .await;
    let local = GatewayProcess::start(
        &write_config(
            &dir,
            "local.toml",
            &config(limits, &redis.url(), "local", "local", "local.sqlite"),
        ),
        &upstream.base_url(),
    )
    .await;
    let client = client();
    let (mut closed_cost, mut local_cost, mut local_served) = (0, 0, 0);
    for (gateway, cost) in [(&closed, &mut closed_cost), (&local, &mut local_cost)] {
        let (status, body) = post(&client, gateway).await;
        assert_eq!(status, 200, "{body}");
        *cost += cost_at(&body, MINI);
    }
    local_served += 1;
    eventually("the first settles land", || async {
        redis.get("closed:usd:total:t:alpha").await == closed_cost
            && redis.get("local:usd:total:t:alpha").await == local_cost
    })
    .await;

    redis.kill().await;
    // Fail closed: a 503 that says why, logged and counted.
    let (status, body) = post(&client, &closed).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"]["message"],
        "the quota store is unavailable; try again shortly"
    );
    assert!(
        metric(
            &metrics(&client, &closed).await,
            "switchboard_quota_store_errors_total"
        ) >= 1
    );
    closed
        .wait_for_log("refusing (on_store_error = fail_closed)")
        .await;
    // Local: served on this replica's own counters, which start from zero:
    // two requests' worth fit, then its own 429 names the budget.
    let mut outage_cost = 0;
    let refusal = loop {
        let (status, body) = post(&client, &local).await;
        match status {
            200 => {
                outage_cost += cost_at(&body, MINI);
                local_served += 1;
            }
            429 => break body,
            other => panic!("unexpected {other}: {body}"),
        }
        assert!(local_served < 10, "local limits do not hold");
    };
    assert_eq!(local_served, 1 + 3);
    assert_eq!(refusal["error"]["limit_kind"], "usd:total", "{refusal}");
    assert_eq!(
        refusal["error"]["current"],
        json!(outage_cost as f64 / 1e9),
        "{refusal}"
    );
    local_cost += outage_cost;
    assert!(
        metric(
            &metrics(&client, &local).await,
            "switchboard_quota_store_errors_total"
        ) >= 1
    );
    local
        .wait_for_log("enforcing limits with local counters (on_store_error = local)")
        .await;

    redis.restart().await;
    // What was served meanwhile reaches the shared counter once, with its
    // settle id: the Redis total equals the served costs, no more.
    eventually("the outage's settles land in Redis", || async {
        redis.get("local:usd:total:t:alpha").await == local_cost
    })
    .await;
    let spend = admin_spend(&client, &local, "by=team").await;
    assert_eq!(
        rows(&spend, "team"),
        vec![("alpha".to_owned(), local_served, local_cost)]
    );
    assert_eq!(
        ledger_total(&dir.path("local.sqlite")),
        (local_served, local_cost)
    );
    // The shared budget now knows the outage's spend: past it, refused.
    let (status, body) = post(&client, &local).await;
    assert_eq!(status, 429, "{body}");
    // Fail closed charged nothing for the refused requests, and serves again
    // once its connection is back (a request may still find it broken and
    // be refused while it reconnects).
    let mut tries = 0;
    let body = loop {
        let (status, body) = post(&client, &closed).await;
        if status == 200 {
            break body;
        }
        assert_eq!(body["error"]["code"], "quota_store_unavailable", "{body}");
        tries += 1;
        assert!(
            tries < 50,
            "fail closed does not serve again once Redis is back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    closed_cost += cost_at(&body, MINI);
    eventually("the closed replica's settle lands", || async {
        redis.get("closed:usd:total:t:alpha").await == closed_cost
    })
    .await;
    assert_eq!(ledger_total(&dir.path("closed.sqlite")), (2, closed_cost));
    // Nothing settled twice, even with retried batches.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(redis.get("local:usd:total:t:alpha").await, local_cost);
    assert_eq!(redis.get("closed:usd:total:t:alpha").await, closed_cost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_reads_cover_every_replica_sharing_redis() {
    let redis = PrivateRedis::start().await;
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let mut gateways = Vec::new();
    for name in ["a", "b"] {
        let text = config(
            "usd_total = 1.0",
            &redis.url(),
            "shared",
            "fail_closed",
            &format!("{name}.sqlite"),
        );
        gateways.push(
            GatewayProcess::start(
                &write_config(&dir, &format!("{name}.toml"), &text),
                &upstream.base_url(),
            )
            .await,
        );
    }
    let client = client();
    let mut alpha_cost = 0;
    for (gateway, times) in [(&gateways[0], 3), (&gateways[1], 2)] {
        for _ in 0..times {
            let (status, body) = post(&client, gateway).await;
            assert_eq!(status, 200, "{body}");
            alpha_cost += cost_at(&body, MINI);
        }
    }
    for _ in 0..2 {
        let (status, body, _) = post_as(&client, &gateways[1], BETA_KEY, "echo").await;
        assert_eq!(status, 200, "{body}");
    }
    eventually("every settle lands", || async {
        let spend = admin_spend(&client, &gateways[0], "by=team").await;
        rows(&spend, "team").iter().map(|row| row.1).sum::<u64>() == 7
    })
    .await;
    // Asked of either replica, the spend is everyone's.
    for gateway in &gateways {
        let by_team = admin_spend(&client, gateway, "by=team").await;
        assert_eq!(
            rows(&by_team, "team"),
            vec![
                ("alpha".to_owned(), 5, alpha_cost),
                ("beta".to_owned(), 2, 0)
            ]
        );
        let by_key = admin_spend(&client, gateway, "by=key&team=alpha").await;
        assert_eq!(
            rows(&by_key, "key"),
            vec![("alpha-ci".to_owned(), 5, alpha_cost)]
        );
        let by_model = admin_spend(&client, gateway, "by=model").await;
        assert_eq!(
            rows(&by_model, "model"),
            vec![
                ("mock/echo".to_owned(), 2, 0),
                ("openai/gpt-4o-mini".to_owned(), 5, alpha_cost)
            ]
        );
        let by_day = admin_spend(&client, gateway, "by=day&model=openai/gpt-4o-mini").await;
        let days = rows(&by_day, "day");
        assert_eq!(days.len(), 1, "{by_day}");
        assert_eq!((days[0].1, days[0].2), (5, alpha_cost));
        let none = admin_spend(&client, gateway, "by=day&from=2000-01-01&to=2000-12-31").await;
        assert!(rows(&none, "day").is_empty(), "{none}");
    }
    // Each replica's ledger still has only the rows it served.
    assert_eq!(ledger_total(&dir.path("a.sqlite")).0, 3);
    assert_eq!(ledger_total(&dir.path("b.sqlite")).0, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_is_charged_at_its_own_price_within_the_hold() {
    let redis = PrivateRedis::start().await;
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let dir = ConfigDir::new();
    let text = config(
        "usd_total = 1.0",
        &redis.url(),
        "fb",
        "fail_closed",
        "fb.sqlite",
    );
    let gateway =
        GatewayProcess::start(&write_config(&dir, "g.toml", &text), &upstream.base_url()).await;
    let client = client();
    let (status, body, served) = post_as(&client, &gateway, ALPHA_KEY, "priced").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served.as_deref(), Some("lab/pricey"));
    let cost = cost_at(&body, PRICEY);
    let prompt = body["usage"]["prompt_tokens"].as_u64().unwrap();
    eventually("the settle lands", || async {
        redis.get("fb:usd:total:t:alpha").await == cost
    })
    .await;
    let by_model = admin_spend(&client, &gateway, "by=model").await;
    assert_eq!(
        rows(&by_model, "model"),
        vec![("lab/pricey".to_owned(), 1, cost)]
    );
    assert_eq!(ledger_total(&dir.path("fb.sqlite")), (1, cost));

    // The hold is the worst case over the route's targets, the pricier one
    // included: with room for the cheap target's worst case but not the
    // fallback's, the request is refused before anything is sent.
    let cheap_worst = prompt * MINI.0 + 16 * MINI.1;
    let pricey_worst = prompt * PRICEY.0 + 16 * PRICEY.1;
    let budget = cost + (cheap_worst + pricey_worst) / 2;
    let response = client
        .patch(gateway.url("/admin/teams/alpha"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(json!({"limits": {"usd_total": budget as f64 / 1e9}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body, _) = post_as(&client, &gateway, ALPHA_KEY, "priced").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["limit_kind"], "usd:total", "{body}");
    let requested = (body["error"]["requested"].as_f64().unwrap() * 1e9).round() as u64;
    assert!(
        requested > budget - cost && requested > pricey_worst * 9 / 10,
        "{body}"
    );
    assert_eq!(redis.get("fb:usd:total:t:alpha").await, cost);
}
