//! OAuth resource-server mode on `/mcp`: the test is its own authorization
//! server (a freshly generated P-256 key, its JWK Set served over HTTP), and
//! the gateway checks signature, issuer, audience and lifetime of each token.

use crate::harness::{ALPHA_KEY, Harness};
use crate::mcp_fixture::{FixtureServer, call, tool, wait_for_tools};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use switchboard_mock_upstream::MockOptions;

const RESOURCE: &str = "https://gateway.test/mcp";
const ISSUER: &str = "https://issuer.test";
const METADATA_URL: &str = "https://gateway.test/.well-known/oauth-protected-resource/mcp";

/// A signing key and its public JWK.
struct SigningKey {
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl SigningKey {
    fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key parses");
        // An uncompressed point: 0x04, then x and y (32 bytes each).
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Self {
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        }
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).expect("token signs")
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(team: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": RESOURCE, "sub": "agent-7", "team": team,
        "iat": now(), "exp": now() + 600,
    })
}

/// The issuer's JWK Set over HTTP, counting fetches.
struct JwksServer {
    url: String,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(jwks: Value) -> JwksServer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    JwksServer { url, fetches, task }
}

async fn gateway(fx_url: &str, oauth: &str) -> Harness {
    let config = format!(
        "[mcp.oauth]\nresource = \"{RESOURCE}\"\nissuer = \"{ISSUER}\"\n{oauth}\n\
         [[mcp.servers]]\nname = \"fx\"\nurl = \"{fx_url}\"\n\
         [[mcp.teams]]\nteam = \"alpha\"\n\
         [[mcp.teams]]\nteam = \"beta\"\ndeny = [\"fx/secret\"]\n"
    );
    Harness::with(MockOptions::default(), &config).await
}

/// A raw `initialize`, as an MCP client's first request.
async fn initialize(h: &Harness, token: Option<&str>) -> reqwest::Response {
    let mut request = h
        .client
        .post(h.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}},
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Status, `WWW-Authenticate` and JSON-RPC error message of a refusal.
async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, challenge, message)
}

async fn client(h: &Harness, token: &str) -> crate::mcp_fixture::GatewayClient {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(h.url("/mcp")).auth_header(token),
    );
    ().serve(transport)
        .await
        .expect("client connects with a token")
}

#[tokio::test]
async fn access_tokens_are_checked_against_the_issuers_fetched_keys() {
    let key = SigningKey::generate("k1");
    let jwks = serve_jwks(json!({"keys": [key.jwk]})).await;
    let fx = FixtureServer::start("fx", vec![tool("read", "r"), tool("secret", "s")]).await;
    let h = gateway(
        &fx.url,
        &format!("jwks_url = \"{}\"\njwks_cache = \"10m\"", jwks.url),
    )
    .await;

    // The metadata is public, at the RFC 9728 path and at the root well-known path.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    // No credential: a challenge that points at the metadata, no error code.
    let (status, challenge, _) = refusal(initialize(&h, None).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{METADATA_URL}\"")
    );

    // A valid token: the team comes from its claim, policy applies.
    let alpha = client(&h, &key.sign("k1", &claims("alpha"))).await;
    let names = wait_for_tools(&alpha, |n| n.len() == 2).await;
    assert_eq!(names, ["fx__read", "fx__secret"]);
    let result = call(&alpha, "fx__read", json!({"x": 1}))
        .await
        .expect("call with a token");
    assert!(!result.content.is_empty());
    let beta = client(&h, &key.sign("k1", &claims("beta"))).await;
    assert_eq!(wait_for_tools(&beta, |n| n.len() == 1).await, ["fx__read"]);
    let denied = call(&beta, "fx__secret", json!({})).await.unwrap_err();
    assert_eq!(denied.code.0, -32040);

    // Refused tokens, each with its reason in the challenge.
    let other = SigningKey::generate("k1");
    let cases = [
        (
            "expired",
            key.sign(
                "k1",
                &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "a", "team": "alpha",
                                           "iat": now() - 7200, "exp": now() - 3600}),
            ),
            "expired",
        ),
        (
            "wrong audience",
            key.sign(
                "k1",
                &json!({"iss": ISSUER, "aud": "https://other.test/mcp", "sub": "a",
                                                  "team": "alpha", "exp": now() + 600}),
            ),
            "aud",
        ),
        (
            "wrong issuer",
            key.sign(
                "k1",
                &json!({"iss": "https://evil.test", "aud": RESOURCE, "sub": "a",
                                                "team": "alpha", "exp": now() + 600}),
            ),
            "iss",
        ),
        (
            "wrong signature",
            other.sign("k1", &claims("alpha")),
            "signature",
        ),
        (
            "no expiry",
            key.sign(
                "k1",
                &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "a", "team": "alpha"}),
            ),
            "exp",
        ),
        (
            "no team",
            key.sign(
                "k1",
                &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "a", "exp": now() + 600}),
            ),
            "team",
        ),
        ("unknown key id", key.sign("k9", &claims("alpha")), "k9"),
    ];
    for (case, token, reason) in cases {
        let (status, challenge, message) = refusal(initialize(&h, Some(&token)).await).await;
        assert_eq!(status, 401, "{case}: {message}");
        assert!(
            challenge.starts_with(&format!(
                "Bearer resource_metadata=\"{METADATA_URL}\", error=\"invalid_token\""
            )),
            "{case}: {challenge}"
        );
        assert!(message.contains(reason), "{case}: {message}");
        assert!(challenge.contains(reason), "{case}: {challenge}");
    }

    // A team the gateway does not know: authenticated, but forbidden.
    let (status, _, message) =
        refusal(initialize(&h, Some(&key.sign("k1", &claims("gamma")))).await).await;
    assert_eq!(status, 403);
    assert!(message.contains("gamma"), "{message}");

    // Gateway keys still work unless turned off.
    assert_eq!(initialize(&h, Some(ALPHA_KEY)).await.status(), 200);
    let (status, challenge, _) = refusal(initialize(&h, Some("sk-unknown")).await).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("resource_metadata"), "{challenge}");

    // The key set was fetched once and then served from the cache; the
    // unknown key id did not fetch again within 30s of the last fetch.
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn inline_keys_and_tokens_only() {
    let key = SigningKey::generate("inline");
    let fx = FixtureServer::start("fx", vec![tool("read", "r")]).await;
    let jwks = json!({"keys": [key.jwk]});
    let h = gateway(
        &fx.url,
        &format!("gateway_keys = false\njwks = {}", toml_inline(&jwks)),
    )
    .await;
    let (status, challenge, message) = refusal(initialize(&h, Some(ALPHA_KEY)).await).await;
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("access token is required"), "{message}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let alpha = client(&h, &key.sign("inline", &claims("alpha"))).await;
    assert_eq!(wait_for_tools(&alpha, |n| n.len() == 1).await, ["fx__read"]);
}

/// A JSON value as a TOML inline value (strings, arrays, objects only).
fn toml_inline(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml_inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[tokio::test]
async fn tokens_without_the_required_scopes_are_forbidden() {
    let key = SigningKey::generate("s");
    let fx = FixtureServer::start("fx", vec![tool("read", "r")]).await;
    let jwks = json!({"keys": [key.jwk]});
    let h = gateway(
        &fx.url,
        &format!(
            "required_scopes = [\"mcp:tools\", \"mcp:read\"]\njwks = {}",
            toml_inline(&jwks)
        ),
    )
    .await;
    let with_scopes = |scopes: Value| {
        let mut claims = claims("alpha");
        claims.as_object_mut().unwrap().extend(
            scopes
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        key.sign("s", &claims)
    };
    let expected = format!(
        "Bearer resource_metadata=\"{METADATA_URL}\", error=\"insufficient_scope\", scope=\"mcp:tools mcp:read\""
    );
    for (case, scopes) in [
        ("no scope claim", json!({})),
        ("one of two", json!({"scope": "mcp:tools"})),
        ("look-alike", json!({"scope": "mcp:tools mcp:reader"})),
    ] {
        let token = with_scopes(scopes);
        let (status, challenge, message) = refusal(initialize(&h, Some(&token)).await).await;
        assert_eq!(status, 403, "{case}: {message}");
        assert_eq!(challenge, expected, "{case}");
        assert!(message.contains("mcp:read"), "{case}: {message}");
    }
    // Every required scope, in `scope` (space separated) or `scp` (a list).
    for scopes in [
        json!({"scope": "openid mcp:read mcp:tools"}),
        json!({"scp": ["mcp:tools", "mcp:read"]}),
    ] {
        let alpha = client(&h, &with_scopes(scopes)).await;
        assert_eq!(wait_for_tools(&alpha, |n| n.len() == 1).await, ["fx__read"]);
    }
    // Gateway keys carry no scopes and are not checked for them.
    assert_eq!(initialize(&h, Some(ALPHA_KEY)).await.status(), 200);
}
