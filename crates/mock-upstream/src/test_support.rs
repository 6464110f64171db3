//! Helpers shared by the mock upstream's tests: a router with a short
//! `fault-slow` delay, one-shot requests, and OpenAI body accessors.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{MockOptions, MockState, router};

pub(super) const KEY: &str = "Bearer sk-upstream-test";

pub(super) fn app() -> (Arc<MockState>, Router) {
    let state = MockState::new(MockOptions {
        slow_first_byte: Duration::from_millis(50),
        ..MockOptions::default()
    });
    (state.clone(), router(state))
}

pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// `(message, type, param, code)` of an OpenAI error body.
    pub fn error(&self) -> (String, String, Value, Value) {
        let v = self.json();
        let e = &v["error"];
        let keys: Vec<_> = e
            .as_object()
            .expect("error object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys.len(),
            4,
            "error has exactly message/type/param/code: {v}"
        );
        (
            e["message"].as_str().expect("message").to_owned(),
            e["type"].as_str().expect("type").to_owned(),
            e["param"].clone(),
            e["code"].clone(),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(super) async fn send(
    app: &Router,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: impl Into<Body>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let req = req.body(body.into()).expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub(super) async fn chat(app: &Router, body: Value) -> Reply {
    send(
        app,
        "POST",
        "/v1/chat/completions",
        Some(KEY),
        body.to_string(),
    )
    .await
}

/// The `data:` payloads of an SSE body, checking the framing on the way.
pub(super) fn events(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).expect("utf-8");
    assert!(text.ends_with("\n\n"), "every event ends with a blank line");
    text.split_terminator("\n\n")
        .map(|e| e.strip_prefix("data: ").expect("data: prefix").to_owned())
        .collect()
}
