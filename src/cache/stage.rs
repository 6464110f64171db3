//! Pipeline stage 5: answer from the cache, or carry what is needed to
//! store the answer once it is complete (now for JSON, at the end of the
//! stream for SSE).

use super::control::{self, Control};
use super::keys::{self, Probe, SHARED_PARTITION};
use super::{Lookup, ResponseCache, Spend, replay};
use crate::api::chat::ChatRequest;
use crate::auth::Caller;
use crate::cost::{PriceTable, Usage};
use crate::error::GatewayError;
use crate::routing::Target;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use std::sync::Arc;

pub const CACHE_HEADER: HeaderName = HeaderName::from_static("x-switchboard-cache");
pub const SIMILARITY_HEADER: HeaderName = HeaderName::from_static("x-switchboard-cache-similarity");
pub const ENTRY_HEADER: HeaderName = HeaderName::from_static("x-switchboard-cache-entry");

/// The layer that answered, as the response's cache header says.
pub fn hit_layer(response: &Response) -> &'static str {
    match response.headers().get(CACHE_HEADER) {
        Some(value) if value == "hit-exact" => "hit-exact",
        _ => "hit-semantic",
    }
}

pub enum Step {
    /// A hit: the response to send as is.
    Serve(Response),
    /// Go upstream; `None` when the cache is off.
    Continue(Option<Fill>),
}

/// What the pipeline carries from the lookup to the store.
pub struct Fill {
    /// `miss` or `bypass`, for the response header.
    outcome: &'static str,
    store: Option<Pending>,
}

struct Pending {
    cache: Arc<ResponseCache>,
    probe: Probe,
    vector: Option<Vec<f32>>,
    team: Arc<str>,
    model: Arc<str>,
    price: Option<PriceTable>,
    shadow: Option<(u64, serde_json::Value)>,
    /// False under `no-store`: only the shadow bookkeeping runs.
    keep: bool,
}

pub async fn lookup(
    cache: Option<&Arc<ResponseCache>>,
    caller: &Caller,
    target: &Target,
    request: &ChatRequest,
    headers: &HeaderMap,
) -> Result<Step, GatewayError> {
    let control = control::parse(headers);
    let Some(cache) = cache else {
        // Nothing is cached, so only-if-cached can only fail.
        if control.only_if_cached {
            return Err(not_cached());
        }
        return Ok(Step::Continue(None));
    };
    let settings = &cache.settings;
    let partition = if settings.share_across_teams {
        SHARED_PARTITION
    } else {
        &caller.team
    };
    let probe = keys::probe(
        request,
        &target.canonical,
        partition,
        settings.max_temperature,
    );
    let probe = match probe {
        Ok(probe) => probe,
        Err(reason) => {
            tracing::debug!(reason, "cache bypassed");
            return bypass(cache, control);
        }
    };
    let Control {
        no_read, no_store, ..
    } = control;
    let mut vector = None;
    let mut shadow = None;
    if no_read {
        if control.only_if_cached {
            cache.metrics.outcome("miss");
            return Err(not_cached());
        }
    } else {
        let bar = settings.bar_for(&target.public_name);
        match cache.lookup(&probe, &caller.team, bar).await {
            Lookup::Hit(hit) => {
                cache.metrics.outcome(hit.layer.header());
                let mut response = if request.is_stream() {
                    sse_response(replay::sse_events(
                        &hit.response,
                        request.wants_stream_usage(),
                    ))
                } else {
                    crate::shapes::json_response(Bytes::from(
                        replay::fresh(&hit.response).to_string(),
                    ))
                };
                let headers = response.headers_mut();
                headers.insert(CACHE_HEADER, HeaderValue::from_static(hit.layer.header()));
                headers.insert(
                    SIMILARITY_HEADER,
                    HeaderValue::from_str(&format!("{:.4}", hit.similarity))
                        .unwrap_or(HeaderValue::from_static("0")),
                );
                if let Ok(value) = HeaderValue::from_str(&hit.entry_id) {
                    headers.insert(ENTRY_HEADER, value);
                }
                return Ok(Step::Serve(response));
            }
            Lookup::Miss(miss) => {
                vector = miss.vector;
                shadow = miss.shadow;
            }
        }
        if control.only_if_cached {
            cache.metrics.outcome("miss");
            return Err(not_cached());
        }
    }
    let outcome = if no_read { "bypass" } else { "miss" };
    cache.metrics.outcome(outcome);
    let store = (!no_store || shadow.is_some()).then(|| Pending {
        cache: cache.clone(),
        probe,
        vector,
        team: caller.team.clone(),
        model: target.canonical.clone(),
        price: target.price,
        shadow,
        keep: !no_store,
    });
    Ok(Step::Continue(Some(Fill { outcome, store })))
}

fn bypass(cache: &ResponseCache, control: Control) -> Result<Step, GatewayError> {
    if control.only_if_cached {
        cache.metrics.outcome("miss");
        return Err(not_cached());
    }
    cache.metrics.outcome("bypass");
    Ok(Step::Continue(Some(Fill {
        outcome: "bypass",
        store: None,
    })))
}

fn not_cached() -> GatewayError {
    GatewayError::NotCached
}

fn sse_response(events: Vec<Bytes>) -> Response {
    let stream = futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

impl Fill {
    /// `miss` or `bypass`.
    pub fn outcome(&self) -> &'static str {
        self.outcome
    }

    /// Say on the response whether the cache missed or was bypassed.
    pub fn annotate(&self, response: &mut Response) {
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(self.outcome));
    }

    /// How many bytes of a stream's chunks to keep for `finish_stream`, or
    /// `None` when the answer will not be stored.
    pub fn stream_limit(&self) -> Option<usize> {
        self.store
            .as_ref()
            .map(|pending| pending.cache.settings.max_entry_bytes)
    }

    /// Store a complete JSON answer.
    pub fn finish_json(self, body: &[u8], usage: Option<Usage>) {
        let Some(pending) = self.store else { return };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        pending.finish(value, body.len(), usage);
    }

    /// Store a streamed answer that ended with `[DONE]`.
    pub fn finish_stream(self, chunks: &[Bytes], usage: Option<Usage>) {
        let Some(pending) = self.store else { return };
        let Some(value) = replay::assemble(chunks) else {
            return;
        };
        let size = chunks.iter().map(Bytes::len).sum();
        pending.finish(value, size, usage);
    }
}

impl Pending {
    fn finish(self, value: serde_json::Value, size: usize, usage: Option<Usage>) {
        if let Some((record, cached)) = &self.shadow {
            let text = |v: &serde_json::Value| {
                v.pointer("/choices/0/message/content")
                    .and_then(serde_json::Value::as_str)
                    .map(keys::collapse_whitespace)
            };
            self.cache.shadow_log.set_agreed(
                *record,
                text(cached).is_some() && text(cached) == text(&value),
            );
        }
        if !self.keep || size > self.cache.settings.max_entry_bytes || !replay::cacheable(&value) {
            return;
        }
        let usage = usage.unwrap_or_default();
        let spend = Spend {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_nano_usd: self.price.as_ref().map(|price| price.cost(&usage).0),
        };
        self.cache.insert(
            &self.probe,
            self.vector,
            &self.team,
            &self.model,
            value,
            spend,
        );
    }
}
