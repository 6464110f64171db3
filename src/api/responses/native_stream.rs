//! A native Responses stream under output guardrails: the guard rewrites
//! text deltas (redactions, placeholders of the prompt put back), and the
//! events that repeat a whole text (`response.output_text.done`,
//! `response.content_part.done`, `response.function_call_arguments.done`,
//! `response.output_item.done`, the terminal response) are rewritten to
//! what the client was sent, so no original reaches it through them.

use serde_json::Value;
use std::collections::BTreeMap;

/// The texts sent so far, per output item.
#[derive(Debug, Default)]
pub struct Released {
    /// Each `output_text` part: `(output_index, content_index)`.
    texts: BTreeMap<(u64, u64), String>,
    /// Each function call's arguments, by `output_index`.
    arguments: BTreeMap<u64, String>,
}

fn index(event: &Value, key: &str) -> u64 {
    event.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Released {
    /// An event on its way to the client (after the guard): a delta is
    /// noted, an event repeating a text gets the text as sent.
    pub fn pass(&mut self, event: &mut Value) {
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        let (item, part) = (index(event, "output_index"), index(event, "content_index"));
        let delta = event["delta"].as_str().unwrap_or_default();
        match kind.as_str() {
            "response.output_text.delta" => {
                self.texts.entry((item, part)).or_default().push_str(delta);
            }
            "response.function_call_arguments.delta" => {
                self.arguments.entry(item).or_default().push_str(delta);
            }
            "response.output_text.done" => self.text(event.get_mut("text"), item, part),
            "response.content_part.done" => self.text(event.pointer_mut("/part/text"), item, part),
            "response.function_call_arguments.done" => {
                self.call(event.get_mut("arguments"), item);
            }
            "response.output_item.done" => {
                if let Some(output_item) = event.get_mut("item") {
                    self.item(output_item, item);
                }
            }
            _ => {
                let output = event
                    .pointer_mut("/response/output")
                    .and_then(Value::as_array_mut);
                for (i, output_item) in output.into_iter().flatten().enumerate() {
                    self.item(output_item, i as u64);
                }
            }
        }
    }

    fn item(&self, item: &mut Value, index: u64) {
        if item["type"] == "function_call" {
            self.call(item.get_mut("arguments"), index);
        }
        let parts = item.get_mut("content").and_then(Value::as_array_mut);
        for (p, part) in parts.into_iter().flatten().enumerate() {
            if part["type"] == "output_text" {
                self.text(part.get_mut("text"), index, p as u64);
            }
        }
    }

    fn text(&self, slot: Option<&mut Value>, item: u64, part: u64) {
        if let (Some(slot), Some(sent)) = (slot, self.texts.get(&(item, part))) {
            *slot = Value::String(sent.clone());
        }
    }

    fn call(&self, slot: Option<&mut Value>, item: u64) {
        if let (Some(slot), Some(sent)) = (slot, self.arguments.get(&item)) {
            *slot = Value::String(sent.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_repeating_a_text_say_what_was_sent() {
        let mut released = Released::default();
        for delta in ["Echo: my card ", "[CARD_1]"] {
            let mut event = json!({"type": "response.output_text.delta", "output_index": 0,
                                   "content_index": 0, "delta": delta});
            released.pass(&mut event);
        }
        let mut args = json!({"type": "response.function_call_arguments.delta",
                              "output_index": 1, "delta": "{\"n\":\"[CARD_1]\"}"});
        released.pass(&mut args);
        let original = "Echo: my card 4111 1111 1111 1111";
        let mut done = json!({"type": "response.output_text.done", "output_index": 0,
                              "content_index": 0, "text": original});
        released.pass(&mut done);
        assert_eq!(done["text"], "Echo: my card [CARD_1]");
        let mut part = json!({"type": "response.content_part.done", "output_index": 0,
                              "content_index": 0, "part": {"type": "output_text", "text": original}});
        released.pass(&mut part);
        assert_eq!(part["part"]["text"], "Echo: my card [CARD_1]");
        let mut completed = json!({"type": "response.completed", "response": {"output": [
            {"type": "message", "content": [{"type": "output_text", "text": original}]},
            {"type": "function_call", "arguments": "{\"n\":\"4111\"}"},
        ]}});
        released.pass(&mut completed);
        assert_eq!(
            completed["response"]["output"][0]["content"][0]["text"],
            "Echo: my card [CARD_1]"
        );
        assert_eq!(
            completed["response"]["output"][1]["arguments"],
            "{\"n\":\"[CARD_1]\"}"
        );
    }
}
