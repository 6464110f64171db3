//! Stages shared by the model endpoints.

use super::context::RequestCx;
use crate::api::chat::ChatRequest;
use crate::auth::Caller;
use crate::auth::Team;
use crate::catalog::ModelKind;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guardrails::stage::RequestGuard;
use crate::quota::Ask;
use crate::quota::Hold as Reservation;
use crate::quota::estimate::Estimate;
use crate::routing::Target;
use http::HeaderMap;

/// Stage 1, authenticate: nothing else runs for an unknown caller.
pub fn authenticate(
    gateway: &Gateway,
    cx: &mut RequestCx,
    headers: &HeaderMap,
) -> Result<Caller, GatewayError> {
    let caller = gateway.keys.load().authenticate(headers, cx.peer)?;
    cx.caller = Some(caller.clone());
    Ok(caller)
}

pub fn team<'a>(_gateway: &'a Gateway, caller: &'a Caller) -> &'a Team {
    &caller.team_entry
}

/// Stage 2 (second half), resolve the model: part of normalizing, because the
/// budget stage needs the model's price and guardrails may depend on the route.
pub fn resolve(
    gateway: &Gateway,
    cx: &mut RequestCx,
    caller: &Caller,
    model: &str,
    kind: ModelKind,
) -> Result<Target, GatewayError> {
    cx.requested_model = Some(model.into());
    let route = gateway
        .router
        .load()
        .resolve_route(model, team(gateway, caller), kind)?;
    let target = route.primary().clone();
    cx.target = Some(target.clone());
    cx.route = Some(route);
    Ok(target)
}

/// Stage 3, guard input: the guardrail bindings of the caller's team and
/// route see every message text; they may block, redact in place or flag.
pub async fn guard_input(
    gateway: &Gateway,
    cx: &RequestCx,
    caller: &Caller,
    request: &mut ChatRequest,
) -> Result<RequestGuard, GatewayError> {
    let request_id = cx.request_id.to_str().unwrap_or("-");
    RequestGuard::check_request(
        &gateway.guardrails.load(),
        &gateway.metrics.guardrail_decisions,
        request_id,
        &caller.team,
        request,
    )
    .await
}

/// Stage 4, reserve budget: hold the worst case before any upstream call, so
/// that concurrent requests cannot overshoot. Without a limit nothing is
/// estimated. The worst case is the largest over every target of the route:
/// a fallback to a pricier target still fits within the hold, and the settle
/// charges the target that served. A route with an unpriced target counts as
/// unpriced (a budgeted team cannot be served by it unless allowed).
pub async fn reserve(
    gateway: &Gateway,
    cx: &RequestCx,
    caller: &Caller,
    target: &Target,
    user: Option<&str>,
    estimate: impl Fn(&Target) -> Estimate,
) -> Result<Reservation, GatewayError> {
    // Our own id, never the client's `x-request-id`: the ledger keys rows by
    // it. Time-ordered (v7), so the ledger's index grows at its end.
    let id = uuid::Uuid::now_v7().to_string();
    let targets: Vec<&Target> = match &cx.route {
        Some(route) if !route.targets.is_empty() => {
            route.targets.iter().map(|t| &t.target).collect()
        }
        _ => vec![target],
    };
    let priced = targets.iter().all(|t| t.price.is_some());
    let ask = Ask {
        request_id: &id,
        team: &caller.team,
        key: &caller.key_id,
        user,
        public_model: &target.public_name,
        model: &target.canonical,
        price: target.price.filter(|_| priced),
    };
    gateway
        .quota
        .reserve(ask, || crate::quota::estimate::worst_of(&targets, estimate))
        .await
}

/// A request's `prompt` parameter (`{"id", "version", "variables"}`)
/// rendered into the chat message it stands for; an unknown prompt or
/// version is a 404, a missing, unknown or mistyped variable a 400 naming it.
pub fn render_prompt(
    gateway: &Gateway,
    cx: &mut RequestCx,
    parameter: &serde_json::Value,
) -> Result<serde_json::Value, GatewayError> {
    use crate::prompts::RenderError;
    match gateway.prompts.load().message(parameter) {
        Ok((message, label)) => {
            cx.prompt = Some(label.into());
            Ok(message)
        }
        Err(RenderError::NotFound(message)) => Err(GatewayError::NotFound { message }),
        Err(RenderError::Invalid { message, param }) => Err(GatewayError::InvalidRequest {
            message,
            param: Some(param),
        }),
    }
}
