//! Model names → routes: the targets (provider + upstream model) that may
//! serve a public name, and how to pick among them.
//!
//! A public name is a route from `[routes]`, an alias (a route with one
//! target) or `provider/model` (likewise). Every listed model, alias and route
//! is resolved once at start-up, so the hot path is one map lookup. Each target
//! has one `Health` (breaker and latency average), shared by every route that
//! uses it. `strategy.rs` orders the targets, `retry.rs` decides what follows a
//! failed attempt, `breaker.rs` keeps failing targets out; the attempt loop
//! itself is `pipeline/dispatch.rs`.

pub mod breaker;
pub mod health;
pub mod retry;
mod settings;
pub mod strategy;

pub use settings::{
    BreakerSettings, RetrySettings, RouteSettings, RouteTargetSettings, RoutingConfig, Strategy,
};

use crate::auth::Team;
use crate::catalog::{ModelKind, ModelSpec};
use crate::cost::{PriceTable, Usage};
use crate::error::GatewayError;
use crate::metrics::{Metrics, TargetLabels};
use crate::provider::{ProviderEntry, Providers};
use crate::shapes::ConfigError;
use health::{Health, TargetFamilies};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One provider model that can serve a public name.
#[derive(Clone)]
pub struct Target {
    /// The name the client used.
    pub public_name: Arc<str>,
    /// `provider/model`.
    pub canonical: Arc<str>,
    /// The name metrics use: `canonical`, except for a model a client named
    /// that no data file or config lists (`<provider>/unlisted`), so clients
    /// cannot create series without bound.
    pub metric_name: Arc<str>,
    pub provider: Arc<ProviderEntry>,
    pub upstream_model: Arc<str>,
    pub model: Arc<ModelSpec>,
    /// `None` when the price is unknown.
    pub price: Option<PriceTable>,
    /// Breaker and latency, shared by every route using this target.
    pub health: Arc<Health>,
}

impl Target {
    pub fn provider_id(&self) -> &str {
        &self.provider.spec.id
    }

    /// Nano-USD for a thousand prompt and a thousand completion tokens: the
    /// measure `lowest-cost` sorts by.
    pub fn blended_cost(&self) -> Option<u64> {
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 1000,
            cached_prompt_tokens: 0,
        };
        self.price.map(|price| price.cost(&usage).0)
    }
}

/// A target with its place in a route.
#[derive(Clone)]
pub struct RouteTarget {
    pub target: Target,
    pub weight: u32,
    pub priority: u32,
}

/// Everything needed to serve one public name.
#[derive(Clone)]
pub struct Route {
    pub name: Arc<str>,
    pub strategy: Strategy,
    pub targets: Vec<RouteTarget>,
    /// Per attempt, until the first token; `None` = the `[upstream]` defaults.
    pub first_token: Option<Duration>,
    /// The whole request; `None` = `upstream.total_timeout`.
    pub total: Option<Duration>,
    pub retries: RetrySettings,
    /// The targets' context windows differ, so a prompt is counted before
    /// dispatch to skip targets it cannot fit.
    pub counts_prompt: bool,
}

impl Route {
    fn single(name: &str, target: Target) -> Self {
        Self {
            name: Arc::from(name),
            strategy: Strategy::Priority,
            targets: vec![RouteTarget {
                target,
                weight: 1,
                priority: 0,
            }],
            first_token: None,
            total: None,
            retries: RetrySettings::default(),
            counts_prompt: false,
        }
    }

    /// The target whose price and tokenizer stand for the route before
    /// dispatch picks one: the first by priority.
    pub fn primary(&self) -> &Target {
        let first = self.targets.iter().min_by_key(|t| t.priority);
        // Routes are built with at least one target.
        &first.unwrap_or(&self.targets[0]).target
    }
}

pub struct Router {
    routes: HashMap<String, Arc<Route>>,
    /// Health per `provider/model`, for every target known at start-up.
    health: HashMap<String, Arc<Health>>,
    providers: Providers,
    breaker: BreakerSettings,
}

impl Router {
    /// A router whose routes all use the gateway-wide connect timeout.
    pub fn new(config: RoutingConfig<'_>, providers: Providers) -> Result<Self, ConfigError> {
        Self::new_with(config, providers, &|_| Ok(None))
    }

    /// `with_connect` builds the providers again over an HTTP client with
    /// another connect timeout, for routes that set `timeouts.connect`
    /// (reqwest sets connect timeouts per client, not per request).
    pub fn new_with(
        config: RoutingConfig<'_>,
        providers: Providers,
        with_connect: &dyn Fn(Duration) -> Result<Option<Providers>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        Self::build(config, providers, with_connect, HashMap::new())
    }

    /// `new_with` for a reloaded config: every target it shares with
    /// `previous` keeps its circuit breaker and latency estimate (when the
    /// breaker settings are unchanged), so a reload neither closes an open
    /// breaker nor forgets what was measured.
    pub fn carrying_health(
        config: RoutingConfig<'_>,
        providers: Providers,
        with_connect: &dyn Fn(Duration) -> Result<Option<Providers>, ConfigError>,
        previous: &Router,
    ) -> Result<Self, ConfigError> {
        let carried = if previous.breaker == config.breaker {
            previous.health.clone()
        } else {
            HashMap::new()
        };
        Self::build(config, providers, with_connect, carried)
    }

    fn build(
        config: RoutingConfig<'_>,
        providers: Providers,
        with_connect: &dyn Fn(Duration) -> Result<Option<Providers>, ConfigError>,
        carried: HashMap<String, Arc<Health>>,
    ) -> Result<Self, ConfigError> {
        let mut router = Self {
            routes: HashMap::new(),
            health: carried,
            providers,
            breaker: config.breaker,
        };
        let mut listed = Vec::new();
        for (id, entry) in &router.providers.entries {
            for (model, spec) in &entry.spec.models {
                listed.push((
                    format!("{id}/{model}"),
                    entry.clone(),
                    model.clone(),
                    Arc::new(spec.clone()),
                ));
            }
        }
        for (canonical, entry, model, spec) in listed {
            let health = router.health_of(&canonical);
            let target = make_target(&canonical, &entry, &model, spec, health);
            router.routes.insert(
                canonical.clone(),
                Arc::new(Route::single(&canonical, target)),
            );
        }
        let mut problems = Vec::new();
        for (alias, canonical) in config.aliases {
            match router.configured_target(canonical) {
                Some(mut target) => {
                    target.public_name = Arc::from(alias.as_str());
                    router
                        .routes
                        .insert(alias.clone(), Arc::new(Route::single(alias, target)));
                }
                None => problems.push((
                    format!("aliases.{alias}"),
                    format!("`{canonical}` is not a known provider/model"),
                )),
            }
        }
        let mut by_connect: HashMap<Duration, Option<Providers>> = HashMap::new();
        for (name, settings) in config.routes {
            let reconnected = match settings.connect {
                Some(connect) if connect != config.connect_timeout => {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        by_connect.entry(connect)
                    {
                        slot.insert(with_connect(connect)?);
                    }
                    by_connect.get(&connect).and_then(Option::as_ref)
                }
                _ => None,
            };
            let mut targets = Vec::with_capacity(settings.targets.len());
            for (index, target) in settings.targets.iter().enumerate() {
                match router.configured_target(&target.model) {
                    Some(mut resolved) => {
                        resolved.public_name = Arc::from(name.as_str());
                        if let Some(entry) = reconnected.and_then(|p| p.get(resolved.provider_id()))
                        {
                            resolved.provider = entry.clone();
                        }
                        targets.push(RouteTarget {
                            target: resolved,
                            weight: target.weight,
                            priority: target.priority,
                        });
                    }
                    None => problems.push((
                        format!("routes.{name}.targets[{index}].model"),
                        format!("`{}` is not a known provider/model", target.model),
                    )),
                }
            }
            // Listed models know their kind; unlisted ones take the route's.
            let kinds: Vec<ModelKind> = targets
                .iter()
                .filter(|t| t.target.model.context_window != 0)
                .map(|t| t.target.model.kind)
                .collect();
            if kinds.windows(2).any(|pair| pair[0] != pair[1]) {
                problems.push((
                    format!("routes.{name}.targets"),
                    "mixes chat and embedding models".to_owned(),
                ));
            }
            let windows: Vec<u32> = targets
                .iter()
                .map(|t| t.target.model.context_window)
                .collect();
            let counts_prompt = windows.iter().any(|w| *w != windows[0]);
            if targets.is_empty() {
                continue;
            }
            router.routes.insert(
                name.clone(),
                Arc::new(Route {
                    name: Arc::from(name.as_str()),
                    strategy: settings.strategy,
                    targets,
                    first_token: settings.first_token,
                    total: settings.total,
                    retries: settings.retries,
                    counts_prompt,
                }),
            );
        }
        if !problems.is_empty() {
            return Err(ConfigError {
                source_name: "configuration".to_owned(),
                problems,
            });
        }
        // Carried targets the new config no longer names are let go.
        let used: std::collections::HashSet<Arc<str>> = router
            .routes
            .values()
            .flat_map(|route| route.targets.iter())
            .map(|target| target.target.canonical.clone())
            .collect();
        router.health.retain(|name, _| used.contains(name.as_str()));
        Ok(router)
    }

    fn health_of(&mut self, canonical: &str) -> Arc<Health> {
        let breaker = self.breaker;
        self.health
            .entry(canonical.to_owned())
            .or_insert_with(|| Arc::new(Health::new(breaker)))
            .clone()
    }

    /// A `provider/model` named in the config: listed, or unlisted on a
    /// provider that passes unlisted models through.
    fn configured_target(&mut self, canonical: &str) -> Option<Target> {
        if let Some(route) = self.routes.get(canonical) {
            return Some(route.targets[0].target.clone());
        }
        let (provider, model) = canonical.split_once('/')?;
        let entry = self.providers.get(provider)?.clone();
        if !entry.allow_unlisted_models {
            return None;
        }
        let health = self.health_of(canonical);
        Some(make_target(
            canonical,
            &entry,
            model,
            Arc::new(ModelSpec::unlisted(ModelKind::Chat)),
            health,
        ))
    }

    /// Connects every target known at start-up to the breaker gauge and the
    /// retry and fallback counters.
    pub fn attach_metrics(&self, metrics: &Metrics) {
        let families = TargetFamilies {
            retries: metrics.retries.clone(),
            fallbacks: metrics.fallbacks.clone(),
            breaker_state: metrics.breaker_state.clone(),
        };
        for (canonical, health) in &self.health {
            let (provider, _) = canonical.split_once('/').unwrap_or((canonical, ""));
            let labels = TargetLabels {
                provider: provider.to_owned(),
                model: canonical.clone(),
            };
            health.attach_metrics(families.clone(), labels);
        }
    }

    /// Resolve a public name for a caller's team and the endpoint's model
    /// kind. A team that may not use the public name may still use the
    /// route's targets it is allowed by canonical name.
    pub fn resolve_route(
        &self,
        name: &str,
        team: &Team,
        kind: ModelKind,
    ) -> Result<Arc<Route>, GatewayError> {
        let mut route = match self.routes.get(name) {
            Some(route) => route.clone(),
            None => self.unlisted(name)?,
        };
        if !team.allows(&route.name) {
            let allowed = route
                .targets
                .iter()
                .filter(|t| team.allows(&t.target.canonical))
                .count();
            if allowed == 0 {
                return Err(GatewayError::Forbidden {
                    message: format!("team `{}` may not use model `{name}`", team.id),
                });
            }
            if allowed < route.targets.len() {
                let mut narrowed = (*route).clone();
                narrowed
                    .targets
                    .retain(|t| team.allows(&t.target.canonical));
                route = Arc::new(narrowed);
            }
        }
        if route
            .targets
            .iter()
            .all(|t| t.target.provider.adapter.is_none())
        {
            let target = &route.targets[0].target;
            let reason = target
                .provider
                .disabled_reason
                .as_deref()
                .unwrap_or("it is off");
            return Err(GatewayError::ModelNotFound {
                message: format!(
                    "model `{name}` is not available: provider `{}` is not configured ({reason})",
                    target.provider_id()
                ),
            });
        }
        let primary = route.primary();
        if primary.model.kind != kind && primary.model.context_window != 0 {
            let what = match primary.model.kind {
                ModelKind::Chat => "a chat model",
                ModelKind::Embedding => "an embedding model",
            };
            return Err(GatewayError::invalid(
                format!("model `{name}` is {what} and cannot serve this endpoint"),
                Some("model"),
            ));
        }
        Ok(route)
    }

    /// The route's first target, for callers that need one target only.
    pub fn resolve(
        &self,
        name: &str,
        team: &Team,
        kind: ModelKind,
    ) -> Result<Target, GatewayError> {
        self.resolve_route(name, team, kind)
            .map(|route| route.primary().clone())
    }

    /// `provider/model` for a model that the data file does not list, when the
    /// provider passes unlisted models through. Its health is its own: names
    /// chosen by clients must not grow shared state without bound.
    fn unlisted(&self, name: &str) -> Result<Arc<Route>, GatewayError> {
        let not_found = || GatewayError::ModelNotFound {
            message: format!("the model `{name}` does not exist or you do not have access to it"),
        };
        let (provider, model) = name.split_once('/').ok_or_else(not_found)?;
        let entry = self.providers.get(provider).ok_or_else(not_found)?;
        if !entry.allow_unlisted_models || model.is_empty() {
            return Err(not_found());
        }
        let health = self
            .health
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(Health::new(self.breaker)));
        let mut target = make_target(
            name,
            entry,
            model,
            Arc::new(ModelSpec::unlisted(ModelKind::Chat)),
            health,
        );
        target.metric_name = Arc::from(format!("{provider}/unlisted"));
        Ok(Arc::new(Route::single(name, target)))
    }

    /// Every public name a team may use and that can serve now, sorted, with
    /// the target that stands for it.
    pub fn visible_models(&self, team: &Team) -> Vec<(&str, &Target)> {
        let mut names: Vec<(&str, &Target)> = self
            .routes
            .iter()
            .filter(|(name, route)| {
                route.targets.iter().any(|t| {
                    t.target.provider.adapter.is_some()
                        && (team.allows(name) || team.allows(&t.target.canonical))
                })
            })
            .map(|(name, route)| (name.as_str(), route.primary()))
            .collect();
        names.sort_by_key(|(name, _)| *name);
        names
    }

    /// Every configured route (from `[routes]` and `[aliases]`), sorted by name.
    pub fn configured_routes(&self, config: RoutingConfig<'_>) -> Vec<&Arc<Route>> {
        let mut names: Vec<&String> = config.routes.keys().chain(config.aliases.keys()).collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|name| self.routes.get(name))
            .collect()
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }
}

fn make_target(
    canonical: &str,
    entry: &Arc<ProviderEntry>,
    model: &str,
    spec: Arc<ModelSpec>,
    health: Arc<Health>,
) -> Target {
    let canonical: Arc<str> = Arc::from(canonical);
    Target {
        public_name: canonical.clone(),
        metric_name: canonical.clone(),
        canonical,
        provider: entry.clone(),
        upstream_model: Arc::from(model),
        price: spec.price.as_ref().map(PriceTable::from_price),
        model: spec,
        health,
    }
}

#[cfg(test)]
mod tests;
