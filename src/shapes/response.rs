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

/// The last event of an OpenAI stream.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";
