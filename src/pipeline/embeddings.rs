//! `POST /v1/embeddings` through the pipeline.

use super::chat::{add_headers, json_response};
use super::context::RequestCx;
use super::dispatch;
use super::finish::{Outcome, settle_and_record};
use super::stages;
use crate::api::decode_json;
use crate::api::embeddings::EmbeddingsRequest;
use crate::catalog::ModelKind;
use crate::cost::NanoUsd;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use std::sync::Arc;

pub async fn handle(
    gateway: &Arc<Gateway>,
    cx: &mut RequestCx,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    // Same order as chat; embeddings have no output to guard or stream.
    let caller = stages::authenticate(gateway, cx, headers)?;
    let request: EmbeddingsRequest = decode_json(&body)?;
    request.check()?;
    stages::resolve(gateway, cx, &caller, &request.model, ModelKind::Embedding)?;
    let reservation = stages::reserve(gateway, &caller).await?;
    let reply = dispatch::embeddings(gateway, cx, &request).await;
    let complete = match reply {
        Ok(complete) => complete,
        Err(error) => {
            gateway.quota.settle(reservation, NanoUsd(0)).await;
            return Err(error);
        }
    };
    let mut response = json_response(complete.body);
    add_headers(&mut response, cx);
    let record_cx = cx.take();
    settle_and_record(
        gateway,
        record_cx,
        Some(reservation),
        complete.usage,
        200,
        Outcome::Ok,
    )
    .await;
    Ok(response)
}
