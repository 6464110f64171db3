//! OpenTelemetry traces, sent over OTLP (HTTP/protobuf or gRPC) when
//! `[otel] enabled = true`. A request's spans are gathered as it runs (only
//! ids and timestamps on the request path) and exported when it ends: the
//! request's own span (SERVER) with the GenAI semantic conventions'
//! attributes, a span per pipeline stage, and a CLIENT span per upstream
//! attempt, whose id goes to the provider in a W3C `traceparent` header.
//! MCP tool calls have a span of their own. A client's `traceparent` makes
//! the request's span its child, and its sampled flag is obeyed; without
//! one, `sample_ratio` decides by trace id.

mod export;
#[cfg(test)]
mod otlp;
mod otlp_wire;

pub use export::Exporter;

use serde::Deserialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `[otel]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOtel {
    /// Send traces (default false).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The collector: for `http`, the traces URL (default
    /// `http://127.0.0.1:4318/v1/traces`); for `grpc`, its address (default
    /// `http://127.0.0.1:4317`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `"http"` (OTLP/HTTP with protobuf, the default) or `"grpc"`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The share of traces kept when the client sent no sampling decision,
    /// from 0 to 1 (default 1).
    #[serde(default)]
    pub sample_ratio: Option<f64>,
    /// `service.name` on every span (default `switchboard`).
    #[serde(default)]
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Grpc,
}

/// `[otel]`, checked.
#[derive(Debug, Clone)]
pub struct OtelSettings {
    pub enabled: bool,
    pub endpoint: String,
    pub protocol: Protocol,
    pub sample_ratio: f64,
    pub service_name: String,
}

pub fn validate(raw: &RawOtel, problem: &mut dyn FnMut(String, String)) -> OtelSettings {
    let protocol = match raw.protocol.as_deref() {
        None | Some("http") | Some("http/protobuf") => Protocol::Http,
        Some("grpc") => Protocol::Grpc,
        Some(other) => {
            problem(
                "otel.protocol".into(),
                format!("`{other}`: use \"http\" or \"grpc\""),
            );
            Protocol::Http
        }
    };
    let endpoint = raw.endpoint.clone().unwrap_or_else(|| {
        match protocol {
            Protocol::Http => "http://127.0.0.1:4318/v1/traces",
            Protocol::Grpc => "http://127.0.0.1:4317",
        }
        .to_owned()
    });
    if reqwest::Url::parse(&endpoint).is_err() {
        problem("otel.endpoint".into(), format!("`{endpoint}` is not a URL"));
    }
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        problem("otel.sample_ratio".into(), "must be between 0 and 1".into());
    }
    OtelSettings {
        enabled: raw.enabled.unwrap_or(false),
        endpoint,
        protocol,
        sample_ratio: sample_ratio.clamp(0.0, 1.0),
        service_name: raw
            .service_name
            .clone()
            .unwrap_or_else(|| "switchboard".to_owned()),
    }
}

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// A client's W3C trace context (`traceparent`), if well formed.
pub fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let mut parts = value.trim().split('-');
    let (Some(version), Some(trace), Some(span), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let trace: TraceId = hex::decode(trace).ok()?.try_into().ok()?;
    let span: SpanId = hex::decode(span).ok()?.try_into().ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (trace != [0; 16] && span != [0; 8]).then_some((trace, span, flags & 1 == 1))
}

pub fn traceparent(trace: &TraceId, span: &SpanId) -> String {
    String::from_utf8_lossy(&traceparent_bytes(trace, span)).into_owned()
}

/// `traceparent` written in place, without an allocation (ASCII only).
pub fn traceparent_bytes(
    trace: &TraceId,
    span: &SpanId,
) -> crate::shapes::trace_context::Traceparent {
    let mut text = [0u8; 55];
    text[..3].copy_from_slice(b"00-");
    let _ = hex::encode_to_slice(trace, &mut text[3..35]);
    text[35] = b'-';
    let _ = hex::encode_to_slice(span, &mut text[36..52]);
    text[52..].copy_from_slice(b"-01");
    text
}

fn random_trace_id() -> TraceId {
    let mut id = *uuid::Uuid::new_v4().as_bytes();
    // Not all zero, as the spec requires (a v4 UUID never is).
    id[15] |= 1;
    id
}

pub fn random_span_id() -> SpanId {
    let id = fastrand::u64(1..);
    id.to_be_bytes()
}

/// A span value: what OTLP attributes carry here.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Borrowed when the text is the gateway's own (an operation, an
    /// endpoint, an outcome): most of a request's attributes cost no copy.
    Text(std::borrow::Cow<'static, str>),
    /// A text the gateway already holds shared (a team, a key, a model):
    /// a reference, not a copy.
    Shared(std::sync::Arc<str>),
    Int(i64),
    Bool(bool),
}

impl From<std::sync::Arc<str>> for Value {
    fn from(value: std::sync::Arc<str>) -> Self {
        Self::Shared(value)
    }
}

/// A span's name.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanName {
    /// A name of the gateway's own (a stage's) or one made for the span.
    Fixed(std::borrow::Cow<'static, str>),
    /// `"{operation} {model}"`, as the GenAI conventions name a model call,
    /// kept in its two parts so that naming the span copies no text.
    Call(&'static str, std::sync::Arc<str>),
}

impl SpanName {
    pub fn len(&self) -> usize {
        match self {
            Self::Fixed(name) => name.len(),
            Self::Call(operation, model) => operation.len() + 1 + model.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the name's UTF-8 bytes.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Fixed(name) => out.extend_from_slice(name.as_bytes()),
            Self::Call(operation, model) => {
                out.extend_from_slice(operation.as_bytes());
                out.push(b' ');
                out.extend_from_slice(model.as_bytes());
            }
        }
    }
}

impl std::fmt::Display for SpanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(name) => f.write_str(name),
            Self::Call(operation, model) => write!(f, "{operation} {model}"),
        }
    }
}

impl From<&'static str> for SpanName {
    fn from(name: &'static str) -> Self {
        Self::Fixed(name.into())
    }
}

impl From<String> for SpanName {
    fn from(name: String) -> Self {
        Self::Fixed(name.into())
    }
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Self {
        Self::Text(value.into())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value.into())
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Self::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal,
    Server,
    Client,
}

/// One finished span.
#[derive(Debug, Clone)]
pub struct SpanData {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub name: SpanName,
    pub kind: Kind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// Set when the span's operation failed.
    pub error: Option<String>,
}

/// A sampled request's trace while it runs: its ids, its clock, and the
/// child spans finished so far.
#[derive(Debug)]
pub struct Trace {
    pub trace_id: TraceId,
    /// The request's own span.
    pub span_id: SpanId,
    /// The client's span, when it sent a `traceparent`.
    pub parent: Option<SpanId>,
    started: Instant,
    started_unix_nanos: u64,
    pub children: Vec<SpanData>,
}

impl Trace {
    /// Starts a trace for a request that carries `traceparent` (or none),
    /// if it is sampled.
    pub fn start(incoming: Option<&str>, sample_ratio: f64) -> Option<Self> {
        let (trace_id, parent, sampled) = match incoming.and_then(parse_traceparent) {
            Some((trace, span, sampled)) => (trace, Some(span), sampled),
            None => {
                let trace = random_trace_id();
                let sampled = keeps(&trace, sample_ratio);
                (trace, None, sampled)
            }
        };
        sampled.then(|| Self {
            trace_id,
            span_id: random_span_id(),
            parent,
            started: Instant::now(),
            started_unix_nanos: unix_nanos(SystemTime::now()),
            // A request's stages and an attempt or two.
            children: Vec::with_capacity(8),
        })
    }

    /// Unix nanoseconds of an instant of this request.
    pub fn at(&self, instant: Instant) -> u64 {
        let offset = instant
            .checked_duration_since(self.started)
            .unwrap_or(Duration::ZERO);
        self.started_unix_nanos + offset.as_nanos() as u64
    }

    /// Records a finished child of the request's span.
    pub fn child(
        &mut self,
        name: impl Into<SpanName>,
        kind: Kind,
        span_id: SpanId,
        (start, end): (Instant, Instant),
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) {
        let span = SpanData {
            trace_id: self.trace_id,
            span_id,
            parent: Some(self.span_id),
            name: name.into(),
            kind,
            start_unix_nanos: self.at(start),
            end_unix_nanos: self.at(end),
            attributes,
            error,
        };
        // A loop of retries cannot grow a trace without bound.
        if self.children.len() < 256 {
            self.children.push(span);
        }
    }

    /// The request's own span, ending now.
    pub fn root(
        &self,
        name: SpanName,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) -> SpanData {
        SpanData {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent: self.parent,
            name,
            kind: Kind::Server,
            start_unix_nanos: self.started_unix_nanos,
            end_unix_nanos: self.at(Instant::now()),
            attributes,
            error,
        }
    }
}

/// Whether a trace is kept at `ratio`: by the rightmost 7 bytes of its id
/// (random in W3C trace ids), so every service that samples by ratio keeps
/// the same traces.
fn keeps(trace: &TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let mut low = [0u8; 8];
    low[1..].copy_from_slice(&trace[9..]);
    let value = u64::from_be_bytes(low);
    (value as f64) < ratio * (1u64 << 56) as f64
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The GenAI conventions' name of a provider (`gen_ai.provider.name`):
/// the conventions' own where it differs from the provider's id, otherwise
/// the id itself (shared, not copied).
pub fn provider_name(id: &std::sync::Arc<str>) -> Value {
    let known = match &**id {
        "gemini" => "gcp.gemini",
        "bedrock" => "aws.bedrock",
        "azure" => "azure.ai.openai",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        _ => return Value::Shared(id.clone()),
    };
    Value::from(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_as_w3c_writes_it() {
        let (trace, span, sampled) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex::encode(trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(span), "00f067aa0ba902b7");
        assert!(sampled);
        assert!(
            !parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .2
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        assert_eq!(
            traceparent(&trace, &span),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn sampling_follows_the_client_then_the_ratio() {
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(Trace::start(Some(unsampled), 1.0).is_none());
        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = Trace::start(Some(sampled), 0.0).unwrap();
        assert_eq!(
            hex::encode(trace.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            trace.parent.map(hex::encode).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert!(Trace::start(None, 0.0).is_none());
        assert!(Trace::start(None, 1.0).is_some());
        let kept = (0..2000)
            .filter(|_| Trace::start(None, 0.25).is_some())
            .count();
        assert!((350..650).contains(&kept), "{kept} of 2000 at 0.25");
    }
}
