//! Shapes every area shares, below all of them: configuration errors and
//! secrets, and the framing of answers. Nothing here imports an area.

mod config_error;
mod response;
mod secret;
pub mod trace_context;

pub use config_error::{ConfigError, decode_toml};
pub use response::{
    DONE_EVENT, json_response, named_sse_event, sse_event, unix_millis, unix_seconds,
};
pub use secret::Secret;
