//! Hard cut-off: a stream of a team configured for it ends with an error
//! event once it would spend more than was reserved for it, and what the
//! upstream produced is still charged.

use super::harness::{UPSTREAM_KEY, config};
use futures::StreamExt;
use std::time::Duration;
use switchboard::api::chat::Message;
use switchboard::catalog::ModelKind;
use switchboard::cost::{NanoUsd, Usage};
use switchboard::gateway::Gateway;
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

/// Relays `words` chunks for team alpha with `hard_cutoff`, having reserved
/// room for `reserved_output` completion tokens; returns the SSE text.
async fn relay(hard_cutoff: bool, reserved_output: u64, words: usize) -> (String, NanoUsd) {
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
    let mut items: Vec<_> = (0..words).map(|_| Ok(chunk(" word"))).collect();
    items.push(Ok(StreamItem::Done));
    let upstream: ChunkStream = Box::pin(futures::stream::iter(items));
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut relay = Relay::new(upstream, settlement, false, deadline);
    let mut out = String::new();
    while let Some(Ok(bytes)) = relay.next().await {
        out.push_str(std::str::from_utf8(&bytes).unwrap());
    }
    drop(relay);
    tokio::time::sleep(Duration::from_millis(100)).await;
    (out, gateway.quota.spent("alpha").await)
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
