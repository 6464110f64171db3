//! The stream window's tests: lanes, hold times, blocks and redactions.

use super::*;
use crate::api::chat::ChatRequest;
use serde_json::json;

/// A gateway whose team `t` has `packs` bound on output, a 16-byte
/// window and a 100 ms hold.
fn guard(packs: &str, prompt: &str) -> StreamGuard {
    crate::install_crypto_provider();
    let text = format!(
        "[[teams]]\nid = \"t\"\n[guardrails]\nstream_window_bytes = 16\nstream_max_hold = \"100ms\"\n[[guardrails.bindings]]\npacks = [{packs}]\nrestore = true\n"
    );
    let config = crate::config::load_str("t.toml", &text, None, std::path::Path::new(".")).unwrap();
    let guardrails = Guardrails::build(
        &config.guardrails,
        &config.teams,
        &crate::provider::build_client(&config.upstream).unwrap(),
        None,
    )
    .unwrap();
    let decisions = GuardrailDecisions::default();
    let mut request: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": prompt}]
    }))
    .unwrap();
    let request_guard = futures::executor::block_on(RequestGuard::check_request(
        &guardrails,
        &decisions,
        "r",
        "t",
        &mut request,
    ))
    .unwrap();
    StreamGuard::new(&guardrails, &decisions, "r", "t", request_guard).unwrap()
}

fn chunk(text: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string(),
    )
}

/// A chunk with an argument delta of tool call `call` (with the call's
/// id and name on its first delta, as OpenAI sends them).
fn call_chunk(call: u64, first: bool, arguments: &str) -> Bytes {
    let mut delta = json!({"index": call, "function": {"arguments": arguments}});
    if first {
        delta["id"] = json!(format!("call_{call}"));
        delta["type"] = json!("function");
        delta["function"]["name"] = json!("send_mail");
    }
    Bytes::from(json!({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]}).to_string())
}

/// The arguments each tool call received, and the content, of the
/// chunks released now and at the end.
fn drain(guard: &mut StreamGuard, now: Instant) -> (Vec<String>, String) {
    let mut calls: Vec<String> = Vec::new();
    let mut content = String::new();
    let mut take = |json: Bytes| {
        let value: Value = serde_json::from_slice(&json).unwrap();
        let delta = &value["choices"][0]["delta"];
        content.push_str(delta["content"].as_str().unwrap_or_default());
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap() as usize;
            if calls.len() <= index {
                calls.resize(index + 1, String::new());
            }
            calls[index].push_str(call["function"]["arguments"].as_str().unwrap());
        }
    };
    guard.release(now, &mut take);
    guard.flush(&mut take);
    (calls, content)
}

#[test]
fn a_secret_split_across_argument_deltas_blocks_the_stream() {
    let mut g = guard("\"secrets\"", "hello");
    let now = Instant::now();
    g.push(
        call_chunk(0, true, "{\"to\": \"ops\", \"body\": \"key AKIA4QWE"),
        now,
    )
    .unwrap();
    assert!(
        released(&mut g, now).is_empty(),
        "the start of the key is held"
    );
    let error = g
        .push(call_chunk(0, false, "RTYZXCVB7LMN\"}"), now)
        .unwrap_err();
    assert!(
        matches!(error, GatewayError::ContentPolicy { ref rule, phase: "tool_arguments", .. }
            if rule == "secrets.aws-access-key"),
        "{error:?}"
    );
}

#[test]
fn argument_deltas_are_redacted_and_lanes_do_not_mix() {
    let mut g = guard("\"pii\"", "hello");
    let now = Instant::now();
    g.push(chunk("Sending it now, "), now).unwrap();
    g.push(call_chunk(0, true, "{\"to\": \"jane."), now)
        .unwrap();
    // A second call in between: its text is not part of call 0's.
    g.push(call_chunk(1, true, "{\"cc\": \"doe"), now).unwrap();
    g.push(
        call_chunk(0, false, "doe@acme.io\", \"body\": \"hi\"}"),
        now,
    )
    .unwrap();
    g.push(call_chunk(1, false, "@acme\"}"), now).unwrap();
    let (calls, content) = drain(&mut g, now);
    assert_eq!(content, "Sending it now, ");
    assert_eq!(calls[0], "{\"to\": \"[EMAIL_1]\", \"body\": \"hi\"}");
    assert_eq!(calls[1], "{\"cc\": \"doe@acme\"}");
}

#[test]
fn argument_chunks_wait_for_their_own_lane_only() {
    let mut g = guard("\"pii\"", "hello");
    let now = Instant::now();
    g.push(call_chunk(0, true, "{\"a\": 1}"), now).unwrap();
    // 20 bytes in another lane do not settle call 0's chunk.
    g.push(call_chunk(1, true, "{\"b\": \"0123456789\"}"), now)
        .unwrap();
    let mut out = 0;
    g.release(now, &mut |_| out += 1);
    assert_eq!(out, 0);
    g.release(now + Duration::from_millis(100), &mut |_| out += 1);
    assert_eq!(out, 2, "the hold time bounds the wait");
}

fn released(guard: &mut StreamGuard, now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    guard.release(now, &mut |json| {
        let value: Value = serde_json::from_slice(&json).unwrap();
        out.push(
            value["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    });
    out
}

// Time is passed in, so these need no clock.
#[test]
fn chunks_wait_for_the_window_or_the_hold_time() {
    let mut g = guard("\"custom-template\"", "hello");
    let start = Instant::now();
    g.push(chunk("one "), start).unwrap();
    g.push(chunk("two "), start).unwrap();
    assert!(
        released(&mut g, start).is_empty(),
        "8 bytes < 16-byte window"
    );
    g.push(chunk("three four "), start).unwrap();
    // 15 bytes after the end of "one ": not yet.
    assert!(released(&mut g, start).is_empty());
    g.push(chunk("five "), start).unwrap();
    // 20 bytes after "one ", 16 after "two ", 5 after "three four ".
    assert_eq!(released(&mut g, start), ["one ", "two "]);
    assert_eq!(g.next_release(), Some(start + Duration::from_millis(100)));
    let later = start + Duration::from_millis(100);
    assert_eq!(released(&mut g, later), ["three four ", "five "]);
    assert_eq!(g.next_release(), None);
}

#[test]
fn a_match_across_chunks_blocks_and_placeholders_are_restored() {
    let mut g = guard("\"custom-template\", \"pii\"", "write to jane.doe@acme.io");
    let now = Instant::now();
    g.push(chunk("sent to [EMAIL_1] about "), now).unwrap();
    let later = now + Duration::from_millis(100);
    assert_eq!(released(&mut g, later), ["sent to jane.doe@acme.io about "]);
    g.push(chunk("project "), now).unwrap();
    let error = g.push(chunk("bluebird"), now).unwrap_err();
    assert!(
        matches!(error, GatewayError::ContentPolicy { ref rule, .. } if rule == "custom.codenames")
    );
}

#[test]
fn a_redact_rule_rewrites_held_chunks() {
    let mut g = guard("\"pii\"", "hello");
    let now = Instant::now();
    for piece in ["mail jane.", "doe@acme.io", " now, then more text to fill"] {
        g.push(chunk(piece), now).unwrap();
    }
    let mut sent = released(&mut g, now).concat();
    g.flush(&mut |json| {
        let value: Value = serde_json::from_slice(&json).unwrap();
        sent.push_str(value["choices"][0]["delta"]["content"].as_str().unwrap());
    });
    assert_eq!(sent, "mail [EMAIL_1] now, then more text to fill");
}

#[test]
fn a_redaction_whose_start_was_sent_ends_the_stream() {
    let mut g = guard("\"pii\"", "hello");
    let start = Instant::now();
    g.push(chunk("mail jane."), start).unwrap();
    assert_eq!(
        released(&mut g, start + Duration::from_millis(100)),
        ["mail jane."]
    );
    let error = g
        .push(chunk("doe@acme.io"), start + Duration::from_millis(150))
        .unwrap_err();
    assert!(matches!(error, GatewayError::ContentPolicy { ref rule, .. } if rule == "pii.email"));
}
