//! Hard cut-off: a stream of a team configured for it ends with an error
//! event once it would spend more than was reserved for it (on chat, and
//! in a provider's own Responses stream), and what the upstream produced is
//! still charged.

use super::harness::{UPSTREAM_KEY, config};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use switchboard::api::chat::Message;
use switchboard::catalog::ModelKind;
use switchboard::cost::{NanoUsd, Usage};
use switchboard::gateway::Gateway;
use switchboard::pipeline::native_relay::NativeStream;
use switchboard::pipeline::relay::{Relay, Settlement};
use switchboard::pipeline::{Endpoint, RequestCx};
use switchboard::provider::{ChunkStream, StreamItem};
use switchboard::quota::Ask;
use switchboard::quota::estimate::Estimate;
use switchboard::quota::limits::RawLimits;
use switchboard::quota::settings::TeamLimits;

fn chunk(text: &str) -> StreamItem {
    let json = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
    });
    StreamItem::Chunk(json.to_string().into())
}

/// A gateway whose team alpha has a budget (and `hard_cutoff`), and the
/// settlement of a stream of `fast` for which room for `reserved_output`
/// completion tokens was reserved.
async fn reserved(hard_cutoff: bool, reserved_output: u64) -> (Arc<Gateway>, Settlement) {
    switchboard::install_crypto_provider();
    let env = |name: &str| match name {
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
        "OPENAI_API_KEY" => Some(UPSTREAM_KEY.to_owned()),
        _ => None,
    };
    let gateway = Gateway::build_with_env(config(""), &env).unwrap();
    let limits: RawLimits = toml::from_str("usd_total = 1").unwrap();
    let limits = limits.validate("t", &mut |_, _| panic!("valid"));
    gateway.quota.update_book(|book| {
        book.teams.insert(
            "alpha".into(),
            TeamLimits {
                limits: limits.clone(),
                hard_cutoff,
                ..TeamLimits::default()
            },
        );
    });
    let team = gateway.keys.load().teams()[0].clone();
    let target = gateway
        .router
        .load()
        .resolve("fast", &team, ModelKind::Chat)
        .unwrap();
    let messages: Vec<Message> =
        serde_json::from_str(r#"[{"role":"user","content":"hello"}]"#).unwrap();
    let prompt = switchboard::tokens::count_messages(target.model.tokenizer, &messages);
    let price = target.price.unwrap();
    let worst = price.cost(&Usage {
        prompt_tokens: prompt,
        completion_tokens: reserved_output,
        cached_prompt_tokens: 0,
    });
    let ask = Ask {
        request_id: "s",
        team: "alpha",
        key: "alpha-ci",
        user: None,
        public_model: "fast",
        model: &target.canonical,
        price: target.price,
    };
    let hold = gateway
        .quota
        .reserve(ask, || Estimate {
            tokens: prompt + reserved_output,
            cost: Some(worst),
        })
        .await
        .unwrap();
    let settlement = Settlement {
        gateway: gateway.clone(),
        cx: RequestCx::new(
            Endpoint::ChatCompletions,
            http::HeaderValue::from_static("t"),
            None,
        ),
        reservation: Some(hold),
        messages,
        tokenizer: target.model.tokenizer,
        cache_fill: None,
    };
    (gateway, settlement)
}

/// The SSE text of `body`, and the team's spend once the stream, dropped,
/// was settled (it settles off the client's path).
async fn drain(
    gateway: &Gateway,
    mut body: impl futures::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Unpin,
    before: NanoUsd,
) -> (String, NanoUsd) {
    let mut out = String::new();
    while let Some(Ok(bytes)) = body.next().await {
        out.push_str(std::str::from_utf8(&bytes).unwrap());
    }
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let spent = gateway.quota.spent("alpha").await;
        if spent != before || tokio::time::Instant::now() > deadline {
            return (out, spent);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Relays `words` chunks for team alpha with `hard_cutoff`, having reserved
/// room for `reserved_output` completion tokens; returns the SSE text.
async fn relay(hard_cutoff: bool, reserved_output: u64, words: usize) -> (String, NanoUsd) {
    let (gateway, settlement) = reserved(hard_cutoff, reserved_output).await;
    let mut items: Vec<_> = (0..words).map(|_| Ok(chunk(" word"))).collect();
    items.push(Ok(StreamItem::Done));
    let upstream: ChunkStream = Box::pin(futures::stream::iter(items));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let relay = Relay::new(upstream, settlement, false, deadline);
    drain(&gateway, relay, NanoUsd(0)).await
}

/// The same for a provider's own Responses stream of `words` deltas.
async fn native(hard_cutoff: bool, reserved_output: u64, words: usize) -> (String, NanoUsd) {
    let (gateway, settlement) = reserved(hard_cutoff, reserved_output).await;
    let event = |kind: &str, extra: serde_json::Value| {
        let mut event = serde_json::json!({"type": kind});
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        Ok(StreamItem::Chunk(event.to_string().into()))
    };
    let shell = serde_json::json!({"id": "resp_up", "object": "response", "output": []});
    let mut items = vec![event(
        "response.created",
        serde_json::json!({"response": shell}),
    )];
    for _ in 0..words {
        let delta = serde_json::json!({"output_index": 0, "content_index": 0, "delta": " word"});
        items.push(event("response.output_text.delta", delta));
    }
    let usage = serde_json::json!({"input_tokens": 8, "output_tokens": words});
    let done = serde_json::json!({"id": "resp_up", "object": "response", "usage": usage});
    items.push(event(
        "response.completed",
        serde_json::json!({"response": done}),
    ));
    let upstream: ChunkStream = Box::pin(futures::stream::iter(items));
    let request = serde_json::from_str(r#"{"model": "fast", "input": "hello"}"#).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stream = NativeStream::new(
        upstream,
        request,
        ("resp_gw".into(), 1),
        deadline,
        settlement,
        None,
    );
    drain(&gateway, Box::pin(stream.into_body()), NanoUsd(0)).await
}

#[tokio::test]
async fn a_hard_cutoff_ends_the_stream_at_its_reservation() {
    // Room for 5 output tokens, 8 arrive: the sixth is not relayed.
    let (out, spent) = relay(true, 5, 8).await;
    assert_eq!(out.matches("\"content\":\" word\"").count(), 5, "{out}");
    assert!(out.contains("insufficient_quota"), "{out}");
    assert!(out.contains("hard cut-off"), "{out}");
    assert!(!out.contains("[DONE]"), "{out}");
    // Charged for what the upstream produced: the prompt and six tokens.
    assert!(spent.0 > 0);
    // Without the cut-off the same stream runs to its end and the overrun is charged.
    let (out, spent_all) = relay(false, 5, 8).await;
    assert_eq!(out.matches("\"content\":\" word\"").count(), 8, "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    assert_eq!(spent_all.0 - spent.0, 2 * 600);
}

#[tokio::test]
async fn a_hard_cutoff_ends_a_native_responses_stream_too() {
    // Room for 5 output tokens, 8 arrive: the sixth is not relayed, and the
    // stream ends in `response.failed` instead of `response.completed`.
    let (out, spent) = native(true, 5, 8).await;
    assert_eq!(out.matches("\"delta\":\" word\"").count(), 5, "{out}");
    assert!(out.contains("event: response.failed"), "{out}");
    assert!(out.contains("insufficient_quota"), "{out}");
    assert!(!out.contains("response.completed"), "{out}");
    assert!(out.contains("resp_gw") && !out.contains("resp_up"), "{out}");
    assert!(spent.0 > 0);
    // Without the cut-off it runs to its end, charged from its usage.
    let (out, spent_all) = native(false, 5, 8).await;
    assert_eq!(out.matches("\"delta\":\" word\"").count(), 8, "{out}");
    assert!(out.contains("event: response.completed"), "{out}");
    assert_eq!(spent_all.0, 8 * 150 + 8 * 600);
}
