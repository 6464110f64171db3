//! Arbitrary input at every decoder the outside world reaches: request
//! bodies (OpenAI chat, Anthropic messages), each wire's stream translator
//! and error parser, the Anthropic door's event translator, the config
//! loader, and the MCP front door over HTTP. Nothing panics, and a refusal
//! is the documented error: a 400 in OpenAI's shape naming the problem.
//!
//! Generated JSON draws its keys and strings partly from the names the
//! decoders know, so objects get past the first `match` and reach the
//! deeper paths.

use crate::harness::{ALPHA_KEY, Harness};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use switchboard::api::anthropic::MessagesRequest;
use switchboard::api::anthropic::events::EventTranslator;
use switchboard::api::chat::ChatRequest;
use switchboard::api::decode_json;
use switchboard::error::GatewayError;
use switchboard::provider::{anthropic, bedrock, gemini};
use switchboard_mock_upstream::MockOptions;

const KNOWN: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "tool_calls",
    "tool_call_id",
    "function",
    "name",
    "arguments",
    "parameters",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "best_of",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "auto",
    "none",
    "required",
    "response_format",
    "json_schema",
    "json_object",
    "schema",
    "stop",
    "delta",
    "choices",
    "index",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "message",
    "id",
    "input",
    "tool_use",
    "tool_result",
    "tool_use_id",
    "image",
    "source",
    "base64",
    "media_type",
    "data",
    "thinking",
    "metadata",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "text_delta",
    "input_json_delta",
    "partial_json",
    "stop_reason",
    "end_turn",
    "candidates",
    "parts",
    "functionCall",
    "functionResponse",
    "args",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "promptFeedback",
    "blockReason",
    "safetyRatings",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStart",
    "messageStop",
    "stopReason",
    "toolUse",
    "toolUseId",
    "inputTokens",
    "outputTokens",
    "contentBlockIndex",
    "start",
    "seed",
    "logprobs",
    "user",
    "jsonrpc",
    "2.0",
    "method",
    "params",
    "initialize",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "ping",
    "protocolVersion",
    "capabilities",
    "clientInfo",
    "uri",
    "cursor",
    "notifications/initialized",
    "2025-06-18",
    "2026-07-28",
];

/// Any JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(KNOWN).prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{1,12}",
    ]
}

/// An object with the request's usual top-level fields, each arbitrary.
fn request_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::collection::btree_map(key(), json_value(), 0..6),
    )
        .prop_map(|(model, messages, mut rest)| {
            if let Some(model) = model {
                rest.insert("model".into(), model);
            }
            if let Some(messages) = messages {
                rest.insert("messages".into(), messages);
            }
            Value::Object(rest.into_iter().collect())
        })
}

/// A refusal is a 4xx whose body is OpenAI's error shape with a message.
fn is_documented(error: &GatewayError) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(&error.body()) else {
        return false;
    };
    error.status().is_client_error() && body["error"]["message"].as_str().is_some()
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn chat_requests_from_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(error) = decode_json::<ChatRequest>(&bytes).and_then(|r| r.check()) {
            prop_assert!(is_documented(&error), "{error:?}");
        }
    }

    #[test]
    fn chat_requests_from_arbitrary_json(body in request_like()) {
        let bytes = body.to_string().into_bytes();
        if let Err(error) = decode_json::<ChatRequest>(&bytes).and_then(|r| r.check()) {
            prop_assert!(is_documented(&error), "{body}: {error:?}");
        }
    }

    #[test]
    fn messages_requests_from_arbitrary_json(body in request_like()) {
        let bytes = body.to_string().into_bytes();
        for for_count in [false, true] {
            if let Err(error) =
                decode_json::<MessagesRequest>(&bytes).and_then(|r| r.to_chat(for_count))
            {
                prop_assert!(is_documented(&error), "{body}: {error:?}");
            }
        }
    }

    #[test]
    fn stream_translators_take_any_events(
        events in prop::collection::vec(json_value(), 0..12),
        raw in prop::collection::vec(".{0,40}", 0..4),
        kinds in prop::collection::vec(prop::sample::select(KNOWN), 12),
    ) {
        let mut texts: Vec<String> = events.iter().map(Value::to_string).collect();
        texts.extend(raw);
        let mut claude = anthropic::response::StreamTranslator::new(0);
        let mut google = gemini::translate::StreamTranslator::new("m", 0);
        let mut aws = bedrock::translate::StreamTranslator::new("m", 0);
        let mut door = EventTranslator::new("msg_1".into(), "m".into());
        for (text, kind) in texts.iter().zip(kinds.iter().cycle()) {
            let _ = claude.event(text);
            let _ = google.event(text);
            let _ = aws.event(kind, kind.len() % 2 == 0, text.as_bytes());
            let _ = door.data(text);
        }
        let _ = google.end();
        let _ = door.ended_early();
        let _ = door.error_for_status(500, "upstream failed");
    }

    #[test]
    fn error_bodies_of_every_wire(bytes in prop::collection::vec(any::<u8>(), 0..256), body in json_value()) {
        for input in [bytes, body.to_string().into_bytes()] {
            let _ = anthropic::response::error_body(&input);
            let _ = gemini::translate::error_body(&input);
            let _ = bedrock::translate::error_body(&input);
        }
    }
}

/// The example config with a piece cut out or a piece of noise put in.
fn mangled_example() -> impl Strategy<Value = String> {
    let example = include_str!("../../examples/switchboard.toml");
    let len = example.len();
    (0..len, 0..64usize, ".{0,16}").prop_map(move |(at, cut, noise)| {
        let mut text = example.to_owned();
        let mut start = at;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.replace_range(start..end, &noise);
        text
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn the_config_loader_reports_what_it_refuses(
        text in prop_oneof![".{0,200}", mangled_example()],
    ) {
        let dir = tempfile::tempdir().unwrap();
        if let Err(error) = switchboard::config::load_str("fuzz.toml", &text, None, dir.path()) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

/// The `_meta` a stateless (2026-07-28) request carries.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A JSON-RPC message with a known method and arbitrary parts, or anything.
fn rpc_body() -> impl Strategy<Value = (Vec<u8>, &'static str)> {
    let message = (
        prop::option::of(json_value()),
        prop::sample::select(KNOWN),
        prop::option::of(json_value()),
        any::<bool>(),
    )
        .prop_map(|(id, method, params, with_meta)| {
            let mut message = json!({"jsonrpc": "2.0", "method": method});
            if let Some(id) = id {
                message["id"] = id;
            }
            if let Some(params) = params {
                message["params"] = params;
            }
            // Half carry what a 2026-07-28 request must, so they get past
            // the envelope to the method's own handling.
            if with_meta && message.get("params").is_none_or(Value::is_object) {
                message["params"]["_meta"] = meta();
            }
            (message.to_string().into_bytes(), method)
        });
    prop_oneof![
        4 => message,
        1 => json_value().prop_map(|v| (v.to_string().into_bytes(), "tools/list")),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| (b, "ping")),
    ]
}

/// POST `body` to `/mcp` as a client of protocol `version` calling `method`.
async fn post_mcp(h: &Harness, version: &str, method: &str, body: Vec<u8>) -> (u16, String) {
    let response = h
        .client
        .post(h.url("/mcp"))
        .bearer_auth(ALPHA_KEY)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .header("mcp-method", method)
        .body(body)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_mcp_front_door_answers_anything_without_failing() {
    let h = Harness::with(MockOptions::default(), "[[mcp.teams]]\nteam = \"alpha\"\n").await;
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = rpc_body();
    for _ in 0..96 {
        let (body, method) = strategy.new_tree(&mut runner).expect("a case").current();
        for version in ["2025-06-18", "2026-07-28"] {
            let (status, text) = post_mcp(&h, version, method, body.clone()).await;
            assert!(
                status < 500,
                "{status} for {}: {text}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    // Still serving.
    let list =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}});
    let (status, text) = post_mcp(
        &h,
        "2026-07-28",
        "tools/list",
        list.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
}
