//! Quotas over HTTP: limits changed live through the admin API, the 429 and
//! the `x-ratelimit-*` headers, keys created and revoked, spend read back.

use super::harness::{ALPHA_KEY, BETA_KEY, Harness, JsonBody, chat_body, error_of};
use serde_json::{Value, json};
use switchboard::auth::hash_key;
use switchboard_mock_upstream::MockOptions;

const ADMIN_TOKEN: &str = "sk-admin-test";

async fn start() -> Harness {
    let extra = format!(
        "[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_TOKEN))
    );
    Harness::with(MockOptions::default(), &extra).await
}

async fn admin(h: &Harness, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = h
        .client
        .request(method.parse().unwrap(), h.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json_body().await)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_admin_api_needs_its_own_credential() {
    let h = start().await;
    // A team key is known but not allowed (403); anything else is unknown (401).
    for (key, status) in [
        (None, 401),
        (Some(ALPHA_KEY), 403),
        (Some("sk-admin-tes"), 401),
    ] {
        let mut request = h.client.get(h.url("/admin/teams"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{key:?}");
        error_of(response).await;
    }
    let (status, body) = admin(&h, "GET", "/admin/teams", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    // Without an `[admin]` section the admin API is off: 403, whatever the key.
    let plain = Harness::start().await;
    let response = plain
        .client
        .get(plain.url("/admin/teams"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn live_limits_bring_rate_headers_and_a_named_429() {
    let h = start().await;
    let (status, body) = admin(
        &h,
        "PATCH",
        "/admin/teams/alpha",
        Some(json!({"limits": {"requests_per_minute": 3, "tokens_per_minute": 1000000}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = h.chat(chat_body("fast", "hello")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(
            header(&response, "x-ratelimit-limit-tokens"),
            Some("1000000")
        );
        assert!(header(&response, "x-ratelimit-reset-requests").is_some());
        assert!(header(&response, "x-ratelimit-remaining-tokens").is_some());
        remaining.push(
            header(&response, "x-ratelimit-remaining-requests")
                .unwrap()
                .to_owned(),
        );
    }
    // The minute may roll over mid-test; within one minute the count goes down by one.
    if remaining == ["2", "1", "0"] {
        let response = h.chat(chat_body("fast", "hello")).await;
        assert_eq!(response.status(), 429);
        let retry_after: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_eq!(
            header(&response, "x-ratelimit-remaining-requests"),
            Some("0")
        );
        let error = error_of(response).await;
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert_eq!(error["type"], "requests");
        assert_eq!(error["scope"], "team alpha");
        assert_eq!(error["window"], "minute");
        assert_eq!(error["limit"], 3);
        assert_eq!(error["current"], 3);
        assert!(error["resets_at_ms"].is_u64());
    }
    // Another team is not affected.
    let response = h
        .post(
            "/v1/chat/completions",
            Some(BETA_KEY),
            chat_body("echo", "hi").to_string(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit-requests"), None);
}

#[tokio::test]
async fn budgeted_teams_cannot_use_unpriced_models() {
    let h = start().await;
    let (status, _) = admin(
        &h,
        "PATCH",
        "/admin/teams/alpha",
        Some(json!({"limits": {"usd_per_month": 5}})),
    )
    .await;
    assert_eq!(status, 200);
    let response = h.chat(chat_body("openai/some-new-model", "hi")).await;
    assert_eq!(response.status(), 403);
    assert!(
        error_of(response).await["message"]
            .as_str()
            .unwrap()
            .contains("no price")
    );
    assert_eq!(h.chat(chat_body("fast", "hi")).await.status(), 200);
    let (status, body) = admin(&h, "GET", "/admin/teams/alpha", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["budget_usage"][0]["window"], "month");
    assert!(body["budget_usage"][0]["used_usd"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn keys_are_created_shown_once_and_revoked() {
    let h = start().await;
    let (status, created) = admin(
        &h,
        "POST",
        "/admin/keys",
        Some(json!({"id": "ci-2", "team": "beta"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-sb-") && key.len() > 40);
    let response = h
        .post(
            "/v1/chat/completions",
            Some(&key),
            chat_body("echo", "hi").to_string(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let (_, listed) = admin(&h, "GET", "/admin/keys", None).await;
    assert!(!listed.to_string().contains(&key));
    assert!(!listed.to_string().contains("sha256"));
    let (status, _) = admin(&h, "DELETE", "/admin/keys/ci-2", None).await;
    assert_eq!(status, 200);
    let response = h
        .post(
            "/v1/chat/completions",
            Some(&key),
            chat_body("echo", "hi").to_string(),
        )
        .await;
    assert_eq!(response.status(), 401);
    // Bad input is named.
    let (status, body) = admin(
        &h,
        "POST",
        "/admin/keys",
        Some(json!({"id": "x", "team": "nope"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("team"))
    );
    let (status, body) = admin(
        &h,
        "POST",
        "/admin/keys",
        Some(json!({"id": "x", "team": "beta", "limits": {"usd_per_week": 1}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A new team with a key of its own, then the team revoked with its keys.
    let (status, _) = admin(
        &h,
        "POST",
        "/admin/teams",
        Some(json!({"id": "gamma", "limits": {"max_concurrent": 4}})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, created) = admin(
        &h,
        "POST",
        "/admin/keys",
        Some(json!({"id": "g1", "team": "gamma"})),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(
        h.post(
            "/v1/chat/completions",
            Some(&key),
            chat_body("echo", "hi").to_string()
        )
        .await
        .status(),
        200
    );
    assert_eq!(admin(&h, "DELETE", "/admin/teams/gamma", None).await.0, 200);
    assert_eq!(
        h.post(
            "/v1/chat/completions",
            Some(&key),
            chat_body("echo", "hi").to_string()
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn spend_reads_by_team_key_model_and_day() {
    let h = start().await;
    for _ in 0..2 {
        assert_eq!(
            h.chat(chat_body("fast", "one two three")).await.status(),
            200
        );
    }
    let expected = h.gateway.gateway.quota.spent("alpha").await.0;
    assert!(expected > 0);
    for (by, group) in [
        ("team", "alpha"),
        ("key", "alpha-ci"),
        ("model", "openai/gpt-4o-mini"),
    ] {
        let (status, body) = admin(&h, "GET", &format!("/admin/spend?by={by}"), None).await;
        assert_eq!(status, 200, "{body}");
        let row = &body["data"][0];
        assert_eq!(row[by], group, "{body}");
        assert_eq!(row["requests"], 2);
        assert_eq!(row["cost_nano_usd"], expected);
    }
    let (_, body) = admin(&h, "GET", "/admin/spend?by=day&team=alpha", None).await;
    assert_eq!(body["data"][0]["day"].as_str().unwrap().len(), 10);
    let (status, _) = admin(&h, "GET", "/admin/spend?by=week", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn admin_changes_reach_every_replica_sharing_redis() {
    switchboard::install_crypto_provider();
    let redis = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    if let Err(error) = redis.get_multiplexed_async_connection().await {
        crate::harness::missing_dependency(
            "Redis at redis://127.0.0.1:6379/0",
            &format!("unreachable: {error}; scripts/test starts it"),
        );
        return;
    }
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let text = super::harness::config_text("").replace(
        "[quota]\nledger = \":memory:\"\n",
        &format!(
            "[quota]\nledger = \":memory:\"\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nredis_prefix = \"{prefix}\"\n[admin]\nhash = \"sha256:{}\"\n",
            hex::encode(hash_key(ADMIN_TOKEN))
        ),
    );
    let upstream = switchboard_mock_upstream::spawn(MockOptions::default())
        .await
        .unwrap();
    let base_url = upstream.base_url();
    let env = move |name: &str| match name {
        "OPENAI_BASE_URL" => Some(base_url.clone()),
        "OPENAI_API_KEY" => Some(super::harness::UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let config =
            switchboard::config::load_str("t.toml", &text, None, std::path::Path::new("."))
                .unwrap();
        let gateway = switchboard::gateway::Gateway::build_with_env(config, &env).unwrap();
        replicas.push(
            switchboard::server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let client = reqwest::Client::new();
    let url = |i: usize, path: &str| format!("http://{}{path}", replicas[i].addr);
    let created: Value = client
        .post(url(0, "/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .body(json!({"id": "shared-key", "team": "beta"}).to_string())
        .send()
        .await
        .unwrap()
        .json_body()
        .await;
    let key = created["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let chat = |i: usize| {
        client
            .post(url(i, "/v1/chat/completions"))
            .bearer_auth(&key)
            .body(chat_body("echo", "hi").to_string())
            .send()
    };
    assert_eq!(chat(0).await.unwrap().status(), 200);
    // The other replica learns of the key within its polling interval (2 s).
    let mut status = 0;
    for _ in 0..50 {
        status = chat(1).await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_requested_choice_is_reserved_against_the_budget() {
    let h = start().await;
    let (status, _) = admin(
        &h,
        "PATCH",
        "/admin/teams/alpha",
        Some(json!({"limits": {"usd_total": 0.01}})),
    )
    .await;
    assert_eq!(status, 200);
    let ask = |extra: Value| {
        let mut body = chat_body("fast", "hi");
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // Past the documented maximum: a 400 naming the field.
    for (field, count) in [("n", 1000), ("best_of", 129), ("n", 0)] {
        let response = h.chat(ask(json!({field: count, "max_tokens": 10}))).await;
        assert_eq!(response.status(), 400, "{field} = {count}");
        assert_eq!(error_of(response).await["param"], field);
    }
    // 100 completions of up to 1000 tokens at $0.60/M: $0.06 in the worst
    // case, past the $0.01 budget, where one completion ($0.0006) is not.
    for extra in [
        json!({"n": 100, "max_tokens": 1000}),
        json!({"best_of": 100, "max_tokens": 1000}),
        // Without a limit, each choice may write the model's 16,384 tokens.
        json!({"n": 2}),
    ] {
        let response = h.chat(ask(extra.clone())).await;
        assert_eq!(response.status(), 429, "{extra}");
        assert!(header(&response, "retry-after").is_some());
        let error = error_of(response).await;
        assert_eq!(error["code"], "insufficient_quota", "{extra}: {error}");
        assert_eq!(error["limit_kind"], "usd:total");
        assert!(error["requested"].as_f64().unwrap() > 0.01, "{error}");
    }
    assert_eq!(h.upstream.state.chat_calls(), 0, "nothing went upstream");
    // What fits the budget is served.
    let response = h.chat(ask(json!({"n": 10, "max_tokens": 1000}))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json_body().await["choices"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(h.chat(ask(json!({"max_tokens": 100}))).await.status(), 200);
}

#[tokio::test]
async fn a_team_tracks_a_bounded_number_of_end_users() {
    let extra = format!(
        "max_end_users = 2\nend_user_idle_ttl = \"1h\"\n[admin]\nhash = \"sha256:{}\"\n",
        hex::encode(hash_key(ADMIN_TOKEN))
    );
    let h = Harness::with(MockOptions::default(), &extra).await;
    let (status, _) = admin(
        &h,
        "PATCH",
        "/admin/teams/alpha",
        Some(json!({"user_limits": {"requests_per_minute": 100, "usd_total": 1}})),
    )
    .await;
    assert_eq!(status, 200);
    let as_user = |user: &str| {
        let mut body = chat_body("fast", "hi");
        body["user"] = json!(user);
        body
    };
    assert_eq!(h.chat(as_user("ann")).await.status(), 200);
    assert_eq!(h.chat(as_user("bob")).await.status(), 200);
    let response = h.chat(as_user("carol")).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
    assert!(
        retry_after > 60,
        "the first place frees up when ann's total expires: {retry_after}"
    );
    let error = error_of(response).await;
    assert_eq!(error["code"], "too_many_end_users", "{error}");
    assert_eq!(error["type"], "end_users");
    assert_eq!(error["scope"], "team alpha");
    assert_eq!(error["limit"], 2);
    assert!(
        error["message"].as_str().unwrap().contains("max_end_users"),
        "{error}"
    );
    // End users already tracked, and requests without one, are served.
    assert_eq!(h.chat(as_user("ann")).await.status(), 200);
    assert_eq!(h.chat(chat_body("fast", "hi")).await.status(), 200);
    // Another team's end users are counted on their own.
    let (status, _) = admin(
        &h,
        "PATCH",
        "/admin/teams/beta",
        Some(json!({"user_limits": {"requests_per_minute": 100}})),
    )
    .await;
    assert_eq!(status, 200);
    let mut body = as_user("carol");
    body["model"] = json!("echo");
    let response = h
        .post("/v1/chat/completions", Some(BETA_KEY), body.to_string())
        .await;
    assert_eq!(response.status(), 200);
}
