//! The stages around a native Responses call, over real HTTP: input
//! guardrails before the provider, output guardrails on a native answer and
//! through a native stream's window (blocks, and a redacted prompt restored
//! in every event repeating its text), and the request log row.

use crate::harness::*;
use crate::responses_native::{
    INPUT_NANO, OUTPUT_NANO, create, events, get, header, output_text, spend_until, streamed,
};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_mock_upstream::MockOptions;

#[tokio::test]
async fn a_prompt_the_input_guardrails_block_never_reaches_the_provider() {
    let guardrails = r#"
[[guardrails.bindings]]
team = "alpha"
packs = ["secrets"]
"#;
    let h = Harness::with(MockOptions::default(), guardrails).await;
    for stream in [false, true] {
        let response = create(
            &h,
            ALPHA_KEY,
            json!({"model": "fast", "stream": stream,
                   "input": "why is boto3 failing with AKIA4QWERTYZXCVB7LMN ?"}),
        )
        .await;
        assert_eq!(response.status(), 400);
        let error = error_of(response).await;
        assert_eq!(error["code"], "content_policy_violation");
        assert!(!error["message"].as_str().unwrap().contains("AKIA"));
    }
    assert_eq!(h.upstream.state.responses_calls(), 0);
    assert_eq!(h.upstream.state.chat_calls(), 0);
    assert_eq!(h.gateway.gateway.quota.spent("alpha").await.0, 0);
    // A clean prompt of the same team still goes natively.
    let response = create(&h, ALPHA_KEY, json!({"model": "fast", "input": "hi"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(h.upstream.state.responses_calls(), 1);
}

#[tokio::test]
async fn the_output_guardrails_judge_a_native_answer_and_stream() {
    let guardrails = r#"
[guardrails]
stream_window_bytes = 64

[[guardrails.bindings]]
team = "alpha"
models = ["openai/gpt-4o"]
packs = ["custom-template"]
phases = ["output"]
"#;
    let h = Harness::with(MockOptions::default(), guardrails).await;
    // The prompt passes (output rules only); the echoed answer does not.
    let input = "tell me about project bluebird";
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "openai/gpt-4o", "input": input}),
    )
    .await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert_eq!(error["code"], "content_policy_violation");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("custom.codenames")
    );
    assert_eq!(h.upstream.state.responses_calls(), 1);
    // The provider answered, so its usage is charged.
    let paid = h.gateway.gateway.quota.spent("alpha").await.0;
    assert!(paid > 0);
    // Streamed, the events pass the stream window and the stream ends in
    // `response.failed` before any of the match goes out.
    let (body, events) = streamed(
        &h,
        json!({"model": "openai/gpt-4o", "input": input, "stream": true}),
    )
    .await;
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{body}");
    assert_eq!(
        last["response"]["error"]["code"],
        "content_policy_violation"
    );
    let message = last["response"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("custom.codenames"), "{message}");
    assert!(!body.contains("bluebird"), "{body}");
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{body}");
    }
    assert_eq!(h.upstream.state.responses_calls(), 2);
    assert_eq!(h.upstream.state.chat_calls(), 0);
    // The stream was charged too.
    spend_until(
        &h,
        "alpha",
        |spent| spent > paid,
        &format!("more than {paid}"),
    )
    .await;
}

#[tokio::test]
async fn a_redacted_prompt_is_restored_in_a_native_stream_and_its_repeats() {
    let guardrails = r#"
[[guardrails.bindings]]
team = "alpha"
packs = ["pii"]
restore = true
"#;
    let h = Harness::with(MockOptions::default(), guardrails).await;
    let response = create(
        &h,
        ALPHA_KEY,
        json!({"model": "fast", "input": "mail jane.doe@acme.io please", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-switchboard-guardrails"), "redacted=1");
    let body = response.text().await.unwrap();
    let sent = h.upstream.state.last_responses_request().unwrap();
    assert_eq!(
        sent["input"][0]["content"], "mail [EMAIL_1] please",
        "the provider never sees the original"
    );
    let events = events(&body);
    let deltas: String = events
        .iter()
        .filter(|(name, _)| name == "response.output_text.delta")
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect();
    let answer = "Echo: mail jane.doe@acme.io please";
    assert_eq!(deltas, answer, "{body}");
    // Every event repeating the text says what the client was sent.
    let done = |name: &str| events.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(done("response.output_text.done")["text"], answer);
    assert_eq!(done("response.content_part.done")["part"]["text"], answer);
    assert_eq!(
        done("response.output_item.done")["item"]["content"][0]["text"],
        answer
    );
    let (name, completed) = events.last().unwrap();
    assert_eq!(name, "response.completed");
    assert_eq!(output_text(&completed["response"]), answer);
    assert!(!body.contains("EMAIL_1"), "{body}");
    assert_eq!(h.upstream.state.chat_calls(), 0);
}

const ADMIN: &str = "sk-admin-native-log";

/// A harness with the request log on (and `log` added to its table) and an
/// admin key to read it.
async fn logged(log: &str) -> Harness {
    let extra = format!(
        "[admin]\nhash = \"sha256:{}\"\n[request_log]\nenabled = true\n{log}",
        hex::encode(switchboard::auth::hash_key(ADMIN))
    );
    Harness::with(MockOptions::default(), &extra).await
}

/// The row `pick` finds at the admin API's `path`, once the asynchronous
/// writer has written it (within a deadline).
async fn row_at(h: &Harness, path: &str, pick: impl Fn(&Value) -> Option<Value>) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = get(h, ADMIN, path).await.json_body().await;
        if let Some(row) = pick(&found) {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "no row: {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_native_call_is_a_request_log_row_like_any_other() {
    let h = logged("").await;
    let response = h
        .client
        .post(h.url("/v1/responses"))
        .bearer_auth(ALPHA_KEY)
        .header("x-request-id", "native-log-1")
        .body(json!({"model": "fast", "input": "one two three"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let row = row_at(&h, "/admin/requests?team=alpha", |found| {
        found["requests"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(row["request_id"], "native-log-1");
    assert_eq!(row["endpoint"], "responses");
    assert_eq!(row["provider"], "openai");
    assert_eq!(row["model"], "openai/gpt-4o-mini");
    assert_eq!(row["status"], 200);
    assert_eq!(row["prompt_tokens"], 6);
    assert_eq!(row["completion_tokens"], 4);
    assert_eq!(row["cost_nano"], 6 * INPUT_NANO + 4 * OUTPUT_NANO);
}

#[tokio::test]
async fn a_streamed_response_is_captured_as_the_client_received_it() {
    let h = logged("capture = [\"alpha\"]\n").await;
    // Native (`fast`, OpenAI's Responses API) and translated (`mock/echo`).
    for (n, model) in ["fast", "mock/echo"].into_iter().enumerate() {
        let id = format!("native-capture-{n}");
        let response = h
            .client
            .post(h.url("/v1/responses"))
            .bearer_auth(ALPHA_KEY)
            .header("x-request-id", &id)
            .body(json!({"model": model, "input": "one two three", "stream": true}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        let received: String = events(&body)
            .iter()
            .filter(|(name, _)| name == "response.output_text.delta")
            .filter_map(|(_, event)| event["delta"].as_str().map(str::to_owned))
            .collect();
        assert!(!received.is_empty(), "{body}");
        // The row is written once the stream is settled, after its last event.
        let row = row_at(&h, &format!("/admin/requests/{id}"), |found| {
            found["calls"]
                .as_array()?
                .first()
                .filter(|row| row["detail"]["captured"]["answer"].is_string())
                .cloned()
        })
        .await;
        assert_eq!(row["stream"], true, "{row}");
        assert_eq!(
            row["detail"]["captured"]["answer"],
            received.as_str(),
            "{model}"
        );
        assert!(
            row["detail"]["captured"].get("answer_withheld").is_none(),
            "{row}"
        );
    }
}
