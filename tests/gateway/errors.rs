//! Every documented error, with its status, shape and field name.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use switchboard_mock_upstream::MockOptions;

/// Send `body` as alpha and expect `status`, with `param` (when given) naming the field.
async fn check(
    h: &Harness,
    body: impl Into<reqwest::Body>,
    status: u16,
    param: Option<&str>,
    code: Option<&str>,
) {
    let response = h.post("/v1/chat/completions", Some(ALPHA_KEY), body).await;
    assert_eq!(response.status().as_u16(), status);
    let error = error_of(response).await;
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{error}");
    }
    if let Some(code) = code {
        assert_eq!(error["code"], code, "{error}");
    }
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let h = Harness::start().await;
    check(
        &h,
        r#"{"model":"fast","messages":[{"role":"user","content":"hi"}"#,
        400,
        None,
        None,
    )
    .await;
    check(
        &h,
        &b"{\"model\":\"fast\xff\",\"messages\":[]}"[..],
        400,
        None,
        None,
    )
    .await;
    check(
        &h,
        r#"{"model":"fast","messages":"hi"}"#,
        400,
        Some("messages"),
        None,
    )
    .await;
    check(
        &h,
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        400,
        Some("model"),
        None,
    )
    .await;
    check(
        &h,
        r#"{"model":42,"messages":[]}"#,
        400,
        Some("model"),
        None,
    )
    .await;
    check(
        &h,
        r#"{"model":"fast","messages":[{"role":"robot","content":"hi"}]}"#,
        400,
        Some("messages[0].role"),
        None,
    )
    .await;
    check(&h, r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":"hot","max_tokens":"many"}"#, 400, Some("max_tokens"), None).await;
    check(&h, "", 400, None, None).await;
    check(&h, "null", 400, None, None).await;
    // Nothing reached the upstream.
    assert_eq!(h.upstream.state.chat_calls(), 0);
}

#[tokio::test]
async fn auth_errors_are_401() {
    let h = Harness::start().await;
    let body = chat_body("fast", "hi").to_string();
    for key in [None, Some("sk-wrong"), Some("")] {
        let response = h.post("/v1/chat/completions", key, body.clone()).await;
        assert_eq!(response.status(), 401, "key {key:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        let error = error_of(response).await;
        assert_eq!(error["code"], "invalid_api_key");
    }
    // The Azure-style header works too.
    let response = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("api-key", ALPHA_KEY)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Models are not listed to strangers either.
    let response = h.client.get(h.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn unknown_models_are_404_and_forbidden_ones_403() {
    let h = Harness::start().await;
    check(
        &h,
        chat_body("nope/nothing", "hi").to_string(),
        404,
        None,
        Some("model_not_found"),
    )
    .await;
    check(
        &h,
        chat_body("gpt-nonexistent", "hi").to_string(),
        404,
        None,
        Some("model_not_found"),
    )
    .await;
    check(
        &h,
        chat_body("mock/nonexistent", "hi").to_string(),
        404,
        None,
        Some("model_not_found"),
    )
    .await;
    // A provider without a key is not available: 404 that says how to enable it.
    let response = h.chat(chat_body("groq/llama-nonexistent", "hi")).await;
    assert_eq!(response.status(), 404);
    let response = h
        .post(
            "/v1/chat/completions",
            Some(BETA_KEY),
            chat_body("fast", "hi").to_string(),
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_of(response).await["type"], "permission_error");
    // An embedding model on the chat endpoint names the field.
    check(
        &h,
        chat_body("mock/embed", "hi").to_string(),
        400,
        Some("model"),
        None,
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let h = Harness::start().await;
    let big = "x".repeat(10 * 1024 * 1024);
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": big}]}).to_string();
    check(&h, body, 413, None, Some("request_too_large")).await;
    assert_eq!(h.upstream.state.chat_calls(), 0);
}

#[tokio::test]
async fn upstream_failures_map_to_502_and_4xx_pass_through() {
    let h = Harness::start().await;
    for model in [
        "openai/fault-500",
        "openai/fault-503",
        "openai/fault-malformed",
    ] {
        let response = h.chat(chat_body(model, "hi")).await;
        assert_eq!(response.status(), 502, "{model}");
        let error = error_of(response).await;
        assert_eq!(error["code"], "bad_gateway", "{model}");
    }
    let response = h.chat(chat_body("openai/fault-400", "hi")).await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert_eq!(error["param"], "messages");
    assert_eq!(error["code"], "string_above_max_length");
    let response = h.chat(chat_body("openai/fault-429", "hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(error_of(response).await["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn upstream_timeouts_are_504() {
    let options = MockOptions {
        slow_first_byte: Duration::from_secs(5),
        ..MockOptions::default()
    };
    let h = Harness::with(options, "[upstream]\nfirst_byte_timeout = \"200ms\"").await;
    let response = h.chat(chat_body("openai/fault-slow", "hi")).await;
    assert_eq!(response.status(), 504);
    assert_eq!(error_of(response).await["code"], "gateway_timeout");
}

#[tokio::test]
async fn unreachable_upstreams_are_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = gateway_in_front_of(format!("http://127.0.0.1:{port}/v1"), "").await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .bearer_auth(ALPHA_KEY)
        .body(chat_body("fast", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let error = error_of(response).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let h = Harness::start().await;
    let response = h
        .client
        .get(h.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    error_of(response).await;
    let response = h
        .client
        .get(h.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    error_of(response).await;
}

#[tokio::test]
async fn hostile_bodies_never_break_the_gateway() {
    let h = Harness::start().await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let valid = chat_body("fast", "hello").to_string().into_bytes();
    for round in 0..200 {
        // Cheap deterministic PRNG: mutate, truncate or garble a valid body.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut body = valid.clone();
        match round % 4 {
            0 => body.truncate((seed as usize) % body.len()),
            1 => {
                let at = (seed as usize) % body.len();
                body[at] = (seed >> 8) as u8;
            }
            2 => body = (0..(seed % 64)).map(|i| (seed >> (i % 56)) as u8).collect(),
            _ => drop(body.splice(0..0, std::iter::repeat_n(b'[', (seed % 5000) as usize))),
        };
        let response = h.post("/v1/chat/completions", Some(ALPHA_KEY), body).await;
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 400 | 404),
            "round {round}: status {status}"
        );
        if status != 200 {
            error_of(response).await;
        }
    }
    // Still healthy.
    assert_eq!(
        h.client
            .get(h.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A gateway in front of `upstream` with `vars` as its whole environment.
async fn gateway_with_env(
    vars: Vec<(&'static str, String)>,
    extra: &str,
) -> switchboard::server::RunningServer {
    switchboard::install_crypto_provider();
    let env = move |name: &str| {
        vars.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
    };
    let gateway =
        switchboard::gateway::Gateway::build_with_env(config(extra), &env).expect("gateway builds");
    switchboard::server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("gateway binds")
}

/// A provider refusing the gateway's own key is the gateway's trouble: a 502
/// naming the provider, never the provider's 401 (which reads as "your key is
/// wrong"), and none of the provider's body (OpenAI's echoes part of the key).
#[tokio::test]
async fn a_provider_refusing_the_gateways_key_is_a_502_naming_it() {
    let upstream = switchboard_mock_upstream::spawn(MockOptions::default())
        .await
        .unwrap();
    let openai = upstream.base_url();
    let root = openai.trim_end_matches("/v1").to_owned();
    let wrong = "sk-provider-key-that-was-revoked-1234".to_owned();
    let server = gateway_with_env(
        vec![
            ("OPENAI_BASE_URL", openai),
            ("OPENAI_API_KEY", wrong.clone()),
            ("ANTHROPIC_BASE_URL", root),
            ("ANTHROPIC_API_KEY", wrong.clone()),
        ],
        "",
    )
    .await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: serde_json::Value| {
        client
            .post(format!("http://{}{path}", server.addr))
            .bearer_auth(ALPHA_KEY)
            .body(body.to_string())
            .send()
    };
    let mut streamed = chat_body("fast", "hi");
    streamed["stream"] = json!(true);
    for (what, response, provider) in [
        (
            "chat",
            post("/v1/chat/completions", chat_body("fast", "hi")).await,
            "openai",
        ),
        (
            "stream",
            post("/v1/chat/completions", streamed).await,
            "openai",
        ),
        (
            "embeddings",
            post(
                "/v1/embeddings",
                json!({"model": "openai/text-embedding-3-small", "input": "hi"}),
            )
            .await,
            "openai",
        ),
        (
            "anthropic wire",
            post(
                "/v1/chat/completions",
                chat_body("anthropic/claude-fable-5-2", "hi"),
            )
            .await,
            "anthropic",
        ),
    ] {
        let response = response.unwrap();
        assert_eq!(response.status(), 502, "{what}");
        assert!(response.headers().get("www-authenticate").is_none());
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("Incorrect API key")
                && !text.contains("sk-pro")
                && !text.contains("1234"),
            "{what}: the provider's body stays out: {text}"
        );
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let error = &body["error"];
        assert_eq!(error["code"], "provider_auth_failed", "{what}: {body}");
        assert_eq!(error["type"], "upstream_error");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{provider}`")),
            "{what}: {message}"
        );
    }
    // The Anthropic door says the same in Anthropic's shape.
    let response = post(
        "/v1/messages",
        json!({"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    // The client's own key is still checked first: a wrong one is a 401.
    let response = client
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .bearer_auth("sk-wrong")
        .body(chat_body("fast", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_provider_forbidding_the_gateways_account_is_a_502() {
    let h = Harness::start().await;
    let response = h.chat(chat_body("openai/fault-403", "hi")).await;
    assert_eq!(response.status(), 502);
    let error = error_of(response).await;
    assert_eq!(error["code"], "provider_auth_failed", "{error}");
    assert!(error["message"].as_str().unwrap().contains("`openai`"));
    assert!(error["message"].as_str().unwrap().contains("403"));
}

/// The loopback-only development key, behind a reverse proxy on the same
/// machine: every client's connection comes from loopback, but the proxy
/// says whom it forwards, and the key is refused.
#[tokio::test]
async fn the_development_key_is_refused_through_a_proxy() {
    let dev = "sk-switchboard-dev-test";
    let extra = format!(
        "[[keys]]\nid = \"dev\"\nteam = \"alpha\"\nhash = \"sha256:{}\"\nloopback_only = true\n",
        hex::encode(switchboard::auth::hash_key(dev))
    );
    let h = Harness::with(MockOptions::default(), &extra).await;
    let send = |header: Option<(&'static str, &'static str)>| {
        let mut request = h
            .client
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(dev)
            .body(chat_body("fast", "hi").to_string());
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 200);
    for header in [
        ("Forwarded", "for=203.0.113.7;proto=https"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Real-IP", "203.0.113.7"),
    ] {
        let response = send(Some(header)).await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        let error = error_of(response).await;
        assert_eq!(error["code"], "invalid_api_key");
        assert!(
            error["message"].as_str().unwrap().contains("proxy"),
            "{error}"
        );
    }
    // A key that is not loopback-only does not care.
    let response = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .header("X-Forwarded-For", "203.0.113.7")
        .body(chat_body("fast", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn model_names_clients_invent_share_one_metric_series() {
    let h = Harness::start().await;
    for model in ["openai/made-up-one", "openai/made-up-two"] {
        let response = h.chat(chat_body(model, "hi")).await;
        assert_eq!(response.status(), 200, "{model}");
    }
    let metrics = crate::harness::get_text(&reqwest::Client::new(), &h.url("/metrics")).await;
    assert!(
        !metrics.contains("made-up"),
        "a client's model name became a label"
    );
    assert!(
        metrics.contains(r#"model="openai/unlisted""#),
        "unlisted models are counted under one name"
    );
}
