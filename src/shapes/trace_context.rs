//! The W3C `traceparent` of the upstream attempt in progress, set by the
//! attempt loop around the provider call (a task-local, so no adapter
//! signature carries it) and read by the one place that sends requests to
//! providers.

tokio::task_local! {
    pub static TRACEPARENT: String;
}

/// The attempt's `traceparent`, when the request is traced.
pub fn current_traceparent() -> Option<String> {
    TRACEPARENT.try_with(Clone::clone).ok()
}
