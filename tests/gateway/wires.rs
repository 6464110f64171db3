//! The non-OpenAI wires end to end: an OpenAI client through the gateway to
//! the Anthropic, Gemini and Azure-deployments mocks, which enforce each
//! provider's request rules; and the Anthropic-compatible `/v1/messages` door.

use crate::harness::*;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::gateway::Gateway;
use switchboard::server::{self, RunningServer};
use switchboard_mock_upstream::{self as mock_upstream, MockOptions, MockUpstream};

pub struct Wires {
    pub upstream: MockUpstream,
    pub gateway: RunningServer,
    pub client: reqwest::Client,
}

impl Wires {
    /// One mock serving every wire, and a gateway with every wire pointed at it.
    pub async fn start() -> Self {
        switchboard::install_crypto_provider();
        let upstream = mock_upstream::spawn(MockOptions::default())
            .await
            .expect("mock upstream starts");
        let root = format!("http://{}", upstream.addr);
        let env = move |name: &str| match name {
            "OPENAI_BASE_URL" => Some(format!("{root}/v1")),
            "ANTHROPIC_BASE_URL"
            | "GEMINI_BASE_URL"
            | "AZURE_OPENAI_ENDPOINT"
            | "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" => Some(root.clone()),
            // The Bedrock mock's access key id and secret are both its key.
            "OPENAI_API_KEY"
            | "ANTHROPIC_API_KEY"
            | "GEMINI_API_KEY"
            | "AZURE_OPENAI_API_KEY"
            | "AWS_ACCESS_KEY_ID"
            | "AWS_SECRET_ACCESS_KEY" => Some(UPSTREAM_KEY.to_owned()),
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            _ => None,
        };
        let extra = "";
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

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("http://{}/v1/chat/completions", self.gateway.addr))
            .bearer_auth(ALPHA_KEY)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn messages(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("http://{}{path}", self.gateway.addr))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

fn served_by(response: &reqwest::Response, provider: &str, model: &str) {
    assert_eq!(response.headers()["x-switchboard-provider"], provider);
    assert_eq!(response.headers()["x-switchboard-model"], model);
}

/// The assembled text, tool-call arguments and finish reason of an OpenAI stream.
fn assemble(body: &str) -> (String, String, Option<String>, Option<Value>) {
    let mut text = String::new();
    let mut arguments = String::new();
    let mut finish = None;
    let mut usage = None;
    for payload in sse_payloads(body) {
        let Ok(chunk) = serde_json::from_str::<Value>(&payload) else {
            continue;
        };
        if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if let Some(a) =
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        {
            arguments.push_str(a);
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    (text, arguments, finish, usage)
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[tokio::test]
async fn anthropic_wire_plain_answer_cost_and_key() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "anthropic/claude-sonnet-5-5", "messages": [
            {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello gateway"}]}))
        .await;
    assert_eq!(response.status(), 200);
    served_by(&response, "anthropic", "anthropic/claude-sonnet-5-5");
    let body = response.json_body().await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello gateway"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // 2 system + 2 user words in, 3 words out.
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(
        w.upstream.state.last_authorization().as_deref(),
        Some(UPSTREAM_KEY)
    );
    // claude-sonnet-5-5: $2 / $10 per 1M tokens = 2000 / 10000 nano-USD per token.
    assert_eq!(
        w.gateway.gateway.quota.spent("alpha").await.0,
        4 * 2000 + 3 * 10000
    );
}

#[tokio::test]
async fn anthropic_wire_max_tokens_and_rejected_fields() {
    let w = Wires::start().await;
    let body = w
        .chat(
            json!({"model": "anthropic/claude-haiku-4-5", "max_tokens": 2,
            "messages": [{"role": "user", "content": "one two three"}]}),
        )
        .await
        .json_body()
        .await;
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: one");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let response = w
        .chat(
            json!({"model": "anthropic/claude-haiku-4-5", "logprobs": true,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response).await["param"], "logprobs");
    assert_eq!(
        w.upstream.state.chat_calls(),
        1,
        "a rejected field never reaches the provider"
    );
}

#[tokio::test]
async fn anthropic_wire_streams_text_and_usage() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "anthropic/claude-sonnet-5-5", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "stream me please"}]}))
        .await;
    assert_eq!(response.status(), 200);
    served_by(&response, "anthropic", "anthropic/claude-sonnet-5-5");
    let body = response.text().await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let (text, _, finish, usage) = assemble(&body);
    assert_eq!(text, "Echo: stream me please");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(usage.unwrap()["completion_tokens"], 4);
}

#[tokio::test]
async fn anthropic_wire_tool_round_trip() {
    let w = Wires::start().await;
    let first = w
        .chat(
            json!({"model": "anthropic/claude-sonnet-5-5", "tools": weather_tool(),
            "messages": [{"role": "user", "content": "weather in Paris?"}]}),
        )
        .await
        .json_body()
        .await;
    let call = &first["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"mock\"}");
    // The mock refuses a tool_result that answers no tool_use, so this passing
    // shows the ids and roles were carried over faithfully.
    let second = w
        .chat(
            json!({"model": "anthropic/claude-sonnet-5-5", "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather in Paris?"},
            first["choices"][0]["message"].clone(),
            {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"}]}),
        )
        .await;
    assert_eq!(second.status(), 200);
    let second = second.json_body().await;
    assert_eq!(second["choices"][0]["finish_reason"], "stop");

    let streamed = w
        .chat(
            json!({"model": "anthropic/claude-sonnet-5-5", "tools": weather_tool(), "stream": true,
            "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await
        .text()
        .await
        .unwrap();
    let (_, arguments, finish, _) = assemble(&streamed);
    assert_eq!(arguments, "{\"city\":\"mock\"}");
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn anthropic_wire_failures_are_openai_shaped() {
    let w = Wires::start().await;
    let response = w
        .chat(
            json!({"model": "anthropic/fault-429", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let error = error_of(response).await;
    assert_eq!(error["type"], "rate_limit_error");
    let response = w
        .chat(
            json!({"model": "anthropic/fault-529", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(response.status(), 502);
    for model in ["anthropic/fault-stream-error", "anthropic/fault-truncate"] {
        let body = w
            .chat(json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "x y"}]}))
            .await
            .text()
            .await
            .unwrap();
        let last = sse_payloads(&body).pop().unwrap();
        assert!(last.contains("\"error\""), "{model}: {body}");
        assert!(!body.contains("[DONE]"), "{model}: {body}");
    }
}

#[tokio::test]
async fn gemini_wire_plain_stream_and_tools() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "gemini/gemini-2.5-flash", "messages": [
            {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello gemini"}]}))
        .await;
    assert_eq!(response.status(), 200);
    served_by(&response, "gemini", "gemini/gemini-2.5-flash");
    let body = response.json_body().await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello gemini"
    );
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(
        w.upstream.state.last_authorization().as_deref(),
        Some(UPSTREAM_KEY)
    );

    let body = w
        .chat(json!({"model": "gemini/gemini-2.5-flash", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "a b c"}]}))
        .await
        .text()
        .await
        .unwrap();
    let (text, _, finish, usage) = assemble(&body);
    assert_eq!(
        (text.as_str(), finish.as_deref()),
        ("Echo: a b c", Some("stop"))
    );
    assert_eq!(usage.unwrap()["completion_tokens"], 4);
    assert!(body.ends_with("data: [DONE]\n\n"));

    let first = w
        .chat(
            json!({"model": "gemini/gemini-2.5-pro", "tools": weather_tool(),
            "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await
        .json_body()
        .await;
    let message = first["choices"][0]["message"].clone();
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"mock\"}"
    );
    let second = w
        .chat(
            json!({"model": "gemini/gemini-2.5-pro", "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather?"}, message,
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\": 18}"}]}),
        )
        .await;
    assert_eq!(second.status(), 200);
    assert_eq!(
        second.json_body().await["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn gemini_safety_blocks_are_errors() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "gemini/fault-prompt-blocked", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response).await["param"], "messages");
    let response = w
        .chat(json!({"model": "gemini/fault-answer-blocked", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(response.status(), 502);
    let body = w
        .chat(json!({"model": "gemini/fault-truncate", "stream": true, "messages": [{"role": "user", "content": "a b"}]}))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("[DONE]") && body.contains("\"error\""),
        "{body}"
    );
}

#[tokio::test]
async fn azure_deployments_wire() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "azure-deployments/gpt-4o-mini", "messages": [{"role": "user", "content": "hi azure"}]}))
        .await;
    assert_eq!(response.status(), 200);
    served_by(
        &response,
        "azure-deployments",
        "azure-deployments/gpt-4o-mini",
    );
    assert_eq!(
        response.json_body().await["choices"][0]["message"]["content"],
        "Echo: hi azure"
    );
    assert_eq!(
        w.upstream.state.last_authorization().as_deref(),
        Some(UPSTREAM_KEY)
    );
}

#[tokio::test]
async fn messages_door_reaches_an_openai_provider() {
    let w = Wires::start().await;
    let response = w
        .messages(
            "/v1/messages",
            ALPHA_KEY,
            json!({"model": "fast", "max_tokens": 100, "system": "Be terse.",
            "messages": [{"role": "user", "content": "hello door"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    served_by(&response, "openai", "openai/gpt-4o-mini");
    let body = response.json_body().await;
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "fast");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Echo: hello door"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(body["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn messages_door_streams_anthropic_events() {
    let w = Wires::start().await;
    for model in [
        "fast",
        "anthropic/claude-sonnet-5-5",
        "gemini/gemini-2.5-flash",
    ] {
        let body = w
            .messages(
                "/v1/messages",
                ALPHA_KEY,
                json!({"model": model, "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "one two"}]}),
            )
            .await
            .text()
            .await
            .unwrap();
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names.first(), Some(&"message_start"), "{model}: {body}");
        assert_eq!(
            &names[names.len() - 2..],
            ["message_delta", "message_stop"],
            "{model}: {body}"
        );
        assert!(body.contains("\"text\":\"Echo:\""), "{model}: {body}");
        assert!(body.contains("\"output_tokens\":3"), "{model}: {body}");
    }
}

#[tokio::test]
async fn messages_door_errors_are_anthropic_shaped() {
    let w = Wires::start().await;
    let check = |status: u16, kind: &'static str| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status);
            let body = response.json_body().await;
            assert_eq!(body["type"], "error", "{body}");
            assert_eq!(body["error"]["type"], kind, "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    let user = json!([{"role": "user", "content": "x"}]);
    let message = check(400, "invalid_request_error")(
        w.messages(
            "/v1/messages",
            ALPHA_KEY,
            json!({"model": "fast", "messages": user}),
        )
        .await,
    )
    .await;
    assert!(message.contains("max_tokens"), "{message}");
    check(401, "authentication_error")(
        w.messages(
            "/v1/messages",
            "sk-wrong",
            json!({"model": "fast", "max_tokens": 5, "messages": user}),
        )
        .await,
    )
    .await;
    check(404, "not_found_error")(
        w.messages(
            "/v1/messages",
            ALPHA_KEY,
            json!({"model": "nope/x", "max_tokens": 5, "messages": user}),
        )
        .await,
    )
    .await;
    check(429, "rate_limit_error")(
        w.messages(
            "/v1/messages",
            ALPHA_KEY,
            json!({"model": "anthropic/fault-429", "max_tokens": 5, "messages": user}),
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn count_tokens_counts_without_calling_upstream() {
    let w = Wires::start().await;
    let response = w
        .messages(
            "/v1/messages/count_tokens",
            ALPHA_KEY,
            json!({"model": "fast",
            "messages": [{"role": "user", "content": "count these tokens please"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let count = response.json_body().await["input_tokens"].as_u64().unwrap();
    assert!((5..20).contains(&count), "{count}");
    assert_eq!(w.upstream.state.chat_calls(), 0);
}

const NOVA: &str = "bedrock/amazon.nova-lite-v1:0";

#[tokio::test]
async fn bedrock_wire_signed_plain_stream_and_tools() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": NOVA, "messages": [
            {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello bedrock"}]}))
        .await;
    assert_eq!(response.status(), 200);
    served_by(&response, "bedrock", NOVA);
    let body = response.json_body().await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello bedrock"
    );
    assert_eq!(body["usage"]["completion_tokens"], 3);
    let authorization = w.upstream.state.last_authorization().unwrap();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={UPSTREAM_KEY}/")),
        "{authorization}"
    );
    assert!(authorization.contains("/eu-west-1/bedrock/aws4_request"));

    let body = w
        .chat(
            json!({"model": NOVA, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "a b c"}]}),
        )
        .await
        .text()
        .await
        .unwrap();
    let (text, _, finish, usage) = assemble(&body);
    assert_eq!(
        (text.as_str(), finish.as_deref()),
        ("Echo: a b c", Some("stop"))
    );
    assert_eq!(usage.unwrap()["completion_tokens"], 4);
    assert!(body.ends_with("data: [DONE]\n\n"));

    let first = w
        .chat(json!({"model": NOVA, "tools": weather_tool(), "messages": [{"role": "user", "content": "weather?"}]}))
        .await
        .json_body()
        .await;
    let message = first["choices"][0]["message"].clone();
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"mock\"}"
    );
    let second = w
        .chat(json!({"model": NOVA, "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather?"}, message.clone(),
            {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "cold"}]}))
        .await;
    assert_eq!(second.status(), 200);
    let streamed = w
        .chat(
            json!({"model": NOVA, "tools": weather_tool(), "stream": true,
            "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await
        .text()
        .await
        .unwrap();
    let (_, arguments, finish, _) = assemble(&streamed);
    assert_eq!(
        (arguments.as_str(), finish.as_deref()),
        ("{\"city\":\"mock\"}", Some("tool_calls"))
    );
}

#[tokio::test]
async fn bedrock_failures() {
    let w = Wires::start().await;
    let response = w
        .chat(json!({"model": "bedrock/fault-throttle", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(response.status(), 429);
    assert!(
        error_of(response).await["message"]
            .as_str()
            .unwrap()
            .contains("Too many requests")
    );
    for model in ["bedrock/fault-stream-exception", "bedrock/fault-truncate"] {
        let body = w
            .chat(json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "x y"}]}))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !body.contains("[DONE]") && sse_payloads(&body).pop().unwrap().contains("\"error\""),
            "{model}: {body}"
        );
    }
}

/// The mock checks signatures for real: a wrong secret or a body changed
/// after signing is refused as AWS refuses it.
#[tokio::test]
async fn the_bedrock_mock_refuses_bad_signatures() {
    use aws_credential_types::Credentials;
    use switchboard::provider::bedrock::sigv4::sign_request;
    let w = Wires::start().await;
    let url = format!(
        "http://{}/model/amazon.nova-lite-v1%3A0/converse",
        w.upstream.addr
    );
    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let send = |secret: &'static str, sent: &'static [u8]| {
        let url = url.clone();
        let client = w.client.clone();
        async move {
            let credentials = Credentials::new(UPSTREAM_KEY, secret, None, None, "test");
            let signed = sign_request(
                &url,
                &[("content-type", "application/json")],
                body,
                &credentials,
                "eu-west-1",
                std::time::SystemTime::now(),
            )
            .unwrap();
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(sent);
            for (name, value) in signed.headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response
                    .headers()
                    .get("x-amzn-errortype")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    assert_eq!(send(UPSTREAM_KEY, body).await, (200, None));
    assert_eq!(
        send("wrong-secret", body).await,
        (403, Some("InvalidSignatureException".to_owned()))
    );
    let tampered: &'static [u8] = br#"{"messages":[{"role":"user","content":[{"text":"ho"}]}]}"#;
    assert_eq!(
        send(UPSTREAM_KEY, tampered).await,
        (403, Some("InvalidSignatureException".to_owned()))
    );
    let unsigned = w.client.post(&url).body(&body[..]).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
}

/// Images travel door → OpenAI shape → Anthropic wire intact: the mock
/// checks Anthropic's image rules, and its refusal comes back Anthropic-shaped.
#[tokio::test]
async fn images_cross_both_translations() {
    let w = Wires::start().await;
    let image = |media_type: &str| {
        json!({"model": "anthropic/claude-sonnet-5-5", "max_tokens": 50, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]})
    };
    let response = w
        .messages("/v1/messages", ALPHA_KEY, image("image/png"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json_body().await["content"][0]["text"],
        "Echo: describe"
    );
    let response = w
        .messages("/v1/messages", ALPHA_KEY, image("image/tiff"))
        .await;
    assert_eq!(response.status(), 400);
    let body = response.json_body().await;
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("media_type"),
        "{body}"
    );
}

#[tokio::test]
async fn gemini_key_may_come_from_google_api_key() {
    switchboard::install_crypto_provider();
    let upstream = mock_upstream::spawn(MockOptions::default()).await.unwrap();
    let root = format!("http://{}", upstream.addr);
    let env = move |name: &str| match name {
        "GEMINI_BASE_URL" => Some(root.clone()),
        "GOOGLE_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    let gateway = Gateway::build_with_env(config(""), &env).expect("gateway builds");
    let gateway = server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gateway.addr))
        .bearer_auth(ALPHA_KEY)
        .body(chat_body("gemini/gemini-2.5-flash", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        upstream.state.last_authorization().as_deref(),
        Some(UPSTREAM_KEY)
    );
}
