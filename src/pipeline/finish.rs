//! The last two stages, shared by every endpoint and by streams that end
//! later: settle (usage → cost → ledger, release the reservation) and record
//! (metrics and the request log line).

use super::context::RequestCx;
use crate::cost::{Cost, Usage};
use crate::gateway::Gateway;
use crate::metrics::{
    EndpointLabels, ErrorLabels, ModelLabels, ProviderLabels, RequestLabels, TokenLabels,
};
use crate::quota::Hold as Reservation;
use std::sync::Arc;

/// How a request ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The client went away mid-stream; what the upstream produced is still charged.
    ClientDisconnected,
    /// The upstream failed after the response had started.
    UpstreamBroke,
    Error(&'static str),
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ClientDisconnected => "client_disconnected",
            Self::UpstreamBroke => "upstream_broke",
            Self::Error(label) => label,
        }
    }
}

/// The request's own span (SERVER), with the GenAI conventions' attributes.
fn request_span(
    cx: &RequestCx,
    trace: &crate::traces::Trace,
    status: u16,
    outcome: Outcome,
) -> crate::traces::SpanData {
    use crate::traces::Value;
    let operation = cx.endpoint.operation();
    let requested: std::sync::Arc<str> = cx.requested_model.clone().unwrap_or_else(|| "-".into());
    let mut attributes: Vec<(&'static str, Value)> = Vec::with_capacity(16);
    attributes.extend([
        ("gen_ai.operation.name", operation.into()),
        ("gen_ai.request.model", requested.clone().into()),
        ("http.request.method", "POST".into()),
        ("http.response.status_code", u64::from(status).into()),
        ("switchboard.endpoint", cx.endpoint.label().into()),
        (
            "switchboard.request_id",
            cx.request_id.to_str().unwrap_or("-").to_owned().into(),
        ),
        ("switchboard.attempts", u64::from(cx.attempts).into()),
        ("switchboard.stream", cx.stream.into()),
    ]);
    if let Some(target) = &cx.target {
        attributes.push((
            "gen_ai.provider.name",
            crate::traces::provider_name(&target.provider.id),
        ));
        attributes.push((
            "gen_ai.response.model",
            target.upstream_model.clone().into(),
        ));
    }
    if let Some(usage) = cx.usage {
        attributes.push(("gen_ai.usage.input_tokens", usage.prompt_tokens.into()));
        attributes.push(("gen_ai.usage.output_tokens", usage.completion_tokens.into()));
    }
    if let Some(caller) = &cx.caller {
        attributes.push(("switchboard.team", caller.team.clone().into()));
        attributes.push(("switchboard.key", caller.key_id.clone().into()));
    }
    if let Some(cache) = cx.cache {
        attributes.push(("switchboard.cache", cache.into()));
    }
    let failed = status >= 400 || outcome != Outcome::Ok;
    if failed {
        attributes.push(("error.type", outcome.label().into()));
    }
    trace.root(
        crate::traces::SpanName::Call(operation, requested),
        attributes,
        failed.then(|| outcome.label().to_owned()),
    )
}

/// A duration in milliseconds, as the number nearest its exact decimal
/// (`3.456789`, not the `3.4567890000000003` that seconds times 1,000
/// gives), so a log line carries no digits that mean nothing.
fn millis(duration: std::time::Duration) -> f64 {
    duration.as_nanos() as f64 / 1e6
}

/// The wall-clock time, in Unix milliseconds, of an instant in the past.
fn unix_ms_at(then: std::time::Instant) -> i64 {
    crate::shapes::unix_millis().saturating_sub(then.elapsed().as_millis() as u64) as i64
}

/// Settle the reservation with the actual cost, then record.
pub async fn settle_and_record(
    gateway: &Arc<Gateway>,
    mut cx: RequestCx,
    reservation: Option<Reservation>,
    usage: Option<Usage>,
    status: u16,
    outcome: Outcome,
) {
    cx.usage = usage;
    cx.cost = match (&cx.target, usage) {
        (Some(target), Some(usage)) => Some(match &target.price {
            Some(price) => Cost::Known(price.cost(&usage)),
            None => Cost::Unknown,
        }),
        _ => None,
    };
    if let Some(mut reservation) = reservation {
        // A fallback may have served: its price is what was spent.
        if let Some(target) = &cx.target {
            reservation.served_by(&target.canonical, target.price);
        }
        gateway.quota.settle(reservation, usage).await;
    }
    // After the quota's settle: what the listener reads is already counted.
    if let Some(settled) = cx.on_settled.take() {
        let _ = settled.send(cx.cost);
    }
    record(gateway, &mut cx, status, outcome);
}

/// Metrics and one log line. Never logs keys or message content.
pub fn record(gateway: &Gateway, cx: &mut RequestCx, status: u16, outcome: Outcome) {
    let metrics = &gateway.metrics;
    let endpoint = cx.endpoint.label();
    let (model, provider) = (cx.model_label(), cx.provider_label());
    let elapsed = cx.started.elapsed();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            model: model.clone(),
            provider: provider.clone(),
            status,
        })
        .inc();
    if let Outcome::Error(error) = outcome {
        metrics
            .errors
            .get_or_create(&ErrorLabels { endpoint, error })
            .inc();
    }
    let model_labels = ModelLabels {
        endpoint,
        model: model.clone(),
        provider: provider.clone(),
    };
    metrics
        .request_duration
        .get_or_create(&model_labels)
        .observe(elapsed.as_secs_f64());
    if cx.target.is_some() && !cx.upstream_elapsed.is_zero() {
        metrics
            .upstream_duration
            .get_or_create(&ProviderLabels {
                provider: provider.clone(),
            })
            .observe(cx.upstream_elapsed.as_secs_f64());
    }
    if let Some(usage) = cx.usage {
        for (kind, count) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            if count > 0 {
                metrics
                    .tokens
                    .get_or_create(&TokenLabels {
                        model: model.clone(),
                        provider: provider.clone(),
                        kind,
                    })
                    .inc_by(count);
            }
        }
    }
    match cx.cost {
        Some(Cost::Known(cost)) => {
            metrics
                .cost_usd
                .get_or_create(&model_labels)
                .inc_by(cost.as_usd());
        }
        Some(Cost::Unknown) => {
            metrics.unpriced.get_or_create(&model_labels).inc();
        }
        None => {}
    }
    let overhead = cx.overhead();
    if status < 400
        || matches!(
            outcome,
            Outcome::ClientDisconnected | Outcome::UpstreamBroke
        )
    {
        metrics
            .overhead
            .get_or_create(&EndpointLabels { endpoint })
            .observe(overhead.as_secs_f64());
    }
    let usage = cx.usage.unwrap_or_default();
    if let Some(mut trace) = cx.trace.take() {
        let root = request_span(cx, &trace, status, outcome);
        // The spans move to the exporter: the request is over.
        let mut spans = std::mem::take(&mut trace.children);
        spans.push(root);
        gateway.traces.send(spans);
        cx.trace = Some(trace);
    }
    if gateway.request_log.enabled() {
        log_row(gateway, cx, status, outcome, elapsed, overhead);
    }
    tracing::info!(
        target: "switchboard::request",
        request_id = cx.request_id.to_str().unwrap_or("-"),
        endpoint,
        team = cx.caller.as_ref().map_or("-", |c| &*c.team),
        key = cx.caller.as_ref().map_or("-", |c| &*c.key_id),
        requested_model = cx.requested_model.as_deref().unwrap_or("-"),
        prompt = cx.prompt.as_deref().unwrap_or("-"),
        model = %model,
        provider = %provider,
        stream = cx.stream,
        attempts = cx.attempts,
        status,
        outcome = outcome.label(),
        duration_ms = millis(elapsed),
        upstream_ms = millis(cx.upstream_elapsed),
        overhead_us = overhead.as_micros() as u64,
        prompt_tokens = usage.prompt_tokens,
        completion_tokens = usage.completion_tokens,
        cost_usd = cx.cost.and_then(Cost::usd),
        "request"
    );
}

/// The request's row in the request log.
fn log_row(
    gateway: &Gateway,
    cx: &mut RequestCx,
    status: u16,
    outcome: Outcome,
    elapsed: std::time::Duration,
    overhead: std::time::Duration,
) {
    let usage = cx.usage.unwrap_or_default();
    gateway.request_log.record(crate::request_log::Row {
        at_ms: unix_ms_at(cx.started),
        request_id: cx.request_id.to_str().unwrap_or("-").to_owned(),
        endpoint: cx.endpoint.label().into(),
        team: cx.caller.as_ref().map(|c| c.team.clone()),
        key: cx.caller.as_ref().map(|c| c.key_id.clone()),
        requested_model: cx.requested_model.clone(),
        model: cx.target.as_ref().map(|t| t.canonical.clone()),
        provider: cx.target.as_ref().map(|t| t.provider.id.clone()),
        stream: cx.stream,
        attempts: cx.attempts,
        status,
        outcome: outcome.label().into(),
        cache: cx.cache.map(Into::into),
        prompt: cx.prompt.clone(),
        duration_ms: millis(elapsed),
        upstream_ms: millis(cx.upstream_elapsed),
        overhead_us: overhead.as_micros() as u64,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cost_nano: match cx.cost {
            Some(Cost::Known(cost)) => Some(cost.0),
            _ => None,
        },
        detail: crate::request_log::Detail {
            stages: cx
                .stages
                .iter()
                .map(|&(name, took)| {
                    let stage = name.strip_prefix("switchboard.").unwrap_or(name);
                    (stage.into(), took.as_micros() as u64)
                })
                .collect(),
            attempts: std::mem::take(&mut cx.attempt_log),
            guardrails: cx.guard.take(),
            captured: cx.captured.take(),
        },
        ..crate::request_log::Row::default()
    });
}
