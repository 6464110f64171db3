//! What `/readyz` reports: whether this replica should get traffic. Not ready
//! (503, with a JSON body naming each check and what is not ready):
//!
//! - while draining: from the shutdown signal until the process exits
//!   (`server.drain_delay` keeps serving meanwhile, so a load balancer
//!   sees it);
//! - while no provider can serve;
//! - until every configured shared store has answered once: the quota Redis,
//!   the cache's Redis, the MCP session Redis, the cache's Qdrant. Once one
//!   has answered it is not asked again: a later outage is handled by that
//!   store's own policy (`quota.on_store_error`; a cache miss; local MCP
//!   sessions), not by taking every replica out of service at once;
//! - while the semantic cache is configured with a model (`cache.model_dir`,
//!   or a provider's embeddings) that is not loaded;
//! - until every MCP server registered at start has had its first start
//!   attempt, up or down (servers added later through the admin API are not
//!   waited for).
//!
//! `/healthz` stays a liveness check: the process answers.

use crate::config::Config;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The longest one store's first answer is waited for per `/readyz` call.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Readiness {
    draining: AtomicBool,
    stores: Vec<StoreProbe>,
}

/// A shared store `/readyz` waits for, until it has answered once.
struct StoreProbe {
    /// The check's name in the body, e.g. `quota_redis`.
    name: &'static str,
    target: ProbeTarget,
    timeout: Duration,
    answered: AtomicBool,
}

enum ProbeTarget {
    Redis {
        client: Result<redis::Client, String>,
        connection: OnceCell<redis::aio::ConnectionManager>,
    },
    Qdrant {
        url: String,
        api_key: Option<crate::shapes::Secret>,
        client: OnceCell<qdrant_client::Qdrant>,
    },
}

/// What the rest of the gateway reports for a `/readyz` call; the gateway
/// gathers these, so that this module needs none of its parts.
pub struct Facts {
    /// Providers with an adapter that can serve.
    pub serving_providers: usize,
    /// With the semantic cache configured on a model: whether it is loaded.
    pub embedding_model_loaded: Option<bool>,
    /// MCP servers registered at start whose first start attempt is pending.
    pub mcp_first_starts_pending: Vec<std::sync::Arc<str>>,
}

/// One check's outcome.
struct Check {
    name: &'static str,
    ready: bool,
    detail: String,
}

/// What `/readyz` answers.
pub struct Report {
    pub ready: bool,
    pub body: Value,
}

impl Readiness {
    /// The checks `config` calls for. Nothing is contacted here.
    pub fn new(config: &Config) -> Self {
        let mut stores = Vec::new();
        let mut redis = |name, url: &str, timeout| {
            stores.push(StoreProbe {
                name,
                target: ProbeTarget::Redis {
                    // Never the URL in the error: it may hold a password.
                    client: redis::Client::open(url)
                        .map_err(|_| "the Redis URL is not valid".to_owned()),
                    connection: OnceCell::new(),
                },
                timeout,
                answered: AtomicBool::new(false),
            });
        };
        if let crate::quota::settings::StoreKind::Redis { url, timeout, .. } = &config.quota.store {
            redis("quota_redis", url.expose(), *timeout);
        }
        if config.cache.enabled
            && let Some(settings) = &config.cache.redis
        {
            redis(
                "cache_redis",
                settings.url.expose(),
                config.cache.store_timeout,
            );
        }
        if let Some(url) = &config.mcp.session_store {
            redis("mcp_session_redis", url, PROBE_TIMEOUT);
        }
        if config.cache.enabled
            && config.cache.semantic
            && let Some(qdrant) = &config.cache.qdrant
        {
            stores.push(StoreProbe {
                name: "cache_qdrant",
                target: ProbeTarget::Qdrant {
                    url: qdrant.url.clone(),
                    api_key: qdrant.api_key.clone(),
                    client: OnceCell::new(),
                },
                timeout: config.cache.store_timeout,
                answered: AtomicBool::new(false),
            });
        }
        Self {
            draining: AtomicBool::new(false),
            stores,
        }
    }

    /// From now on `/readyz` answers 503: the process is shutting down.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Runs every check (the stores not yet answered, at once).
    pub async fn report(&self, facts: Facts) -> Report {
        let mut checks = vec![Check {
            name: "draining",
            ready: !self.draining(),
            detail: if self.draining() {
                "shutting down: finishing in-flight requests".to_owned()
            } else {
                "not shutting down".to_owned()
            },
        }];
        let serving = facts.serving_providers;
        checks.push(Check {
            name: "providers",
            ready: serving > 0,
            detail: if serving > 0 {
                format!("{serving} providers can serve")
            } else {
                "no provider is configured".to_owned()
            },
        });
        let probes = self.stores.iter().map(StoreProbe::check);
        checks.extend(futures::future::join_all(probes).await);
        if let Some(loaded) = facts.embedding_model_loaded {
            checks.push(embedding_check(loaded));
        }
        let pending = facts.mcp_first_starts_pending;
        checks.push(Check {
            name: "mcp_servers",
            ready: pending.is_empty(),
            detail: if pending.is_empty() {
                "every MCP server registered at start has had its first start attempt".to_owned()
            } else {
                format!(
                    "first start attempt not finished yet: {}",
                    pending
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        });
        let ready = checks.iter().all(|check| check.ready);
        let not_ready: Vec<&str> = checks
            .iter()
            .filter(|check| !check.ready)
            .map(|check| check.name)
            .collect();
        let detail: Map<String, Value> = checks
            .iter()
            .map(|check| {
                (
                    check.name.to_owned(),
                    json!({"ready": check.ready, "detail": check.detail}),
                )
            })
            .collect();
        Report {
            ready,
            body: json!({
                "status": if ready { "ready" } else { "not_ready" },
                "not_ready": not_ready,
                "checks": detail,
            }),
        }
    }
}

/// With the semantic cache configured on a model, that model must be loaded.
fn embedding_check(loaded: bool) -> Check {
    Check {
        name: "embedding_model",
        ready: loaded,
        detail: if loaded {
            "the semantic cache's embedding model is loaded".to_owned()
        } else {
            "the semantic cache is configured but its embedding model is not loaded (see the log)"
                .to_owned()
        },
    }
}

impl StoreProbe {
    async fn check(&self) -> Check {
        if self.answered.load(Ordering::Acquire) {
            return self.outcome(Ok(()));
        }
        let timeout = self
            .timeout
            .min(PROBE_TIMEOUT)
            .max(Duration::from_millis(50));
        let answer = match tokio::time::timeout(timeout, self.ping(timeout)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        if answer.is_ok() {
            self.answered.store(true, Ordering::Release);
        }
        self.outcome(answer)
    }

    fn outcome(&self, answer: Result<(), String>) -> Check {
        Check {
            name: self.name,
            ready: answer.is_ok(),
            detail: match answer {
                Ok(()) => "answered".to_owned(),
                Err(error) => format!("has not answered yet: {error}"),
            },
        }
    }

    async fn ping(&self, timeout: Duration) -> Result<(), String> {
        match &self.target {
            ProbeTarget::Redis { client, connection } => {
                let client = client.as_ref().map_err(Clone::clone)?;
                let connection = connection
                    .get_or_try_init(|| async {
                        crate::shared_redis::lazy_connection(client, timeout)
                    })
                    .await
                    .map_err(|error| redis_error(&error))?;
                let mut connection = connection.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .map(|_| ())
                    .map_err(|error| redis_error(&error))
            }
            ProbeTarget::Qdrant {
                url,
                api_key,
                client,
            } => {
                let client = client
                    .get_or_try_init(|| async {
                        let mut builder = qdrant_client::Qdrant::from_url(url)
                            .timeout(timeout)
                            .connect_timeout(timeout)
                            .skip_compatibility_check();
                        if let Some(key) = api_key {
                            builder = builder.api_key(key.expose().to_owned());
                        }
                        builder.build().map_err(|error| error.to_string())
                    })
                    .await?;
                client
                    .health_check()
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            }
        }
    }
}

/// A Redis error without what could name the server's credentials.
fn redis_error(error: &redis::RedisError) -> String {
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => "authentication failed".to_owned(),
        _ if error.is_connection_refusal() => "connection refused".to_owned(),
        _ if error.is_timeout() => "timed out".to_owned(),
        _ => error.to_string(),
    }
}
