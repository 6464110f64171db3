//! OpenAI's Responses API (`POST /v1/responses`) in terms of chat
//! completions: a request becomes a chat request (`request.rs`), a chat
//! completion becomes a response object (`reply.rs`), a chat chunk stream
//! becomes the Responses event stream (`events.rs`), the gateway's own
//! tool loop streams its steps as they happen (`loop_events.rs`), and a
//! request for a provider that serves the Responses API goes to it as one
//! (`native.rs`).

pub mod events;
pub mod loop_events;
pub mod native;
pub mod native_stream;
pub mod reply;
pub mod request;

pub use request::{ResponsesRequest, Translated};

/// A fresh id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests;
