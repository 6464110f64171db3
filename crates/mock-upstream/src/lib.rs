//! Mock upstreams for the gateway's tests and benchmarks: OpenAI (chat,
//! embeddings and the Responses API), Anthropic, Gemini, Bedrock and Azure
//! wires on one server.
//!
//! No real provider is reachable from tests, benchmarks or CI, so this server
//! stands in for one. It enforces OpenAI's documented request rules, answers
//! with OpenAI's response and error shapes, and injects faults when the
//! request's `model` names one (`fault-500`, `fault-503`, `fault-429`,
//! `fault-400`, `fault-403`, `fault-slow`, `fault-truncate`, `fault-malformed`,
//! `fault-context`), so a
//! gateway configuration can point a model at a failure mode.
//!
//! It is also the upstream of throughput benchmarks, so the hot paths avoid
//! building JSON trees: requests are validated through borrowed raw values and
//! responses are written straight into one buffer.

mod anthropic;
mod azure;
mod bedrock;
mod chat;
mod embeddings;
mod error;
mod faults;
mod gemini;
mod json;
mod responses;
mod responses_object;
mod responses_stream;
mod responses_tools;
mod sigv4;
mod state;
mod stream;
mod wire_common;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_chat;
#[cfg(test)]
mod tests_misc;
#[cfg(test)]
mod tests_responses;
#[cfg(test)]
mod tests_stream;
#[cfg(test)]
mod tests_wires;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use error::ApiError;
pub use state::MockState;

/// Largest request body the mock reads; OpenAI itself accepts large
/// multimodal bodies, so this is generous and only guards memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How the mock upstream behaves.
#[derive(Clone, Debug)]
pub struct MockOptions {
    /// The only API key accepted, as `Authorization: Bearer <api_key>`.
    pub api_key: String,
    /// How long `fault-slow` waits before sending anything, headers included.
    pub slow_first_byte: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            api_key: "sk-upstream-test".to_owned(),
            slow_first_byte: Duration::from_secs(2),
        }
    }
}

/// Builds the mock's routes over shared state.
pub fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::handle))
        .route("/v1/embeddings", post(embeddings::handle))
        .route("/v1/responses", post(responses::handle))
        .route("/v1/messages", post(anthropic::handle))
        .route("/v1beta/models/{call}", post(gemini::handle))
        .route("/model/{model}/{action}", post(bedrock::handle))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::handle),
        )
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .route("/_mock/stats", get(stats))
        .route("/_mock/reset", post(reset))
        .fallback(invalid_url)
        .method_not_allowed_fallback(invalid_url)
        .with_state(state)
}

/// A mock upstream serving on a loopback port; the server stops when this is
/// dropped.
#[derive(Debug)]
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// The OpenAI-style base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a mock upstream on `127.0.0.1` with an ephemeral port.
pub async fn spawn(opts: MockOptions) -> std::io::Result<MockUpstream> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = MockState::new(opts);
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        if let Err(err) = serve(listener, app).await {
            tracing::warn!(%err, "mock upstream stopped");
        }
    });
    Ok(MockUpstream { addr, state, task })
}

/// Binds `listen`, prints `mock-upstream listening on http://IP:PORT` as the
/// only stdout line (so a parent process can find the port), and serves
/// until the process ends.
pub async fn run(listen: SocketAddr, opts: MockOptions) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    {
        // One short write at startup; blocking here is harmless.
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "mock-upstream listening on http://{addr}")?;
        stdout.flush()?;
    }
    serve(listener, router(MockState::new(opts))).await
}

async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    // Streaming writes many small chunks; Nagle's algorithm would hold them
    // back and distort latency measurements.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app).await
}

/// Reads a request body, answering as OpenAI's front end would when it is
/// too large or cannot be read.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large.".into(),
                    "invalid_request_error",
                    None,
                    None,
                )
            } else {
                ApiError::bad_json()
            }
        })
}

/// An OpenAI-style request's body, once its key passed and it was counted
/// (`count`); `Err` is the answer OpenAI gives instead.
pub(crate) async fn authorized_body(
    state: &MockState,
    req: axum::extract::Request,
    count: fn(&MockState),
) -> Result<Bytes, Response> {
    let (parts, body) = req.into_parts();
    state
        .authorize(&parts.headers)
        .map_err(IntoResponse::into_response)?;
    count(state);
    read_body(body).await.map_err(IntoResponse::into_response)
}

/// A handler's answer, with OpenAI's `x-request-id` on a success.
pub(crate) fn answer(result: Result<Response, ApiError>) -> Response {
    match result {
        Ok(resp) => with_request_id(resp),
        Err(err) => err.into_response(),
    }
}

/// A JSON response from bytes that are already serialized.
pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Adds the per-request id OpenAI puts on every response, so gateways meet
/// an upstream `x-request-id` they must not confuse with their own.
pub(crate) fn with_request_id(mut resp: Response) -> Response {
    let id = uuid::Uuid::new_v4();
    let mut buf = [0u8; 4 + uuid::fmt::Simple::LENGTH];
    buf[..4].copy_from_slice(b"req_");
    id.simple().encode_lower(&mut buf[4..]);
    if let Ok(value) = HeaderValue::from_bytes(&buf) {
        resp.headers_mut().insert("x-request-id", value);
    }
    resp
}

async fn list_models(State(state): State<Arc<MockState>>, req: axum::extract::Request) -> Response {
    if let Err(err) = state.authorize(req.headers()) {
        return err.into_response();
    }
    json_response(StatusCode::OK, state.models_body())
}

async fn get_model(
    State(state): State<Arc<MockState>>,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(err) = state.authorize(req.headers()) {
        return err.into_response();
    }
    match state::model_object(&id) {
        Some(body) => json_response(StatusCode::OK, body),
        None => ApiError::model_not_found(&id).into_response(),
    }
}

async fn stats(State(state): State<Arc<MockState>>) -> Response {
    let body = serde_json::json!({
        "chat_calls": state.chat_calls(),
        "embedding_calls": state.embedding_calls(),
        "responses_calls": state.responses_calls(),
        "last_authorization": state.last_authorization(),
        "last_user_message": state.last_user_message(),
    });
    json_response(StatusCode::OK, body.to_string())
}

async fn reset(State(state): State<Arc<MockState>>) -> Response {
    state.reset();
    json_response(StatusCode::OK, Bytes::from_static(b"{\"reset\":true}"))
}

/// OpenAI answers unknown paths and wrong methods with this 404.
async fn invalid_url(method: Method, uri: Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("Invalid URL ({method} {})", uri.path()).into(),
        "invalid_request_error",
        None,
        None,
    )
    .into_response()
}
