//! The chat loop streamed (`stream: true`): the model calls' text goes out
//! as chat chunks while the model writes it, the client's own function
//! calls as `tool_calls` deltas, and a last chunk with no choices carries
//! `tool_loop` (the calls the gateway ran, what the loop used) and, when
//! asked for, `usage`; then `[DONE]`. A loop that fails after its first
//! chunk ends with an error event in OpenAI's shape instead.

use super::for_chat::{failure, report};
use super::limits::Asked;
use super::servers::Server;
use super::steps::Steps;
use super::{Loop, Run, drive};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::pipeline::context::RequestCx;
use crate::shapes::{DONE_EVENT, sse_event};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

pub(super) struct ChatSteps {
    sender: UnboundedSender<Bytes>,
    /// Chunks made before the loop committed.
    held: Option<Vec<Bytes>>,
    id: String,
    created: u64,
    model: String,
    /// The client's function calls sent so far: the next one's index.
    client_calls: usize,
}

impl ChatSteps {
    fn new(sender: UnboundedSender<Bytes>, model: String) -> Self {
        let mut steps = Self {
            sender,
            held: Some(Vec::new()),
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: crate::shapes::unix_seconds(),
            model,
            client_calls: 0,
        };
        steps.delta(json!({"role": "assistant", "content": ""}), Value::Null);
        steps
    }

    fn send(&mut self, bytes: Bytes) {
        match &mut self.held {
            Some(held) => held.push(bytes),
            // A client that went away stops reading; the loop ends with
            // its request (the body is dropped with it).
            None => {
                let _ = self.sender.send(bytes);
            }
        }
    }

    fn chunk(&mut self, choices: Value, extra: Option<(&str, Value)>) {
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk",
                               "created": self.created, "model": self.model,
                               "choices": choices});
        if let Some((name, value)) = extra {
            chunk[name] = value;
        }
        self.send(sse_event(chunk.to_string().as_bytes()));
    }

    fn delta(&mut self, delta: Value, finish: Value) {
        self.chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        );
    }

    fn committed(&self) -> bool {
        self.held.is_none()
    }

    /// The loop's end: its last chunks, or its failure as an error event.
    fn finish(&mut self, mut run: Run, include_usage: bool) {
        self.commit();
        let report = report(&mut run);
        if let Some((code, message)) = run.failure.take() {
            let (_, body) = failure(&code, &message, report);
            self.send(sse_event(body.to_string().as_bytes()));
            return;
        }
        let finish = if self.client_calls > 0 {
            "tool_calls".to_owned()
        } else {
            run.finish.unwrap_or_else(|| "stop".to_owned())
        };
        self.delta(json!({}), json!(finish));
        let usage = if include_usage {
            run.usage
        } else {
            Value::Null
        };
        let mut last = json!({"id": self.id, "object": "chat.completion.chunk",
                              "created": self.created, "model": self.model,
                              "choices": [], "usage": usage});
        last["tool_loop"] = report;
        self.send(sse_event(last.to_string().as_bytes()));
        self.send(Bytes::from_static(DONE_EVENT));
    }

    /// The loop failed after its first chunk: an error event ends the
    /// stream.
    fn fail(&mut self, error: &GatewayError) {
        self.commit();
        self.send(crate::pipeline::relay::error_event(error));
    }
}

impl Steps for ChatSteps {
    fn commit(&mut self) {
        for bytes in self.held.take().unwrap_or_default() {
            let _ = self.sender.send(bytes);
        }
    }
    // The gateway's own tool calls are told once, in the last chunk.
    fn list_tools(&mut self, _index: usize, _item: &Value) {}
    fn call_started(&mut self, _index: usize, _item: &Value) {}
    fn call_ended(&mut self, _index: usize, _item: &Value) {}
    fn item(&mut self, _index: usize, item: &Value) {
        // Only the client's function calls are the client's to run.
        if item["type"] != "function_call" {
            return;
        }
        let call = json!({"index": self.client_calls, "id": item["call_id"], "type": "function",
                          "function": {"name": item["name"], "arguments": item["arguments"]}});
        self.client_calls += 1;
        self.delta(json!({"tool_calls": [call]}), Value::Null);
    }
    fn text_started(&mut self, _index: usize, _id: &str) {}
    fn text_delta(&mut self, _index: usize, _id: &str, delta: &str) {
        self.delta(json!({"content": delta}), Value::Null);
    }
    fn text_done(&mut self, _index: usize, _id: &str, _text: &str) {}
}

/// The loop as a chat stream; a refusal before its first model call was
/// accepted is the HTTP error it would be without `stream`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, each argument named there"
)]
pub(super) async fn respond(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    caller: &Caller,
    servers: Vec<Server>,
    mut chat: Value,
    asked: Asked,
    include_usage: bool,
) -> Result<Response, GatewayError> {
    let (gateway, cx, headers, caller) =
        (gateway.clone(), cx.take(), headers.clone(), caller.clone());
    let model = chat["model"].as_str().unwrap_or_default().to_owned();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let drive = async move {
        let mut steps = ChatSteps::new(sender, model);
        let state = Loop::start(
            &gateway,
            &cx,
            &headers,
            &caller,
            servers,
            &mut chat,
            asked,
            Some(&mut steps),
        );
        match state.iterate(chat, Vec::new()).await {
            Ok(run) => {
                steps.finish(run, include_usage);
                None
            }
            Err(error) if !steps.committed() => Some(error),
            Err(error) => {
                tracing::warn!(error = %error, "the streamed chat tool loop failed");
                steps.fail(&error);
                None
            }
        }
    };
    drive::respond(drive, receiver).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `data:` of every chunk sent so far.
    fn sent(receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Bytes>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(bytes) = receiver.try_recv() {
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            out.push(text.trim().trim_start_matches("data: ").to_owned());
        }
        out
    }

    #[test]
    fn nothing_goes_out_before_the_commit_and_the_clients_calls_are_numbered() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut steps = ChatSteps::new(sender, "m".into());
        steps.text_delta(0, "msg", "Hel");
        assert!(
            sent(&mut receiver).is_empty(),
            "held until the model took the call"
        );
        steps.commit();
        steps.text_delta(0, "msg", "lo");
        for (call_id, name) in [("c1", "a"), ("c2", "b")] {
            let item = json!({"type": "function_call", "call_id": call_id, "name": name,
                              "arguments": "{}"});
            steps.item(1, &item);
        }
        // An approval request has no chat shape: nothing is sent for it.
        steps.item(3, &json!({"type": "mcp_approval_request"}));
        let chunks: Vec<Value> = sent(&mut receiver)
            .iter()
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[1]["content"], "Hel");
        assert_eq!(deltas[2]["content"], "lo");
        assert_eq!(deltas[3]["tool_calls"][0]["index"], 0);
        assert_eq!(deltas[4]["tool_calls"][0]["index"], 1);
        assert_eq!(deltas[4]["tool_calls"][0]["function"]["name"], "b");
        assert_eq!(chunks.len(), 5);
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
        );
    }

    #[test]
    fn a_failure_after_the_commit_is_an_error_event_without_done() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut steps = ChatSteps::new(sender, "m".into());
        steps.fail(&GatewayError::UpstreamFailed {
            message: "gone".into(),
        });
        let sent = sent(&mut receiver);
        let last: Value = serde_json::from_str(sent.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], "bad_gateway", "{last}");
        assert!(!sent.iter().any(|data| data == "[DONE]"));
    }
}
