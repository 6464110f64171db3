//! Where a streamed loop tells each step as it happens: the Responses
//! events (`api/responses/loop_events.rs`) or chat chunks
//! (`chat_stream.rs`). Output indexes are the Responses output's; a door
//! that has no items ignores what it cannot show.

use crate::api::responses::loop_events::LoopEvents;
use serde_json::Value;

pub(super) trait Steps: Send {
    /// The model took the loop's first call: from now on steps go out as
    /// they happen (those made before go first).
    fn commit(&mut self);
    /// A server's tools listed.
    fn list_tools(&mut self, index: usize, item: &Value);
    /// An item made whole at once: the client's function call, an approval
    /// request.
    fn item(&mut self, index: usize, item: &Value);
    /// A tool call sent to its server.
    fn call_started(&mut self, index: usize, item: &Value);
    /// A tool call ended (its item's `status` says how).
    fn call_ended(&mut self, index: usize, item: &Value);
    /// A model call's text: its start, each piece as it arrives, its end.
    fn text_started(&mut self, index: usize, id: &str);
    fn text_delta(&mut self, index: usize, id: &str, delta: &str);
    fn text_done(&mut self, index: usize, id: &str, text: &str);
}

impl Steps for LoopEvents {
    fn commit(&mut self) {
        LoopEvents::commit(self);
    }
    fn list_tools(&mut self, index: usize, item: &Value) {
        LoopEvents::list_tools(self, index, item);
    }
    fn item(&mut self, index: usize, item: &Value) {
        LoopEvents::item(self, index, item);
    }
    fn call_started(&mut self, index: usize, item: &Value) {
        LoopEvents::call_started(self, index, item);
    }
    fn call_ended(&mut self, index: usize, item: &Value) {
        LoopEvents::call_ended(self, index, item);
    }
    fn text_started(&mut self, index: usize, id: &str) {
        LoopEvents::text_started(self, index, id);
    }
    fn text_delta(&mut self, index: usize, id: &str, delta: &str) {
        LoopEvents::text_delta(self, index, id, delta);
    }
    fn text_done(&mut self, index: usize, id: &str, text: &str) {
        LoopEvents::text_done(self, index, id, text);
    }
}
