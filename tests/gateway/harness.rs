//! One gateway in front of one mock upstream, both on ephemeral ports.

use std::time::Duration;
use switchboard::auth::hash_key;
use switchboard::config::{Config, load_str};
use switchboard::gateway::Gateway;
use switchboard::server::{self, RunningServer};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions, MockUpstream};

pub const ALPHA_KEY: &str = "sk-alpha-test";
pub const BETA_KEY: &str = "sk-beta-test";
pub const UPSTREAM_KEY: &str = "sk-upstream-test";

pub struct Harness {
    pub upstream: MockUpstream,
    pub gateway: RunningServer,
    pub client: reqwest::Client,
}

/// The test configuration; `extra` is appended (e.g. an `[upstream]` table).
pub fn config_text(extra: &str) -> String {
    let hash = |key: &str| format!("sha256:{}", hex::encode(hash_key(key)));
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 1048576

[[teams]]
id = "alpha"

[[teams]]
id = "beta"
models = ["mock/*", "echo"]

[[keys]]
id = "alpha-ci"
team = "alpha"
hash = "{alpha}"

[[keys]]
id = "beta-ci"
team = "beta"
hash = "{beta}"

[aliases]
fast = "openai/gpt-4o-mini"
echo = "mock/echo"

[providers.openai]
allow_unlisted_models = true

[quota]
ledger = ":memory:"
{extra}
"#,
        alpha = hash(ALPHA_KEY),
        beta = hash(BETA_KEY),
    )
}

pub fn config(extra: &str) -> Config {
    load_str(
        "test.toml",
        &config_text(extra),
        None,
        std::path::Path::new("."),
    )
    .expect("test config is valid")
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(MockOptions::default(), "").await
    }

    pub async fn with(options: MockOptions, extra: &str) -> Self {
        switchboard::install_crypto_provider();
        let upstream = mock_upstream::spawn(options)
            .await
            .expect("mock upstream starts");
        let base_url = upstream.base_url();
        let env = move |name: &str| match name {
            "OPENAI_BASE_URL" => Some(base_url.clone()),
            "OPENAI_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
            _ => None,
        };
        let gateway = Gateway::build_with_env(config(extra), &env).expect("gateway builds");
        let gateway = server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("gateway binds");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            upstream,
            gateway,
            client,
        }
    }

    /// POST a JSON body straight to the mock upstream, with the provider key.
    pub async fn direct(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.client
            .post(format!("{}{path}", self.upstream.base_url()))
            .bearer_auth(UPSTREAM_KEY)
            .body(body.to_string())
            .send()
            .await
            .expect("upstream answers")
            .json_body()
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.addr)
    }

    /// POST a JSON body (as given, not re-encoded) with a gateway key.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("gateway answers")
    }

    pub async fn chat(&self, body: serde_json::Value) -> reqwest::Response {
        self.post("/v1/chat/completions", Some(ALPHA_KEY), body.to_string())
            .await
    }
}

/// A gateway (test config plus `extra`) whose `openai` provider is the
/// OpenAI-wire server at `base_url`.
pub async fn gateway_in_front_of(base_url: String, extra: &str) -> RunningServer {
    switchboard::install_crypto_provider();
    let env = move |name: &str| match name {
        "OPENAI_BASE_URL" => Some(base_url.clone()),
        "OPENAI_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    let gateway = Gateway::build_with_env(config(extra), &env).expect("gateway builds");
    server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("gateway binds")
}

/// A gateway from the whole config `text` whose `anthropic` provider is the
/// mock upstream at `mock`.
pub async fn gateway_at_anthropic_mock(text: &str, mock: std::net::SocketAddr) -> RunningServer {
    let config = switchboard::config::load_str("test.toml", text, None, std::path::Path::new("."))
        .expect("the config is valid");
    // Anthropic's base URL is the host: the wire adds `/v1/messages`.
    let base_url = format!("http://{mock}");
    let env = move |name: &str| match name {
        "ANTHROPIC_BASE_URL" => Some(base_url.clone()),
        "ANTHROPIC_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    let gateway = Gateway::build_with_env(config, &env).expect("gateway builds");
    server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("gateway binds")
}

/// A chat body for `model` with one user message.
pub fn chat_body(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The OpenAI error object of a response, asserting the shape.
pub async fn error_of(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
    );
    let body: serde_json::Value = response.json_body().await;
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no error object in {body}"));
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "error lacks `{field}`: {body}");
    }
    error
}

pub trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        let bytes = self.bytes().await.expect("body");
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    }
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_payloads(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The rule for a missing dependency (fail under CI, say so elsewhere).
pub use switchboard::test_support::missing_dependency;

/// The value of `var`, or `None` after `missing_dependency` (which fails
/// under CI).
pub fn require_env(var: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            missing_dependency(&format!("${var}"), how);
            None
        }
    }
}

/// The body of a GET, as text (metrics, plain answers).
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("the server answers");
    response.text().await.expect("a text body")
}

/// Fails unless `half` hashes (SHA-256) to what `frozen` (a `sha256sum`
/// line) recorded when the evaluation's test half was frozen.
pub fn assert_frozen(half: &str, frozen: &str, path: &str) {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(half.as_bytes()));
    let recorded = frozen.split_whitespace().next().unwrap_or_default();
    assert_eq!(digest, recorded, "{path} changed after it was frozen");
}
