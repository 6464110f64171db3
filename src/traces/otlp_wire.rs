//! An OTLP export request written straight from the gateway's spans into
//! protobuf bytes (sent as they are over HTTP, read back into the message
//! for gRPC, whose client takes the message). Building
//! `opentelemetry-proto`'s message tree first (as `otlp.rs` does, for the
//! tests) copies every id, name and attribute into owned strings and walks
//! the tree again for each nested length; at every request sampled, that
//! was most of what tracing cost the gateway. The bytes are the same
//! message: a test decodes them with the protocol's own definitions and
//! compares them with the tree.

use super::{Kind, SpanData, Value};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

/// Length of a length-delimited field whose content is `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_header(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// A bytes or string field; proto3 leaves an empty one out.
fn put_bytes(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    if !bytes.is_empty() {
        put_header(tag, bytes.len(), out);
        out.extend_from_slice(bytes);
    }
}

fn bytes_len(tag: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        field_len(tag, bytes.len())
    }
}

fn put_fixed64(tag: u32, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed64_len(tag: u32, value: u64) -> usize {
    if value == 0 { 0 } else { key_len(tag) + 8 }
}

fn put_varint(tag: u32, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value, out);
    }
}

fn varint_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(value)
    }
}

/// `AnyValue`'s content: a oneof, so written even when it is a default.
fn any_len(value: &Value) -> usize {
    match value {
        Value::Text(text) => field_len(1, text.len()),
        Value::Shared(text) => field_len(1, text.len()),
        Value::Bool(_) => key_len(2) + 1,
        Value::Int(n) => key_len(3) + encoded_len_varint(*n as u64),
    }
}

/// `AnyValue.string_value`, written even when empty (it is a oneof).
fn put_string_value(text: &str, out: &mut Vec<u8>) {
    put_header(1, text.len(), out);
    out.extend_from_slice(text.as_bytes());
}

fn put_any(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Text(text) => put_string_value(text, out),
        Value::Shared(text) => put_string_value(text, out),
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, out);
            encode_varint(u64::from(*b), out);
        }
        Value::Int(n) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(*n as u64, out);
        }
    }
}

/// `KeyValue`'s content.
fn key_value_len(key: &str, value: &Value) -> usize {
    bytes_len(1, key.as_bytes()) + field_len(2, any_len(value))
}

fn put_key_value(tag: u32, key: &str, value: &Value, out: &mut Vec<u8>) {
    put_header(tag, key_value_len(key, value), out);
    put_bytes(1, key.as_bytes(), out);
    put_header(2, any_len(value), out);
    put_any(value, out);
}

fn kind(kind: Kind) -> u64 {
    match kind {
        Kind::Internal => 1,
        Kind::Server => 2,
        Kind::Client => 3,
    }
}

/// Sampled, as every exported span is; the parent's remoteness known.
fn flags(span: &SpanData) -> u32 {
    0x1 | 0x100 | if span.parent.is_some() { 0x200 } else { 0 }
}

/// `Status`'s content.
fn status_len(span: &SpanData) -> usize {
    match &span.error {
        Some(message) => bytes_len(2, message.as_bytes()) + varint_len(3, 2),
        None => 0,
    }
}

/// `Span`'s content.
fn span_len(span: &SpanData) -> usize {
    let parent = span.parent.as_ref().map_or(&[][..], |p| &p[..]);
    bytes_len(1, &span.trace_id)
        + bytes_len(2, &span.span_id)
        + bytes_len(4, parent)
        + name_len(span)
        + varint_len(6, kind(span.kind))
        + fixed64_len(7, span.start_unix_nanos)
        + fixed64_len(8, end(span))
        + span
            .attributes
            .iter()
            .map(|(key, value)| field_len(9, key_value_len(key, value)))
            .sum::<usize>()
        + field_len(15, status_len(span))
        + key_len(16)
        + 4
}

fn name_len(span: &SpanData) -> usize {
    if span.name.is_empty() {
        0
    } else {
        field_len(5, span.name.len())
    }
}

fn end(span: &SpanData) -> u64 {
    span.end_unix_nanos.max(span.start_unix_nanos)
}

fn put_span(span: &SpanData, len: usize, out: &mut Vec<u8>) {
    put_header(2, len, out);
    put_bytes(1, &span.trace_id, out);
    put_bytes(2, &span.span_id, out);
    if let Some(parent) = &span.parent {
        put_bytes(4, parent, out);
    }
    if !span.name.is_empty() {
        put_header(5, span.name.len(), out);
        span.name.write_to(out);
    }
    put_varint(6, kind(span.kind), out);
    put_fixed64(7, span.start_unix_nanos, out);
    put_fixed64(8, end(span), out);
    for (key, value) in &span.attributes {
        put_key_value(9, key, value, out);
    }
    put_header(15, status_len(span), out);
    if let Some(message) = &span.error {
        put_bytes(2, message.as_bytes(), out);
        put_varint(3, 2, out);
    }
    encode_key(16, WireType::ThirtyTwoBit, out);
    out.extend_from_slice(&flags(span).to_le_bytes());
}

/// Appends `span` as one `spans` field of a `ScopeSpans` message. Spans are
/// written this way where they end, on the request's own thread while
/// they are still in its cache; an export request is those bytes, as they
/// are, inside the few headers [`encode_request`] adds.
pub fn put_span_field(span: &SpanData, out: &mut Vec<u8>) {
    put_span(span, span_len(span), out);
}

/// The protobuf bytes of one `ExportTraceServiceRequest` for this service
/// whose spans are `spans`, written by [`put_span_field`]: the same message
/// as `otlp::request`.
pub fn encode_request(service_name: &str, spans: &[u8]) -> Vec<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let resource_attributes = [
        ("service.name", Value::from(service_name.to_owned())),
        ("service.version", Value::from(version)),
    ];
    let resource_len: usize = resource_attributes
        .iter()
        .map(|(key, value)| field_len(1, key_value_len(key, value)))
        .sum();
    let scope_len = field_len(1, "switchboard".len()) + field_len(2, version.len());
    let scope_spans_len = field_len(1, scope_len) + spans.len();
    let resource_spans_len = field_len(1, resource_len) + field_len(2, scope_spans_len);
    let mut out = Vec::with_capacity(field_len(1, resource_spans_len));
    put_header(1, resource_spans_len, &mut out);
    put_header(1, resource_len, &mut out);
    for (key, value) in &resource_attributes {
        put_key_value(1, key, value, &mut out);
    }
    put_header(2, scope_spans_len, &mut out);
    put_header(1, scope_len, &mut out);
    put_bytes(1, b"switchboard", &mut out);
    put_bytes(2, version.as_bytes(), &mut out);
    out.extend_from_slice(spans);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn span(
        parent: Option<[u8; 8]>,
        error: Option<&str>,
        attributes: Vec<(&'static str, Value)>,
    ) -> SpanData {
        SpanData {
            trace_id: [7; 16],
            span_id: [9; 8],
            parent,
            name: "chat gpt-4o-mini".into(),
            kind: Kind::Client,
            start_unix_nanos: 1_764_000_000_000_000_000,
            end_unix_nanos: 1_764_000_000_123_456_789,
            attributes,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn the_bytes_are_the_message_the_protocols_definitions_build() {
        let spans = vec![
            span(
                Some([1; 8]),
                None,
                vec![
                    ("gen_ai.operation.name", "chat".into()),
                    ("gen_ai.usage.input_tokens", 12u64.into()),
                    ("switchboard.stream", true.into()),
                    ("switchboard.stream_off", false.into()),
                    ("switchboard.empty", "".into()),
                    ("switchboard.zero", 0u64.into()),
                ],
            ),
            span(None, Some("upstream_timeout"), Vec::new()),
            SpanData {
                kind: Kind::Server,
                start_unix_nanos: 5,
                end_unix_nanos: 3,
                ..span(None, Some(""), vec![("k", Value::Int(-1))])
            },
            SpanData {
                name: super::super::SpanName::Call("chat", "openai/gpt-4o".into()),
                ..span(
                    None,
                    None,
                    vec![
                        ("switchboard.team", Value::Shared("alpha".into())),
                        ("switchboard.key", Value::Shared("".into())),
                    ],
                )
            },
            SpanData {
                name: "".into(),
                ..span(None, None, Vec::new())
            },
        ];
        let mut written = Vec::new();
        for span in &spans {
            put_span_field(span, &mut written);
        }
        let ours = encode_request("switchboard-test", &written);
        let tree = super::super::otlp::request("switchboard-test", &spans);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("valid protobuf");
        assert_eq!(decoded, tree);
        assert_eq!(
            ours,
            tree.encode_to_vec(),
            "the very same bytes, field by field"
        );
        let empty = encode_request("s", &[]);
        assert_eq!(empty, super::super::otlp::request("s", &[]).encode_to_vec());
    }
}
