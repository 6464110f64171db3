//! Shared counters and the precomputed pieces every request reuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use parking_lot::Mutex;

use super::MockOptions;
use super::error::ApiError;

/// The models the mock lists, with the creation times OpenAI reports.
const MODELS: &[(&str, u64, &str)] = &[
    ("gpt-4o-mini", 1_721_172_741, "system"),
    ("gpt-4o", 1_715_367_049, "system"),
    ("gpt-4.1-mini", 1_744_318_173, "system"),
    ("text-embedding-3-small", 1_705_948_997, "system"),
    ("text-embedding-3-large", 1_705_953_180, "system"),
];

/// Counters and settings shared by every handler, and with whoever spawned
/// the mock so tests can see what reached the upstream.
#[derive(Debug)]
pub struct MockState {
    opts: MockOptions,
    /// `Bearer <api_key>`, compared byte for byte on the fast path.
    expected_auth: Box<[u8]>,
    models_body: Bytes,
    chat_calls: AtomicU64,
    embedding_calls: AtomicU64,
    responses_calls: AtomicU64,
    /// The body of the last `/v1/responses` request that was a JSON object.
    last_responses_request: Mutex<Option<serde_json::Map<String, serde_json::Value>>>,
    /// Chat calls per requested model, so tests can tell targets apart.
    chat_calls_by_model: Mutex<HashMap<String, u64>>,
    last_authorization: Mutex<Option<HeaderValue>>,
    /// The last user message of the last chat request: what the provider saw.
    last_user_message: Mutex<Option<String>>,
}

impl MockState {
    pub fn new(opts: MockOptions) -> Arc<MockState> {
        let expected_auth = format!("Bearer {}", opts.api_key)
            .into_bytes()
            .into_boxed_slice();
        Arc::new(MockState {
            opts,
            expected_auth,
            models_body: Bytes::from(models_list()),
            chat_calls: AtomicU64::new(0),
            embedding_calls: AtomicU64::new(0),
            responses_calls: AtomicU64::new(0),
            last_responses_request: Mutex::new(None),
            chat_calls_by_model: Mutex::new(HashMap::new()),
            last_authorization: Mutex::new(None),
            last_user_message: Mutex::new(None),
        })
    }

    pub fn options(&self) -> &MockOptions {
        &self.opts
    }

    /// Chat completion requests that passed authentication, faults included.
    pub fn chat_calls(&self) -> u64 {
        self.chat_calls.load(Ordering::Relaxed)
    }

    /// Chat completion requests for one model (as the request named it) that
    /// got as far as naming a model, faults included.
    pub fn chat_calls_for(&self, model: &str) -> u64 {
        self.chat_calls_by_model
            .lock()
            .get(model)
            .copied()
            .unwrap_or(0)
    }

    /// Responses API requests that passed authentication, faults included.
    pub fn responses_calls(&self) -> u64 {
        self.responses_calls.load(Ordering::Relaxed)
    }

    /// The last `/v1/responses` body as it arrived: what the provider saw.
    pub fn last_responses_request(&self) -> Option<serde_json::Value> {
        self.last_responses_request
            .lock()
            .clone()
            .map(serde_json::Value::Object)
    }

    pub(crate) fn count_responses(&self) {
        self.responses_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_responses_request(
        &self,
        body: &serde_json::Map<String, serde_json::Value>,
    ) {
        *self.last_responses_request.lock() = Some(body.clone());
    }

    /// Embedding requests that passed authentication, faults included.
    pub fn embedding_calls(&self) -> u64 {
        self.embedding_calls.load(Ordering::Relaxed)
    }

    /// The raw `Authorization` header of the last `/v1` request, if it had one.
    pub fn last_authorization(&self) -> Option<String> {
        self.last_authorization
            .lock()
            .as_ref()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// The last user message of the last valid chat request.
    pub fn last_user_message(&self) -> Option<String> {
        self.last_user_message.lock().clone()
    }

    pub(crate) fn record_user_message(&self, text: &str) {
        *self.last_user_message.lock() = Some(text.to_owned());
    }

    pub fn reset(&self) {
        self.chat_calls.store(0, Ordering::Relaxed);
        self.embedding_calls.store(0, Ordering::Relaxed);
        self.responses_calls.store(0, Ordering::Relaxed);
        *self.last_responses_request.lock() = None;
        self.chat_calls_by_model.lock().clear();
        *self.last_authorization.lock() = None;
        *self.last_user_message.lock() = None;
    }

    /// Records the credential header of a request on another wire
    /// (`x-api-key`, `x-goog-api-key`, a SigV4 `Authorization`), so tests can
    /// see which key reached the upstream.
    pub(crate) fn record_credential(&self, value: Option<&HeaderValue>) {
        *self.last_authorization.lock() = value.cloned();
    }

    pub(crate) fn count_chat(&self) {
        self.chat_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_chat_model(&self, model: &str) {
        *self
            .chat_calls_by_model
            .lock()
            .entry(model.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn count_embedding(&self) {
        self.embedding_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn models_body(&self) -> Bytes {
        self.models_body.clone()
    }

    /// Records the request's `Authorization` header and checks it the way
    /// OpenAI does: a missing or non-Bearer header is "no key", anything
    /// else that differs is an incorrect key.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let value = headers.get(header::AUTHORIZATION);
        *self.last_authorization.lock() = value.cloned();
        let Some(value) = value else {
            return Err(ApiError::no_api_key());
        };
        let bytes = value.as_bytes();
        if bytes == &*self.expected_auth {
            return Ok(());
        }
        let scheme_ok = bytes.len() >= 7 && bytes[..7].eq_ignore_ascii_case(b"bearer ");
        let token = if scheme_ok {
            bytes[7..].trim_ascii()
        } else {
            &[][..]
        };
        if token.is_empty() {
            return Err(ApiError::no_api_key());
        }
        if token == self.opts.api_key.as_bytes() {
            return Ok(());
        }
        Err(ApiError::incorrect_api_key(&String::from_utf8_lossy(token)))
    }
}

/// The `GET /v1/models/{id}` body for a listed model.
pub(crate) fn model_object(id: &str) -> Option<String> {
    MODELS
        .iter()
        .find(|(name, _, _)| *name == id)
        .map(|m| serde_json::to_string(&model_json(m)).unwrap_or_default())
}

fn model_json(&(id, created, owner): &(&str, u64, &str)) -> serde_json::Value {
    serde_json::json!({ "id": id, "object": "model", "created": created, "owned_by": owner })
}

fn models_list() -> String {
    let data: Vec<_> = MODELS.iter().map(model_json).collect();
    serde_json::json!({ "object": "list", "data": data }).to_string()
}
