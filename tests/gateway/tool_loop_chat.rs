//! The tool loop on chat completions: an `mcp` entry in a chat request's
//! `tools` has the gateway run the same loop as `/v1/responses` (policy,
//! prices, budgets, limits); the answer is a plain `chat.completion` with
//! the calls the gateway ran in its `tool_loop` extension field.

use crate::harness::{JsonBody, sse_payloads};
use crate::tool_prices::{BUY_NANO, MODEL, Setup, shop_tool};
use serde_json::{Value, json};

fn chat(tools: Value) -> Value {
    json!({"model": MODEL, "max_tokens": 200, "tools": tools,
           "messages": [{"role": "user", "content": "Buy one."}]})
}

async fn post(setup: &Setup, body: &Value) -> (u16, Value) {
    let response = setup.post("/v1/chat/completions", body).await;
    let status = response.status().as_u16();
    (status, response.json_body().await)
}

#[tokio::test]
async fn a_chat_request_with_an_mcp_tool_gets_the_models_answer_after_the_loop() {
    let setup = Setup::with_config("usd_total = 10.0", "").await;
    let (status, body) = post(&setup, &chat(json!([shop_tool()]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "stop", "{body}");
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(
        choice["message"]["content"]
            .as_str()
            .is_some_and(|text| !text.is_empty()),
        "{body}"
    );
    assert!(choice["message"].get("tool_calls").is_none(), "{body}");
    let report = &body["tool_loop"];
    let calls = report["calls"].as_array().expect("the calls it ran");
    assert_eq!(calls.len(), 1, "{report}");
    assert_eq!(calls[0]["type"], "mcp_call");
    assert_eq!(calls[0]["server_label"], "shop");
    assert_eq!(calls[0]["name"], "buy");
    assert_eq!(calls[0]["status"], "completed");
    assert_eq!(report["model_calls"], 2);
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    // Every call was settled once, and the loop's spend is the ledger's.
    let spend = setup.spend().await;
    assert_eq!(spend[MODEL].0, 2, "{spend:?}");
    assert_eq!(spend["mcp:shop/buy"], (1, BUY_NANO));
    let total: u64 = spend.values().map(|row| row.1).sum();
    assert_eq!(report["cost_usd"].as_f64(), Some(total as f64 / 1e9));
    assert_eq!(setup.counted().await, total);
}

#[tokio::test]
async fn the_clients_own_function_call_is_its_to_run() {
    let setup = Setup::with_config("", "").await;
    // The mock model calls the first tool offered: the client's function.
    let own = json!({"type": "function", "function": {"name": "lookup",
                     "parameters": {"type": "object", "properties": {}}}});
    let (status, body) = post(&setup, &chat(json!([own, shop_tool()]))).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["name"],
        "lookup"
    );
    assert_eq!(body["tool_loop"]["calls"], json!([]));
}

#[tokio::test]
async fn the_dollar_limit_ends_a_chat_loop_with_an_error_saying_what_was_spent() {
    let setup = Setup::with_config("usd_total = 10.0", "").await;
    let mut request = chat(json!([shop_tool()]));
    request["tool_loop"] = json!({"max_cost_usd": 0.25});
    let (status, body) = post(&setup, &request).await;
    assert_eq!(status, 400, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "tool_loop_limit", "{body}");
    assert_eq!(error["type"], "invalid_request_error");
    let spend = setup.spend().await;
    assert_eq!(spend[MODEL].0, 1, "{spend:?}");
    let total: u64 = spend.values().map(|row| row.1).sum();
    assert_eq!(total, spend[MODEL].1 + BUY_NANO);
    assert_eq!(
        error["tool_loop"]["cost_usd"].as_f64(),
        Some(total as f64 / 1e9)
    );
    assert_eq!(error["tool_loop"]["calls"][0]["status"], "completed");
    assert_eq!(setup.counted().await, total);
}

#[tokio::test]
async fn what_chat_cannot_do_is_a_400_naming_the_field() {
    let setup = Setup::with_config("", "").await;
    let mut asking = shop_tool();
    asking.as_object_mut().unwrap().remove("require_approval");
    let mut alone = chat(json!([]));
    alone["tool_loop"] = json!({"max_cost_usd": 0.1});
    let mut elsewhere = shop_tool();
    elsewhere["server_url"] = json!("https://example.com/sse");
    for (body, param) in [
        (chat(json!([asking])), "tools[0].require_approval"),
        (alone, "tool_loop"),
        (chat(json!([elsewhere])), "tools[0].server_url"),
    ] {
        let (status, answer) = post(&setup, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
    }
    assert!(setup.spend().await.is_empty(), "nothing was spent");
}

/// The `data:` payloads of a streamed chat loop (`[DONE]` as a string).
async fn stream(setup: &Setup, body: &Value) -> Vec<Value> {
    let response = setup.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "a stream"
    );
    let text = response.text().await.expect("the stream reads");
    sse_payloads(&text)
        .iter()
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| json!(data)))
        .collect()
}

#[tokio::test]
async fn a_streamed_chat_loop_sends_the_answer_as_chunks_and_its_calls_last() {
    let setup = Setup::with_config("usd_total = 10.0", "").await;
    let mut request = chat(json!([shop_tool()]));
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let chunks = stream(&setup, &request).await;
    assert_eq!(chunks.last(), Some(&json!("[DONE]")), "{chunks:#?}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content")?.as_str())
        .collect();
    assert!(!text.is_empty(), "{chunks:#?}");
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/finish_reason"))
        .filter(|reason| !reason.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
    }
    let last = &chunks[chunks.len() - 2];
    assert_eq!(last["choices"], json!([]));
    assert!(
        last["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{last}"
    );
    let report = &last["tool_loop"];
    assert_eq!(report["calls"][0]["name"], "buy", "{report}");
    assert_eq!(report["calls"][0]["status"], "completed");
    let spend = setup.spend().await;
    assert_eq!(spend[MODEL].0, 2, "{spend:?}");
    let total: u64 = spend.values().map(|row| row.1).sum();
    assert_eq!(report["cost_usd"].as_f64(), Some(total as f64 / 1e9));
    assert_eq!(setup.counted().await, total);
}

#[tokio::test]
async fn a_streamed_chat_loop_at_its_limit_ends_with_an_error_event() {
    let setup = Setup::with_config("", "").await;
    let mut request = chat(json!([shop_tool()]));
    request["stream"] = json!(true);
    request["tool_loop"] = json!({"max_cost_usd": 0.25});
    let chunks = stream(&setup, &request).await;
    let last = chunks.last().expect("chunks");
    assert_eq!(last["error"]["code"], "tool_loop_limit", "{chunks:#?}");
    assert_eq!(last["error"]["tool_loop"]["tool_calls"], 1, "{last}");
    assert!(!chunks.contains(&json!("[DONE]")), "{chunks:#?}");
}
