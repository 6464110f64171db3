//! The request log over HTTP: every model call becomes a row that
//! `/admin/requests` lists and filters, finds by request id and sums up;
//! behind the admin key only.

use super::harness::{ALPHA_KEY, BETA_KEY, Harness, JsonBody, chat_body};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard::auth::hash_key;
use switchboard_mock_upstream::MockOptions;

const ADMIN_TOKEN: &str = "sk-admin-log-test";

async fn admin_get(h: &Harness, path: &str) -> (u16, Value) {
    let response = h
        .client
        .get(h.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json_body().await)
}

/// The listing once it holds `count` rows (the writer is asynchronous).
async fn rows_once(h: &Harness, path: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = admin_get(h, path).await;
        assert_eq!(status, 200, "{body}");
        let rows = body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= count || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_call_is_a_row_the_admin_api_filters_and_sums() {
    let extra = format!(
        "[admin]\nhash = \"sha256:{}\"\n[request_log]\nenabled = true\n",
        hex::encode(hash_key(ADMIN_TOKEN))
    );
    let h = Harness::with(MockOptions::default(), &extra).await;
    let ok = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(ALPHA_KEY)
        .header("x-request-id", "log-test-1")
        .body(chat_body("openai/gpt-4o-mini", "hello").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let unknown = h
        .post(
            "/v1/chat/completions",
            Some(BETA_KEY),
            chat_body("no-such-model", "hello").to_string(),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    let rows = rows_once(&h, "/admin/requests", 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let alpha = rows_once(&h, "/admin/requests?team=alpha", 1).await;
    assert_eq!(alpha.len(), 1);
    let row = &alpha[0];
    assert_eq!(row["request_id"], "log-test-1");
    assert_eq!(row["status"], 200);
    assert_eq!(row["endpoint"], "chat_completions");
    assert_eq!(row["model"], "openai/gpt-4o-mini");
    assert!(row["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(row["cost_nano"].as_u64().unwrap() > 0);
    let errors = rows_once(&h, "/admin/requests?status=4xx", 1).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["status"], 404);
    assert_eq!(errors[0]["team"], "beta");

    let (status, one) = admin_get(&h, "/admin/requests/log-test-1").await;
    assert_eq!(status, 200);
    assert_eq!(one["calls"].as_array().unwrap().len(), 1);
    let (status, _) = admin_get(&h, "/admin/requests/nothing-like-it").await;
    assert_eq!(status, 404);
    let (status, bad) = admin_get(&h, "/admin/requests?status=teapot").await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["param"], "status");
    let (status, bad) = admin_get(&h, "/admin/requests?colour=red").await;
    assert_eq!(status, 400, "{bad}");

    let (status, summary) = admin_get(&h, "/admin/requests/summary?buckets=4").await;
    assert_eq!(status, 200);
    assert_eq!(summary["requests"], 2);
    assert_eq!(summary["errors"], 1);
    assert!(summary["spend_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["series"].as_array().unwrap().len(), 4);
    assert_eq!(summary["teams"][0]["name"], "alpha");

    // A team key never reads the log.
    let refused = h
        .client
        .get(h.url("/admin/requests"))
        .bearer_auth(ALPHA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

/// A gateway whose request log keeps team alpha's content.
async fn capturing_alpha() -> Harness {
    let extra = format!(
        "[admin]\nhash = \"sha256:{}\"\n[request_log]\nenabled = true\ncapture = [\"alpha\"]\n",
        hex::encode(hash_key(ADMIN_TOKEN))
    );
    Harness::with(MockOptions::default(), &extra).await
}

#[tokio::test]
async fn content_is_kept_only_for_teams_that_opted_in() {
    let h = capturing_alpha().await;
    for key in [ALPHA_KEY, BETA_KEY] {
        let model = if key == ALPHA_KEY {
            "openai/gpt-4o-mini"
        } else {
            "mock/echo"
        };
        let response = h
            .post(
                "/v1/chat/completions",
                Some(key),
                chat_body(model, "What is the capital of Peru?").to_string(),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let rows = rows_once(&h, "/admin/requests", 2).await;
    let row = |team: &str| rows.iter().find(|r| r["team"] == team).unwrap().clone();
    let alpha = row("alpha");
    let captured = &alpha["detail"]["captured"];
    assert_eq!(
        captured["messages"][0]["content"], "What is the capital of Peru?",
        "{alpha}"
    );
    assert!(
        captured["answer"].as_str().is_some_and(|a| !a.is_empty()),
        "{alpha}"
    );
    // Off by default: another team's row holds no content.
    let beta = row("beta");
    assert!(beta["detail"].get("captured").is_none(), "{beta}");
    assert!(!beta.to_string().contains("Peru"), "{beta}");
    // Every row says how its stages and attempts went.
    for row in [&alpha, &beta] {
        let stages: Vec<&str> = row["detail"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[0].as_str().unwrap())
            .collect();
        assert!(
            stages.contains(&"dispatch") && stages.contains(&"guard_input"),
            "{row}"
        );
        assert_eq!(
            row["detail"]["attempts"].as_array().unwrap().len(),
            1,
            "{row}"
        );
    }
}

#[tokio::test]
async fn a_streamed_answer_is_kept_as_the_client_received_it() {
    let h = capturing_alpha().await;
    let mut body = chat_body("openai/gpt-4o-mini", "Name three rivers of Peru.");
    body["stream"] = json!(true);
    let response = h
        .post("/v1/chat/completions", Some(ALPHA_KEY), body.to_string())
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let received: String = super::harness::sse_payloads(&text)
        .iter()
        .filter_map(|payload| serde_json::from_str::<Value>(payload).ok())
        .filter_map(|chunk| {
            chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert!(!received.is_empty(), "{text}");
    // The row is written once the stream is settled, after the last event.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = rows_once(&h, "/admin/requests", 1).await;
        let kept = rows
            .into_iter()
            .find(|row| row["detail"]["captured"]["answer"].is_string());
        match kept {
            Some(row) => break row,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => panic!("no row kept the streamed answer"),
        }
    };
    assert_eq!(row["stream"], true, "{row}");
    assert_eq!(
        row["detail"]["captured"]["answer"],
        received.as_str(),
        "{row}"
    );
    assert!(
        row["detail"]["captured"].get("answer_withheld").is_none(),
        "{row}"
    );
}

#[test]
fn capturing_an_unknown_team_is_refused() {
    let text = super::harness::config_text("[request_log]\ncapture = [\"nobody\"]\n");
    let error = switchboard::config::load_str("t.toml", &text, None, std::path::Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("request_log.capture") && error.contains("nobody"),
        "{error}"
    );
}
