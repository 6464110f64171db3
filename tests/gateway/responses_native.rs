//! `POST /v1/responses` sent natively to a provider that serves the
//! Responses API (`openai`, here the mock upstream's `/v1/responses`), over
//! real HTTP: the object and the event stream under the gateway's own id,
//! usage settled into the ledger, a fallback from a failing native target
//! to a translated one, a conversation and function calls continued
//! across native and translated turns, one team never reading another's
//! response, and failures. The guardrails and the request log on this path
//! are in `responses_native_stages.rs`.

use crate::harness::*;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_mock_upstream::MockOptions;

/// `gpt-4o-mini` (the `fast` alias): $0.15 and $0.60 per million tokens,
/// 150 and 600 nano-USD per token.
pub(crate) const INPUT_NANO: u64 = 150;
pub(crate) const OUTPUT_NANO: u64 = 600;

pub(crate) async fn create(h: &Harness, key: &str, body: Value) -> reqwest::Response {
    h.post("/v1/responses", Some(key), body.to_string()).await
}

pub(crate) async fn get(h: &Harness, key: &str, path: &str) -> reqwest::Response {
    let request = h.client.get(h.url(path)).bearer_auth(key);
    request.send().await.expect("gateway answers")
}

pub(crate) fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) fn output_text(object: &Value) -> String {
    object["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["content"].as_array())
        .flatten()
        .filter_map(|part| part["text"].as_str())
        .collect()
}

/// The `(event name, data)` pairs of a Responses SSE body.
pub(crate) fn events(body: &str) -> Vec<(String, Value)> {
    body.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("a named event: {event:?}"));
            (name.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// A stream of team alpha that must start (200): its body and events.
pub(crate) async fn streamed(h: &Harness, body: Value) -> (String, Vec<(String, Value)>) {
    let response = create(h, ALPHA_KEY, body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = events(&text);
    (text, events)
}

/// Waits (up to 10 s) until the team's settled spend is `expected`.
pub(crate) async fn spend_reaches(h: &Harness, team: &str, expected: u64) {
    spend_until(h, team, |spent| spent == expected, &format!("{expected}")).await;
}

/// Waits (up to 10 s) until the team's settled spend meets `done`
/// (`wanted` says what it should be); returns it.
pub(crate) async fn spend_until(
    h: &Harness,
    team: &str,
    done: impl Fn(u64) -> bool,
    wanted: &str,
) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let spent = h.gateway.gateway.quota.spent(team).await.0;
        if done(spent) {
            return spent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spend stayed at {spent}, expected {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_native_response_is_the_upstreams_object_under_the_gateways_id() {
    let h = Harness::start().await;
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "one two three", "metadata": {"k": "v"}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-switchboard-provider"), "openai");
    let object = response.json_body().await;
    assert_eq!(object["object"], "response");
    assert_eq!(object["status"], "completed");
    assert_eq!(object["model"], "fast");
    assert_eq!(object["store"], true);
    assert_eq!(object["metadata"], json!({"k": "v"}));
    assert_eq!(output_text(&object), "Echo: one two three");
    assert_eq!(object["usage"]["input_tokens"], 6);
    assert_eq!(object["usage"]["output_tokens"], 4);
    // The Responses API was called, not chat, with the provider's key and
    // nothing of the gateway's own keeping.
    let state = &h.upstream.state;
    assert_eq!((state.responses_calls(), state.chat_calls()), (1, 0));
    assert_eq!(
        state.last_authorization().as_deref(),
        Some("Bearer sk-upstream-test")
    );
    let sent = state.last_responses_request().unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["store"], false);
    assert_eq!(sent["metadata"], json!({"k": "v"}));
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
    // Settled from the upstream's usage, into the ledger.
    spend_reaches(&h, "alpha", 6 * INPUT_NANO + 4 * OUTPUT_NANO).await;
    // Recorded as every request is: metrics by endpoint, model and provider.
    let metrics = get_text(&h.client, &h.url("/metrics")).await;
    for line in [
        "switchboard_requests_total{endpoint=\"responses\",model=\"openai/gpt-4o-mini\",provider=\"openai\",status=\"200\"} 1",
        "switchboard_tokens_total{model=\"openai/gpt-4o-mini\",provider=\"openai\",kind=\"completion\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    // Kept under the gateway's id.
    let id = object["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"), "{id}");
    let kept = get(&h, ALPHA_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.json_body().await, object);
}

#[tokio::test]
async fn a_native_stream_relays_the_upstreams_events_and_settles_its_usage() {
    let h = Harness::start().await;
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "one two three", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    let events = events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    let deltas = ["response.output_text.delta"; 4];
    let expected: Vec<&str> = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    .into_iter()
    .chain(deltas)
    .chain([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ])
    .collect();
    assert_eq!(names, expected);
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(&data["type"], name);
        assert_eq!(data["sequence_number"], i as u64);
    }
    let (_, created) = &events[0];
    let (_, completed) = events.last().unwrap();
    let id = completed["response"]["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"));
    assert_eq!(created["response"]["id"], id);
    assert_eq!(completed["response"]["model"], "fast");
    assert_eq!(output_text(&completed["response"]), "Echo: one two three");
    assert_eq!(h.upstream.state.chat_calls(), 0);
    assert_eq!(
        h.upstream.state.last_responses_request().unwrap()["stream"],
        true
    );
    spend_reaches(&h, "alpha", 6 * INPUT_NANO + 4 * OUTPUT_NANO).await;
    // Kept before the last event left.
    let kept = get(&h, ALPHA_KEY, &format!("/v1/responses/{id}"))
        .await
        .json_body()
        .await;
    assert_eq!(kept, completed["response"]);
}

#[tokio::test]
async fn a_failing_native_target_falls_back_to_a_translated_one() {
    let route = r#"
[routes.r]
targets = [{ model = "openai/fault-500", priority = 1 }, { model = "mock/echo", priority = 2 }]
retries = { attempts = 2, backoff = "20ms", max_backoff = "50ms" }

# Both rounds meet the failing target: its breaker stays closed.
[breaker]
consecutive_failures = 100
"#;
    let h = Harness::with(MockOptions::default(), route).await;
    for stream in [false, true] {
        h.upstream.state.reset();
        let response = create(
            &h,
            ALPHA_KEY,
            json!({"model": "r", "input": "hi there", "stream": stream}),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-switchboard-provider"), "mock");
        assert_eq!(header(&response, "x-switchboard-attempts"), "3");
        let object = if stream {
            let body = response.text().await.unwrap();
            let (name, last) = events(&body).pop().unwrap();
            assert_eq!(name, "response.completed", "{body}");
            last["response"].clone()
        } else {
            response.json_body().await
        };
        assert!(
            output_text(&object).ends_with("You said: hi there"),
            "{object}"
        );
        // Two native attempts at the failing target, none at its chat endpoint.
        assert_eq!(h.upstream.state.responses_calls(), 2);
        assert_eq!(h.upstream.state.chat_calls(), 0);
    }
}

#[tokio::test]
async fn a_conversation_continues_across_native_and_translated_turns() {
    let h = Harness::start().await;
    // 1. native.
    let first = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "my name is Ada"}),
    )
    .await
    .json_body()
    .await;
    assert_eq!(output_text(&first), "Echo: my name is Ada");
    // 2. translated (the built-in mock), continuing 1: the history reaches
    // it, so its prompt is longer than the same input alone.
    let alone = create(
        &h,
        ALPHA_KEY,
        json!({"model": "echo", "input": "what is my name"}),
    )
    .await
    .json_body()
    .await;
    let second = create(
        &h,
        ALPHA_KEY,
        json!({"model": "echo", "input": "what is my name", "previous_response_id": first["id"]}),
    )
    .await
    .json_body()
    .await;
    assert_eq!(second["previous_response_id"], first["id"]);
    let tokens = |object: &Value| object["usage"]["input_tokens"].as_u64().unwrap();
    assert!(tokens(&second) > tokens(&alone), "{second} vs {alone}");
    // 3. native, continuing 2: the upstream gets the whole conversation as
    // input items, and no id of the gateway's.
    let third = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "and again?", "previous_response_id": second["id"]}),
    )
    .await;
    assert_eq!(third.status(), 200);
    let third = third.json_body().await;
    assert_eq!(third["previous_response_id"], second["id"]);
    let sent = h.upstream.state.last_responses_request().unwrap();
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
    let texts: Vec<String> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match &item["content"] {
            Value::String(text) => format!("{}: {text}", item["role"].as_str().unwrap()),
            other => format!("{}: {other}", item["role"].as_str().unwrap()),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "user: my name is Ada".to_owned(),
            "assistant: Echo: my name is Ada".to_owned(),
            "user: what is my name".to_owned(),
            format!("assistant: {}", output_text(&second)),
            "user: and again?".to_owned(),
        ]
    );
    // Its input items are this request's input only.
    let id = third["id"].as_str().unwrap();
    let items = get(&h, ALPHA_KEY, &format!("/v1/responses/{id}/input_items"))
        .await
        .json_body()
        .await;
    assert_eq!(items["data"].as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items["data"][0]["content"][0]["text"], "and again?");
}

#[tokio::test]
async fn a_team_never_reads_another_teams_native_response() {
    let h = Harness::start().await;
    let object = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "secret plans"}),
    )
    .await
    .json_body()
    .await;
    let id = object["id"].as_str().unwrap();
    for path in [
        format!("/v1/responses/{id}"),
        format!("/v1/responses/{id}/input_items"),
    ] {
        let response = get(&h, BETA_KEY, &path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("secret plans"));
    }
    let deleted = h
        .client
        .delete(h.url(&format!("/v1/responses/{id}")))
        .bearer_auth(BETA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    let continued = create(
        &h,
        BETA_KEY,
        json!({"model": "echo", "input": "go on", "previous_response_id": id}),
    )
    .await;
    assert_eq!(continued.status(), 400);
    assert_eq!(error_of(continued).await["param"], "previous_response_id");
    // Still there for its own team.
    let own = get(&h, ALPHA_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn the_providers_refusal_of_a_native_request_reaches_the_client() {
    let h = Harness::start().await;
    // OpenAI's floor for `max_output_tokens` is 16; the gateway's own is 1.
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "hi", "max_output_tokens": 5}),
    )
    .await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert_eq!(error["param"], "max_output_tokens");
    assert_eq!(error["code"], "integer_below_min_value");
    assert_eq!(h.gateway.gateway.quota.spent("alpha").await.0, 0);
}

#[tokio::test]
async fn a_native_answer_cut_short_is_a_failure_not_an_answer() {
    let h = Harness::start().await;
    // Complete: the body stops halfway, a 502.
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "openai/fault-truncate", "input": "one two three four"}),
    )
    .await;
    assert_eq!(response.status(), 502);
    assert_eq!(error_of(response).await["code"], "bad_gateway");
    // Streamed: two deltas, then the connection ends without a terminal
    // event; the stream ends in `response.failed` keeping what was sent.
    let (body, events) = streamed(
        &h,
        json!({"model": "openai/fault-truncate", "input": "one two three four", "stream": true}),
    )
    .await;
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{body}");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "bad_gateway");
    assert_eq!(last["sequence_number"], (events.len() - 1) as u64);
    let deltas = events
        .iter()
        .filter(|(name, _)| name == "response.output_text.delta")
        .count();
    assert_eq!(deltas, 2, "{body}");
    // A failed response is not kept.
    let id = last["response"]["id"].as_str().unwrap();
    assert_eq!(
        get(&h, ALPHA_KEY, &format!("/v1/responses/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn function_calls_round_trip_natively_through_the_gateways_store() {
    let h = Harness::start().await;
    let weather = json!({"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let first = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "Weather in Paris?", "tools": [weather]}),
    )
    .await
    .json_body()
    .await;
    let call = &first["output"][0];
    assert_eq!(call["type"], "function_call", "{first}");
    assert_eq!(call["arguments"], r#"{"city":"mock"}"#);
    // The tool's output continues the response: the upstream finds the
    // call it answers in the input the gateway expanded (it has nothing
    // stored), and answers in text.
    let output =
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"});
    let second = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": [output], "tools": [weather],
               "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(second.status(), 200);
    assert_eq!(
        output_text(&second.json_body().await),
        "Echo: Weather in Paris?"
    );
    let sent = h.upstream.state.last_responses_request().unwrap();
    let kinds: Vec<&str> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "function_call", "function_call_output"]);
    assert_eq!(sent["input"][1]["call_id"], call["call_id"]);
    assert_eq!(sent["input"][1]["name"], "get_weather");
    // Streamed, the call's arguments arrive as their own events.
    let (body, events) = streamed(
        &h,
        json!({"model": "fast", "input": "Weather?", "tools": [weather], "stream": true}),
    )
    .await;
    let arguments = events
        .iter()
        .find(|(name, _)| name == "response.function_call_arguments.done")
        .map(|(_, data)| data["arguments"].clone());
    assert_eq!(arguments, Some(json!(r#"{"city":"mock"}"#)), "{body}");
    let (name, completed) = events.last().unwrap();
    assert_eq!(name, "response.completed");
    assert_eq!(completed["response"]["output"][0]["name"], "get_weather");
}
