//! The request pipeline: the ordered stages every model request passes.
//! Each endpoint is one function that calls the stages in order; the order is
//! the contract, and each call site says why it stands where it does.

pub mod chat;
pub mod context;
pub mod dispatch;
pub mod embeddings;
pub mod finish;
mod kept_responses;
pub mod messages;
pub mod native_relay;
mod native_responses;
pub mod relay;
pub mod responses;
pub mod sampling;
mod stages;
pub mod tool_loop;

pub use context::{Endpoint, RequestCx};
