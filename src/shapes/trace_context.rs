//! The W3C `traceparent` of the upstream attempt in progress, set by the
//! attempt loop around the provider call (a task-local, so no adapter
//! signature carries it) and read by the one place that sends requests to
//! providers.

use http::{HeaderName, HeaderValue};

/// `traceparent` as it goes on the wire: 55 ASCII bytes, kept in place so
/// that setting and reading it allocate nothing.
pub type Traceparent = [u8; 55];

pub const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static("traceparent");

tokio::task_local! {
    pub static TRACEPARENT: Traceparent;
}

/// The attempt's `traceparent` header, when the request is traced.
pub fn current_traceparent() -> Option<HeaderValue> {
    TRACEPARENT
        .try_with(|text| HeaderValue::from_bytes(text))
        .ok()?
        .ok()
}
