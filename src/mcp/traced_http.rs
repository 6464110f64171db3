//! The HTTP client of an upstream MCP server: reqwest's, plus the call's W3C
//! `traceparent` as an HTTP header. rmcp sends a request from its own task,
//! so the context cannot ride a task-local; the gateway already puts it in
//! the request's `params._meta.traceparent` (where MCP carries it), and this
//! copies it to the header that HTTP servers, proxies and their tracers read.

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;
use std::collections::HashMap;
use std::sync::Arc;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

#[derive(Clone)]
pub(super) struct TracedHttp(pub(super) reqwest::Client);

/// The `traceparent` a request names in its `_meta`, when it is a valid
/// header value (a server never gets a header the gateway did not check).
fn traceparent_of(message: &ClientJsonRpcMessage) -> Option<HeaderValue> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let in_params = match &request.request {
        ClientRequest::CallToolRequest(call) => call.params.meta.as_ref(),
        _ => None,
    };
    let value = in_params
        .and_then(|meta| meta.0.0.get("traceparent"))
        .or_else(|| request.request.get_meta().0.0.get("traceparent"))?
        .as_str()?;
    crate::traces::parse_traceparent(value)?;
    HeaderValue::from_str(value).ok()
}

fn with_traceparent(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    if let Some(value) = traceparent_of(message) {
        headers.insert(TRACEPARENT, value);
    }
    headers
}

impl StreamableHttpClient for TracedHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        // The default limits, all of them.
        let sse = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            sse,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    /// Every post goes through here (as in reqwest's own client), so the
    /// header is added in one place.
    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = with_traceparent(&message, custom_headers);
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequestParams, JsonObject, MetaObject, RequestMetaObject};

    fn call(meta: Option<&str>) -> ClientJsonRpcMessage {
        let mut params = CallToolRequestParams::new("t".to_owned());
        if let Some(value) = meta {
            let mut object = JsonObject::new();
            object.insert("traceparent".into(), value.into());
            params.meta = Some(RequestMetaObject(MetaObject(object)));
        }
        let request = ClientRequest::CallToolRequest(rmcp::model::Request::new(params));
        ClientJsonRpcMessage::request(request, rmcp::model::NumberOrString::Number(1))
    }

    #[test]
    fn a_call_s_trace_context_becomes_its_header() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = with_traceparent(&call(Some(valid)), HashMap::new());
        assert_eq!(headers.get(&TRACEPARENT).unwrap(), valid);
        assert!(with_traceparent(&call(None), HashMap::new()).is_empty());
        // Not W3C's shape (or a header injection): no header at all.
        for bad in ["00-zz-00f067aa0ba902b7-01", "x\r\nauthorization: y"] {
            assert!(with_traceparent(&call(Some(bad)), HashMap::new()).is_empty());
        }
    }
}
