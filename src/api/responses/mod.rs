//! OpenAI's Responses API (`POST /v1/responses`) in terms of chat
//! completions: a request becomes a chat request (`request.rs`), a chat
//! completion becomes a response object (`reply.rs`), a chat chunk stream
//! becomes the Responses event stream (`events.rs`), and the gateway's own
//! tool loop streams its steps as they happen (`loop_events.rs`).

pub mod events;
pub mod loop_events;
pub mod reply;
pub mod request;

pub use request::{ResponsesRequest, Translated};

/// A fresh id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests;
