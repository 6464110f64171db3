//! The Responses event stream of the gateway's own tool loop, sent as each
//! step happens: `mcp_list_tools` items (`response.mcp_list_tools.*`), each
//! `mcp_call` from the moment it goes to its server
//! (`response.mcp_call.in_progress`, its arguments, then `.completed` or
//! `.failed`), the model's text as its deltas arrive, approval requests and
//! the client's function calls, each item framed by
//! `response.output_item.added`/`.done` as OpenAI emits them; then
//! `response.completed`, `.incomplete` or `.failed` with the whole response.
//!
//! Events are held back until the loop commits (its first model call was
//! accepted): a request refused before that (a budget, a bad model) is an
//! HTTP error like any other, not a stream that fails.

use super::reply;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

/// `event: <type>\ndata: <json>\n\n`, as the other Responses events.
fn sse(data: &Value) -> Bytes {
    let name = data["type"].as_str().unwrap_or("message");
    crate::shapes::named_sse_event(name, data.to_string().as_bytes())
}

pub struct LoopEvents {
    sender: UnboundedSender<Bytes>,
    sequence: u64,
    /// Events made before the loop committed.
    held: Option<Vec<Bytes>>,
    /// The response as it started (`in_progress`, no output): what a
    /// failed stream's last event builds on.
    opening: Value,
    /// Items done so far, in output order.
    done: Vec<Value>,
}

impl LoopEvents {
    /// `opening` is the response as it starts (status `in_progress`).
    pub fn new(sender: UnboundedSender<Bytes>, mut opening: Value) -> Self {
        opening["output"] = json!([]);
        opening["usage"] = Value::Null;
        let mut events = Self {
            sender,
            sequence: 0,
            held: Some(Vec::new()),
            opening,
            done: Vec::new(),
        };
        let response = events.opening.clone();
        events.emit(json!({"type": "response.created", "response": response}));
        events.emit(json!({"type": "response.in_progress", "response": response}));
        events
    }

    fn emit(&mut self, mut event: Value) {
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let bytes = sse(&event);
        match &mut self.held {
            Some(held) => held.push(bytes),
            // A client that went away stops reading; the loop ends with its
            // request (the stream is dropped with it).
            None => {
                let _ = self.sender.send(bytes);
            }
        }
    }

    /// From now on events go out as they are made (those held go first).
    pub fn commit(&mut self) {
        for bytes in self.held.take().unwrap_or_default() {
            let _ = self.sender.send(bytes);
        }
    }

    /// Whether events have started to go out.
    pub fn committed(&self) -> bool {
        self.held.is_none()
    }

    fn added(&mut self, index: usize, item: &Value) {
        self.emit(
            json!({"type": "response.output_item.added", "output_index": index, "item": item}),
        );
    }

    fn item_done(&mut self, index: usize, item: &Value) {
        self.emit(
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        );
        self.done.push(item.clone());
    }

    /// An item made whole at once (a function call for the client, an
    /// approval request).
    pub fn item(&mut self, index: usize, item: &Value) {
        self.added(index, item);
        self.item_done(index, item);
    }

    /// A server's tools, listed.
    pub fn list_tools(&mut self, index: usize, item: &Value) {
        let id = &item["id"];
        let mut opening = item.clone();
        opening["tools"] = json!([]);
        self.added(index, &opening);
        self.emit(json!({"type": "response.mcp_list_tools.in_progress",
                         "item_id": id, "output_index": index}));
        self.emit(json!({"type": "response.mcp_list_tools.completed",
                         "item_id": id, "output_index": index}));
        self.item_done(index, item);
    }

    /// A tool call on its way to its server (`item` with status `in_progress`).
    pub fn call_started(&mut self, index: usize, item: &Value) {
        let id = &item["id"];
        self.added(index, item);
        self.emit(json!({"type": "response.mcp_call.in_progress",
                         "item_id": id, "output_index": index}));
        let arguments = &item["arguments"];
        self.emit(json!({"type": "response.mcp_call_arguments.delta",
                         "item_id": id, "output_index": index, "delta": arguments}));
        self.emit(json!({"type": "response.mcp_call_arguments.done",
                         "item_id": id, "output_index": index, "arguments": arguments}));
    }

    /// The call's end: `item` as it finished (`completed` or `failed`).
    pub fn call_ended(&mut self, index: usize, item: &Value) {
        let kind = if item["status"] == "completed" {
            "response.mcp_call.completed"
        } else {
            "response.mcp_call.failed"
        };
        self.emit(json!({"type": kind, "item_id": item["id"], "output_index": index}));
        self.item_done(index, item);
    }

    /// The first text of an assistant message `id` at `index`.
    pub fn text_started(&mut self, index: usize, id: &str) {
        let item = json!({"type": "message", "id": id, "status": "in_progress",
                          "role": "assistant", "content": []});
        self.added(index, &item);
        self.emit(json!({"type": "response.content_part.added", "item_id": id,
            "output_index": index, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []}}));
    }

    pub fn text_delta(&mut self, index: usize, id: &str, delta: &str) {
        self.emit(json!({"type": "response.output_text.delta", "item_id": id,
            "output_index": index, "content_index": 0, "delta": delta, "logprobs": []}));
    }

    /// The message's text is complete.
    pub fn text_done(&mut self, index: usize, id: &str, text: &str) {
        self.emit(json!({"type": "response.output_text.done", "item_id": id,
            "output_index": index, "content_index": 0, "text": text, "logprobs": []}));
        self.emit(json!({"type": "response.content_part.done", "item_id": id,
            "output_index": index, "content_index": 0,
            "part": {"type": "output_text", "text": text, "annotations": []}}));
        self.item_done(index, &reply::message_item(id, text));
    }

    /// The loop's whole response: its last event.
    pub fn finish(&mut self, response: &Value) {
        self.commit();
        let kind = match response["status"].as_str() {
            Some("failed") => "response.failed",
            Some("incomplete") => "response.incomplete",
            _ => "response.completed",
        };
        self.emit(json!({"type": kind, "response": response}));
    }

    /// The loop failed after it committed: what was done so far, as a
    /// failed response.
    pub fn fail(&mut self, code: &str, message: &str) {
        let mut response = self.opening.clone();
        response["status"] = json!("failed");
        response["output"] = Value::Array(self.done.clone());
        response["error"] = json!({"code": code, "message": message});
        self.finish(&response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `data:` of every event sent so far.
    fn sent(receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Bytes>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(bytes) = receiver.try_recv() {
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            let data = text
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap();
            out.push(serde_json::from_str(data).unwrap());
        }
        out
    }

    fn kinds(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn events_wait_for_the_commit_then_follow_each_step() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut events = LoopEvents::new(sender, json!({"id": "resp_1", "status": "in_progress"}));
        let listed = json!({"type": "mcp_list_tools", "id": "mcpl_1", "tools": [{"name": "t"}]});
        events.list_tools(0, &listed);
        assert!(sent(&mut receiver).is_empty(), "held until the commit");
        events.commit();
        let mut call = json!({"type": "mcp_call", "id": "mcp_1", "arguments": "{}",
                              "status": "in_progress", "output": null});
        events.call_started(1, &call);
        call["status"] = json!("failed");
        events.call_ended(1, &call);
        events.text_started(2, "msg_1");
        events.text_delta(2, "msg_1", "Hi");
        events.text_done(2, "msg_1", "Hi");
        events.fail("server_error", "the model's stream failed");
        let all = sent(&mut receiver);
        assert_eq!(
            kinds(&all),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.mcp_list_tools.in_progress",
                "response.mcp_list_tools.completed",
                "response.output_item.done",
                "response.output_item.added",
                "response.mcp_call.in_progress",
                "response.mcp_call_arguments.delta",
                "response.mcp_call_arguments.done",
                "response.mcp_call.failed",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.failed",
            ]
        );
        let numbers: Vec<u64> = all
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..all.len() as u64).collect::<Vec<_>>());
        // The list is added empty and done whole.
        assert_eq!(all[2]["item"]["tools"], json!([]));
        assert_eq!(all[5]["item"]["tools"][0]["name"], "t");
        // A failure keeps the items done so far.
        let failed = &all.last().unwrap()["response"];
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"]["code"], "server_error");
        let items: Vec<&str> = failed["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(items, ["mcp_list_tools", "mcp_call", "message"]);
    }
}
