//! A streamed loop runs inside its response's body: the events it sends
//! go out as they are made, once it committed; an error before that (a
//! budget, an unknown model) is the HTTP error it would be without
//! `stream`. A client that goes away drops the body, and the loop with it,
//! as it ends a loop that is not streamed.

use crate::error::GatewayError;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, header};
use std::future::Future;
use tokio::sync::mpsc::UnboundedReceiver;

/// The event stream of `drive` (the loop, sending its events to
/// `receiver`'s sender; what it returns is an error to answer with when
/// nothing was sent yet).
pub async fn respond(
    drive: impl Future<Output = Option<GatewayError>> + Send + 'static,
    mut receiver: UnboundedReceiver<Bytes>,
) -> Result<Response, GatewayError> {
    let mut drive = Box::pin(drive);
    let first = tokio::select! {
        left = &mut drive => match left {
            Some(error) => return Err(error),
            None => None,
        },
        event = receiver.recv() => event,
    };
    let rest = futures::stream::poll_fn(move |context| receiver.poll_recv(context));
    let body: futures::stream::BoxStream<'static, Bytes> = match first {
        // The loop is done: what it sent is all there is.
        None => rest.boxed(),
        Some(first) => {
            let running = futures::stream::once(drive).filter_map(|_| std::future::ready(None));
            futures::stream::iter([first])
                .chain(futures::stream::select(rest, running))
                .boxed()
        }
    };
    let mut response = Response::new(Body::from_stream(
        body.map(Ok::<_, std::convert::Infallible>),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
