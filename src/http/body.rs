//! Reading a request body under the configured size limit.

use crate::error::GatewayError;
use axum::body::Body;
use bytes::Bytes;

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(GatewayError::PayloadTooLarge { limit })
            } else {
                Err(GatewayError::invalid(
                    format!("could not read the request body: {error}"),
                    None,
                ))
            }
        }
    }
}
