//! `POST /v1/embeddings` through the pipeline.

use super::chat::add_headers;
use super::context::RequestCx;
use super::dispatch;
use super::finish::{Outcome, settle_and_record};
use super::stages;
use crate::api::decode_json;
use crate::api::embeddings::EmbeddingsRequest;
use crate::catalog::ModelKind;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::shapes::json_response;
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
    let target = stages::resolve(gateway, cx, &caller, &request.model, ModelKind::Embedding)?;
    let user = crate::quota::estimate::embeddings_user_of(&request);
    let reservation = stages::reserve(gateway, cx, &caller, &target, user, |target| {
        crate::quota::estimate::embeddings(&request, target)
    })
    .await?;
    let reply = dispatch::embeddings(gateway, cx, &request).await;
    let complete = match reply {
        Ok(complete) => complete,
        Err(error) => {
            gateway.quota.settle(reservation, None).await;
            return Err(error);
        }
    };
    let mut response = json_response(complete.body);
    add_headers(&mut response, cx);
    reservation.headers.apply(response.headers_mut());
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
