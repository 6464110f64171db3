//! How answers are framed on the wire, shared by every stage that answers:
//! a JSON body, and server-sent events.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};

/// A 200 with a JSON body.
pub fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `data: <payload>\n\n`
pub fn sse_event(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(payload);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// `event: <name>\ndata: <payload>\n\n`: the framing of streams whose
/// events are named (Anthropic's, the Responses API's).
pub fn named_sse_event(name: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(name.len() + payload.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(payload);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// Milliseconds since the Unix epoch (0 on a clock set before 1970).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch, as OpenAI's `created` fields count them
/// (0 on a clock set before 1970).
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The last event of an OpenAI stream.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";
