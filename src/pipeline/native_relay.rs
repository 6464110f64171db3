//! Relaying a provider's own Responses event stream to the client, event by
//! event as it arrives. Each event keeps its type and gets its
//! `sequence_number` in the order it goes out (the upstream's, unless the
//! output guardrails dropped some); a `response` object inside it is the
//! gateway's (its id, the client's settings). Under output guardrails the
//! events pass the stream window (`guardrails::window`) as chat chunks do,
//! and the events that repeat a whole text say what was sent
//! (`api::responses::native_stream`). Usage is read from the terminal event; the response is kept
//! before that event leaves; a stream that breaks, stops before its
//! terminal event or runs past the deadline ends with `response.failed`,
//! as the translated stream does; a client that goes away is still charged
//! for what was produced (the settlement runs when the stream is dropped).

use super::finish::Outcome;
use super::kept_responses::Keep;
use super::relay::Settlement;
use crate::api::responses::ResponsesRequest;
use crate::api::responses::native::adopt_event;
use crate::api::responses::native_stream::Released;
use crate::cost::Usage;
use crate::error::GatewayError;
use crate::guardrails::window::StreamGuard;
use crate::provider::{ChunkStream, StreamItem};
use crate::quota::meter::StreamMeter;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use tokio::time::Instant;

/// The events that end a Responses stream.
const TERMINAL: &[&str] = &[
    "response.completed",
    "response.incomplete",
    "response.failed",
];

pub struct NativeStream {
    upstream: ChunkStream,
    request: ResponsesRequest,
    id: String,
    created_at: u64,
    deadline: Instant,
    settlement: Option<Settlement>,
    keep: Option<Keep>,
    usage: Option<Usage>,
    /// Output text so far (as released to the client), counted only if no
    /// usage arrives, and kept for the request log when `capture` is on.
    text: String,
    capture: bool,
    meter: Option<StreamMeter>,
    /// Output guardrails, and the texts they let through.
    guard: Option<StreamGuard>,
    released: Released,
    /// Events ready to go out.
    out: VecDeque<Bytes>,
    /// The latest `response` an event carried, for a `response.failed`.
    snapshot: Value,
    /// The next `sequence_number`.
    sequence: u64,
    finished: bool,
}

impl NativeStream {
    pub fn new(
        upstream: ChunkStream,
        request: ResponsesRequest,
        (id, created_at): (String, u64),
        deadline: Instant,
        settlement: Settlement,
        guard: Option<StreamGuard>,
    ) -> Self {
        let meter = settlement.meter();
        Self {
            upstream,
            request,
            id,
            created_at,
            deadline,
            settlement: Some(settlement),
            keep: None,
            usage: None,
            text: String::new(),
            capture: false,
            meter,
            guard,
            released: Released::default(),
            out: VecDeque::new(),
            snapshot: Value::Null,
            sequence: 0,
            finished: false,
        }
    }

    /// Keeps the finished response (unless the stream fails).
    pub(super) fn keeping(mut self, keep: Option<Keep>) -> Self {
        self.keep = keep;
        self
    }

    /// Keeps the answer for the request log once the stream completes.
    pub(super) fn capturing(mut self, capture: bool) -> Self {
        self.capture = capture;
        self
    }

    /// The SSE body: one frame per event.
    pub fn into_body(self) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
        futures::stream::unfold(self, |mut stream| async move {
            let frame = stream.next_frame().await?;
            Some((Ok(frame), stream))
        })
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.out.pop_front() {
                return Some(frame);
            }
            if self.finished {
                return None;
            }
            // Held events go out when their hold time is up, whether or
            // not the upstream sends more.
            let hold = self.guard.as_ref().and_then(StreamGuard::next_release);
            let next = tokio::select! {
                next = tokio::time::timeout_at(self.deadline, self.upstream.next()) => next,
                () = until(hold) => {
                    self.release(false).await;
                    continue;
                }
            };
            let data = match next {
                Err(_) => {
                    let error = GatewayError::UpstreamTimeout {
                        message: "the stream did not finish within the upstream time limit".into(),
                    };
                    self.fail(&error, 504).await;
                    continue;
                }
                Ok(Some(Ok(StreamItem::Chunk(data)))) => data,
                // Responses streams end with their terminal event, not `[DONE]`.
                Ok(Some(Ok(StreamItem::Done)) | None) => {
                    let error = GatewayError::UpstreamFailed {
                        message: "the provider ended the stream before it was complete".into(),
                    };
                    self.fail(&error, 502).await;
                    continue;
                }
                Ok(Some(Err(error))) => {
                    tracing::warn!(error = %error, "upstream Responses stream failed");
                    self.fail(&error, 502).await;
                    continue;
                }
            };
            let Ok(event) = serde_json::from_slice::<Value>(&data) else {
                let error = GatewayError::UpstreamFailed {
                    message: "the provider's stream could not be read".into(),
                };
                self.fail(&error, 502).await;
                continue;
            };
            self.event(event).await;
        }
    }

    /// One upstream event: metered, then through the guard (if any) on its
    /// way out.
    async fn event(&mut self, mut event: Value) {
        adopt_event(&mut event, &self.request, &self.id, self.created_at);
        let kind = event["type"].as_str().unwrap_or_default();
        if kind == "response.output_text.delta"
            && let (Some(delta), Some(meter)) = (event["delta"].as_str(), &mut self.meter)
            && !meter.add(delta)
        {
            return self.cut_off();
        }
        let terminal = TERMINAL.contains(&kind) || kind == "error";
        let Some(guard) = &mut self.guard else {
            return self.emit(event).await;
        };
        let pushed = guard.push(Bytes::from(event.to_string()), Instant::now());
        if let Err(error) = pushed {
            // Held events are dropped: they are what the rule matched.
            let (status, label) = (error.status().as_u16(), error.label());
            return self.failed(&error, status, Outcome::Error(label));
        }
        self.release(terminal).await;
    }

    /// What the guard lets go now (all of it, at the end of the stream).
    async fn release(&mut self, flush: bool) {
        let Some(guard) = &mut self.guard else {
            return;
        };
        let mut released = Vec::new();
        if flush {
            guard.flush(&mut |json| released.push(json));
        } else {
            guard.release(Instant::now(), &mut |json| released.push(json));
        }
        for json in released {
            if let Ok(mut event) = serde_json::from_slice::<Value>(&json) {
                self.released.pass(&mut event);
                self.emit(event).await;
            }
        }
    }

    /// An event as it goes to the client: numbered, noted, and at the end
    /// the response kept and the request settled.
    async fn emit(&mut self, mut event: Value) {
        if self.finished {
            return;
        }
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        if let Some(response) = event.get("response") {
            self.snapshot = response.clone();
        }
        // Items done so far stay in the snapshot, for a failure after them.
        if kind == "response.output_item.done"
            && let (Some(output), Some(item)) = (
                self.snapshot
                    .get_mut("output")
                    .and_then(Value::as_array_mut),
                event.get("item"),
            )
        {
            output.push(item.clone());
        }
        if kind == "response.output_text.delta"
            && let Some(delta) = event["delta"].as_str()
        {
            self.text.push_str(delta);
        }
        if TERMINAL.contains(&kind.as_str()) {
            self.usage = crate::provider::responses_usage(event["response"].to_string().as_bytes())
                .ok()
                .flatten();
            if kind != "response.failed"
                && let Some(keep) = self.keep.take()
            {
                // Kept before its last event leaves, so a client that reads
                // it back right after the stream finds it.
                keep.put(&self.id, &event["response"]).await;
            }
            let outcome = if kind == "response.failed" {
                Outcome::UpstreamBroke
            } else {
                Outcome::Ok
            };
            self.out.push_back(frame(&kind, &event));
            return self.finish(200, outcome);
        }
        self.out.push_back(frame(&kind, &event));
        if kind == "error" {
            self.finish(502, Outcome::UpstreamBroke);
        }
    }

    /// Ends the stream with `response.failed`, the items done so far in
    /// its output; what the guard still holds goes out first.
    async fn fail(&mut self, error: &GatewayError, status: u16) {
        self.release(true).await;
        self.failed(error, status, Outcome::UpstreamBroke);
    }

    /// The team's hard cut-off: the stream spent its reservation.
    fn cut_off(&mut self) {
        let error = super::relay::cut_off_error(self.meter.as_ref(), self.settlement.as_ref());
        self.failed(&error, 429, Outcome::Error("quota_exceeded"));
    }

    fn failed(&mut self, error: &GatewayError, status: u16, outcome: Outcome) {
        if self.finished {
            return;
        }
        let mut response = std::mem::take(&mut self.snapshot);
        if !response.is_object() {
            response = json!({"id": self.id, "object": "response", "output": []});
        }
        response["status"] = json!("failed");
        // The error's own code (`content_policy_violation`, ...), as the
        // translated stream's error event carries it.
        let body = serde_json::from_slice::<Value>(&error.body()).unwrap_or_default();
        let code = match &body["error"]["code"] {
            Value::Null => json!("server_error"),
            code => code.clone(),
        };
        response["error"] = json!({"code": code, "message": error.to_string()});
        let event = json!({
            "type": "response.failed",
            "response": response,
            "sequence_number": self.sequence,
        });
        self.out.push_back(frame("response.failed", &event));
        self.finish(status, outcome);
    }

    fn finish(&mut self, status: u16, outcome: Outcome) {
        self.finished = true;
        if let Some(mut settlement) = self.settlement.take() {
            if self.capture {
                settlement.keep_answer(&self.text, outcome);
            }
            let usage = settlement.usage(self.usage, &self.text);
            settlement.close(usage, status, outcome);
        }
    }
}

/// Resolves at `at`, or never.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `event: <type>\ndata: <json>\n\n`.
fn frame(kind: &str, event: &Value) -> Bytes {
    crate::shapes::named_sse_event(kind, event.to_string().as_bytes())
}

impl Drop for NativeStream {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(499, Outcome::ClientDisconnected);
        }
    }
}
