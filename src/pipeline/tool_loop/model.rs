//! One model call of the loop: a chat request through every chat stage
//! under the loop's request id, streamed when the loop streams its events,
//! and its settled cost read back before the loop decides on its next call.

use super::Loop;
use super::steps::Steps;
use crate::api::responses::{new_id, reply};
use crate::error::GatewayError;
use crate::pipeline::chat;
use crate::pipeline::context::RequestCx;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

impl Loop<'_> {
    /// One model call through the chat stages.
    pub(super) async fn model(&mut self, chat: &Value) -> Result<Value, GatewayError> {
        let mut icx = RequestCx::new(self.endpoint, self.cx.request_id.clone(), self.cx.peer);
        icx.prompt.clone_from(&self.cx.prompt);
        icx.logged = self.cx.logged;
        // Each model call of the loop is a child of the request's span.
        if let Some(trace) = &self.cx.trace {
            let parent = crate::traces::traceparent(&trace.trace_id, &trace.span_id);
            icx.trace = crate::traces::Trace::start(Some(&parent), 1.0);
        }
        // The call's settlement says what it cost, wherever it happens (a
        // stream settles after its last event).
        let (settled, cost) = tokio::sync::oneshot::channel();
        icx.on_settled = Some(settled);
        let streamed = self.events.is_some();
        let mut chat = chat.clone();
        if streamed {
            chat["stream"] = json!(true);
            chat["stream_options"] = json!({"include_usage": true});
        }
        let body = serde_json::to_vec(&chat)
            .map_err(|error| GatewayError::Internal(format!("encode request: {error}")))?;
        // Refused before an answer: the stages released what they held, and
        // nothing was spent.
        let response =
            chat::handle(self.gateway, &mut icx, self.headers, Bytes::from(body)).await?;
        let completion = match self.events.as_deref_mut() {
            Some(events) => {
                // The model took the call: from here on the client hears
                // every step as it happens.
                events.commit();
                let index = self.output.len();
                streamed_completion(response.into_body(), events, index).await
            }
            None => chat::read_completion(response.into_body()).await,
        };
        // The answer is read (or its stream dropped): its settlement is
        // under way. A context left here holds no listener of its own.
        drop(icx);
        self.limits.model_settled(cost.await.ok().flatten());
        let completion = completion?;
        let number = |p: &str| completion.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        self.usage.0 += number("/usage/prompt_tokens");
        self.usage.1 += number("/usage/completion_tokens");
        if let Some(text) = completion
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
        {
            // Streamed, the message was sent as it came, under its own id.
            let id = completion["id"]
                .as_str()
                .filter(|_| streamed)
                .map_or_else(|| new_id("msg"), str::to_owned);
            self.output.push(reply::message_item(&id, text));
        }
        Ok(completion)
    }
}

/// A streamed model call read to its end: its text sent on to the client
/// as it arrives (an assistant message at output `index`), its tool calls
/// gathered, and the whole returned in a chat completion's shape (the
/// message's item id as `id`). An error event in the stream fails the call.
async fn streamed_completion(
    body: axum::body::Body,
    events: &mut (dyn Steps + 'static),
    index: usize,
) -> Result<Value, GatewayError> {
    let id = new_id("msg");
    let mut text = String::new();
    // Tool calls by their chat index: id, name, arguments.
    let mut calls: Vec<(u64, String, String, String)> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    let mut ended = false;
    let mut stream = body.into_data_stream().eventsource();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|error| GatewayError::UpstreamFailed {
            message: format!("the model's stream could not be read: {error}"),
        })?;
        if event.data.trim() == "[DONE]" {
            ended = true;
            break;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        if let Some(error) = chunk.get("error") {
            return Err(GatewayError::UpstreamFailed {
                message: error["message"]
                    .as_str()
                    .unwrap_or("the model's stream failed")
                    .to_owned(),
            });
        }
        if let Some(found) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = found.clone();
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            continue;
        };
        if let Some(delta) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !delta.is_empty()
        {
            if text.is_empty() {
                events.text_started(index, &id);
            }
            text.push_str(delta);
            events.text_delta(index, &id, delta);
        }
        for call in choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let at = call["index"].as_u64().unwrap_or(0);
            let part = |p: &str| call.pointer(p).and_then(Value::as_str).unwrap_or("");
            match calls.iter_mut().find(|c| c.0 == at) {
                Some(known) => known.3.push_str(part("/function/arguments")),
                None => calls.push((
                    at,
                    part("/id").to_owned(),
                    part("/function/name").to_owned(),
                    part("/function/arguments").to_owned(),
                )),
            }
        }
        if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
            finish = reason.clone();
        }
    }
    if !ended {
        return Err(GatewayError::UpstreamFailed {
            message: "the model's stream ended before it was complete".into(),
        });
    }
    if !text.is_empty() {
        events.text_done(index, &id, &text);
    }
    let tool_calls: Vec<Value> = calls
        .into_iter()
        .map(|(_, call_id, name, arguments)| {
            json!({"id": call_id, "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": (!text.is_empty()).then_some(text)});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    Ok(
        json!({"id": id, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
              "usage": usage}),
    )
}
