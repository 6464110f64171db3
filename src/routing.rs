//! Model names → the provider and upstream model that serve them.
//!
//! A public name is either an alias from the config or `provider/model`.
//! Every listed model and alias is resolved once at start-up, so the hot path
//! is one map lookup.

use crate::catalog::{ModelKind, ModelSpec};
use crate::config::{Config, ConfigError, Team};
use crate::cost::PriceTable;
use crate::error::GatewayError;
use crate::provider::{ProviderEntry, Providers};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a public model name goes.
#[derive(Clone)]
pub struct Target {
    /// The name the client used.
    pub public_name: Arc<str>,
    /// `provider/model`.
    pub canonical: Arc<str>,
    pub provider: Arc<ProviderEntry>,
    pub upstream_model: Arc<str>,
    pub model: Arc<ModelSpec>,
    /// `None` when the price is unknown.
    pub price: Option<PriceTable>,
}

impl Target {
    pub fn provider_id(&self) -> &str {
        &self.provider.spec.id
    }
}

pub struct Router {
    routes: HashMap<String, Target>,
    providers: Providers,
}

impl Router {
    pub fn new(config: &Config, providers: Providers) -> Result<Self, ConfigError> {
        let mut routes = HashMap::new();
        for (id, entry) in &providers.entries {
            for (model, spec) in &entry.spec.models {
                let canonical = format!("{id}/{model}");
                let target = make_target(&canonical, entry, model, Arc::new(spec.clone()));
                routes.insert(canonical, target);
            }
        }
        let mut problems = Vec::new();
        for (alias, canonical) in &config.aliases {
            let found = routes.get(canonical).cloned().or_else(|| {
                let (provider, model) = canonical.split_once('/')?;
                let entry = providers.get(provider)?;
                entry.allow_unlisted_models.then(|| {
                    make_target(
                        canonical,
                        entry,
                        model,
                        Arc::new(ModelSpec::unlisted(ModelKind::Chat)),
                    )
                })
            });
            match found {
                Some(mut target) => {
                    target.public_name = Arc::from(alias.as_str());
                    routes.insert(alias.clone(), target);
                }
                None => problems.push((
                    format!("aliases.{alias}"),
                    format!("`{canonical}` is not a known provider/model"),
                )),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError {
                source_name: "configuration".to_owned(),
                problems,
            });
        }
        Ok(Self { routes, providers })
    }

    /// Resolve a public name for a caller's team and the endpoint's model kind.
    pub fn resolve(
        &self,
        name: &str,
        team: &Team,
        kind: ModelKind,
    ) -> Result<Target, GatewayError> {
        let target = match self.routes.get(name) {
            Some(target) => target.clone(),
            None => self.unlisted(name)?,
        };
        if !team.allows(&target.public_name) && !team.allows(&target.canonical) {
            return Err(GatewayError::Forbidden {
                message: format!("team `{}` may not use model `{name}`", team.id),
            });
        }
        if target.provider.adapter.is_none() {
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
        if target.model.kind != kind && target.model.context_window != 0 {
            let what = match target.model.kind {
                ModelKind::Chat => "a chat model",
                ModelKind::Embedding => "an embedding model",
            };
            return Err(GatewayError::invalid(
                format!("model `{name}` is {what} and cannot serve this endpoint"),
                Some("model"),
            ));
        }
        Ok(target)
    }

    /// `provider/model` for a model that the data file does not list, when the
    /// provider passes unlisted models through.
    fn unlisted(&self, name: &str) -> Result<Target, GatewayError> {
        let not_found = || GatewayError::ModelNotFound {
            message: format!("the model `{name}` does not exist or you do not have access to it"),
        };
        let (provider, model) = name.split_once('/').ok_or_else(not_found)?;
        let entry = self.providers.get(provider).ok_or_else(not_found)?;
        if !entry.allow_unlisted_models || model.is_empty() {
            return Err(not_found());
        }
        Ok(make_target(
            name,
            entry,
            model,
            Arc::new(ModelSpec::unlisted(ModelKind::Chat)),
        ))
    }

    /// Every public name a team may use and that can serve now, sorted.
    pub fn visible_models(&self, team: &Team) -> Vec<(&str, &Target)> {
        let mut names: Vec<(&str, &Target)> = self
            .routes
            .iter()
            .filter(|(name, target)| {
                target.provider.adapter.is_some()
                    && (team.allows(name) || team.allows(&target.canonical))
            })
            .map(|(name, target)| (name.as_str(), target))
            .collect();
        names.sort_by_key(|(name, _)| *name);
        names
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
) -> Target {
    Target {
        public_name: Arc::from(canonical),
        canonical: Arc::from(canonical),
        provider: entry.clone(),
        upstream_model: Arc::from(model),
        price: spec.price.as_ref().map(PriceTable::from_price),
        model: spec,
    }
}
