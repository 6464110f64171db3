//! The chat stages as the MCP area's `ModelSampler`: a server's sampling
//! request that the gateway answers (`sampling_model`) is a chat request of
//! the caller whose tool call caused it, through every stage: guardrails,
//! budget reservation and settlement, the request log.

use super::chat;
use super::context::{Endpoint, RequestCx};
use crate::auth::Caller;
use crate::gateway::Gateway;
use crate::mcp::sampling::ModelSampler;
use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::{Arc, Weak};

/// Held by the MCP area's context; weak, so it never keeps the gateway alive.
pub struct ChatSampler(Weak<Gateway>);

impl ChatSampler {
    pub fn new(gateway: &Arc<Gateway>) -> Self {
        Self(Arc::downgrade(gateway))
    }
}

impl ModelSampler for ChatSampler {
    fn complete(&self, caller: Caller, body: Value) -> BoxFuture<'static, Result<Value, String>> {
        let gateway = self.0.upgrade();
        Box::pin(async move {
            let gateway = gateway.ok_or("the gateway is shutting down")?;
            let id = uuid::Uuid::now_v7().to_string();
            let request_id = http::HeaderValue::from_str(&id).map_err(|e| e.to_string())?;
            let mut cx = RequestCx::new(Endpoint::ChatCompletions, request_id, None);
            cx.logged = gateway.request_log.enabled();
            let body = Bytes::from(body.to_string());
            let headers = http::HeaderMap::new();
            let response = chat::handle_as(&gateway, &mut cx, &headers, caller, body)
                .await
                .map_err(|error| error.to_string())?;
            chat::read_completion(response.into_body())
                .await
                .map_err(|error| error.to_string())
        })
    }
}
