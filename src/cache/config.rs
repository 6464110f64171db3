//! The `[cache]` section: raw shape (the doc comments are the reference) and
//! its validation into typed settings.

use crate::shapes::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Cosine similarity a semantic candidate must reach before the verifier
/// looks at it: a wide net, chosen with the verifier's weights on the
/// development half of `tests/eval/cache/` and shipped with them; the
/// verifier, not this number, is what keeps near-misses out.
pub fn default_threshold() -> f32 {
    super::verify::Scorer::shipped().min_cosine
}

/// `[cache]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Turn the response cache on. Default: off.
    #[serde(default)]
    pub enabled: bool,
    /// Also answer paraphrases (semantic layer), when an embedding model is
    /// available. Default: on (it stays off, with a log line, without a model).
    #[serde(default = "yes")]
    pub semantic: bool,
    /// Compute semantic hits and record them in the shadow log without serving
    /// them: the request goes upstream as on a miss. Default: off.
    #[serde(default)]
    pub shadow: bool,
    /// Lowest cosine similarity (0 to 1) at which a semantic candidate is
    /// verified and may be served. Default: the value shipped with the
    /// verifier's weights (`min_cosine` in `src/cache/verifier_weights.json`).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-route thresholds, keyed by the public model name the client sends
    /// (an alias or `provider/model`), e.g. `"fast" = 0.9`.
    #[serde(default)]
    pub route_thresholds: BTreeMap<String, f32>,
    /// How sure the verifier must be (0 to 1) that a candidate above the
    /// threshold asks the same thing before it is served. Default: the
    /// operating point shipped with the verifier's weights, chosen for at
    /// most one wrong answer per hundred near-misses (see the README for
    /// what other values mean).
    #[serde(default)]
    pub confidence: Option<f32>,
    /// Per-route confidence, keyed like `route_thresholds`, e.g.
    /// `"support-bot" = 0.5` to serve more paraphrases at the cost of more
    /// wrong answers.
    #[serde(default)]
    pub route_confidence: BTreeMap<String, f32>,
    /// How long an entry may be served, e.g. `"1h"`.
    #[serde(default = "default_ttl")]
    pub ttl: String,
    /// Most entries kept; the oldest are evicted first beyond it.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Largest response body stored, in bytes; larger responses are not cached.
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: usize,
    /// Requests with a `temperature` above this are never cached (an absent
    /// temperature counts as 1.0, the providers' default).
    #[serde(default = "default_max_temperature")]
    pub max_temperature: f64,
    /// Let teams read each other's entries. Default: off; every team has its
    /// own partition. Turn on only when all teams may see all answers.
    #[serde(default)]
    pub share_across_teams: bool,
    /// Directory for the cache snapshot, so a restart keeps entries. Default:
    /// none (entries live in memory only).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Directory with `model.onnx` and the tokenizer files of all-MiniLM-L6-v2
    /// (`scripts/fetch-model` fetches them). `SWITCHBOARD_EMBEDDING_MODEL_DIR`
    /// overrides it. The ONNX Runtime library is found through `ORT_DYLIB_PATH`.
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// Where questions are embedded. Default: the local model (`model_dir`).
    /// `{ provider = "openai/text-embedding-3-small", dimensions = 1536 }`
    /// calls that provider's `/v1/embeddings` through its adapter instead.
    #[serde(default)]
    pub embedding: Option<RawEmbedding>,
    /// Where exact entries live: `"memory"` (this process, the default) or
    /// `"redis"` (shared by every replica, also kept in memory here).
    #[serde(default)]
    pub store: Option<String>,
    /// Redis URL for `store = "redis"`, e.g. `redis://127.0.0.1:6379/0`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Environment variable holding the Redis URL (overrides `redis_url`).
    #[serde(default)]
    pub redis_url_env: Option<String>,
    /// Prefix of every cache key in Redis. Default: `switchboard`.
    #[serde(default)]
    pub redis_prefix: Option<String>,
    /// Where question vectors live: `"local"` (the in-process index, the
    /// default) or `"qdrant"` (shared by every replica; needs `store = "redis"`,
    /// where the entries themselves live).
    #[serde(default)]
    pub vector_store: Option<String>,
    /// Qdrant gRPC URL for `vector_store = "qdrant"`, e.g. `http://127.0.0.1:6334`.
    #[serde(default)]
    pub qdrant_url: Option<String>,
    /// Environment variable holding the Qdrant URL (overrides `qdrant_url`).
    #[serde(default)]
    pub qdrant_url_env: Option<String>,
    /// Environment variable holding the Qdrant API key, if the server wants one.
    #[serde(default)]
    pub qdrant_api_key_env: Option<String>,
    /// Qdrant collection, one per deployment. Default: `switchboard_cache`.
    #[serde(default)]
    pub qdrant_collection: Option<String>,
    /// Longest wait for Redis or Qdrant on a lookup before it counts as a
    /// miss, e.g. `"250ms"`.
    #[serde(default = "default_store_timeout")]
    pub store_timeout: String,
}

/// `[cache] embedding = { ... }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbedding {
    /// `provider/model` of an embedding model, e.g. `openai/text-embedding-3-small`.
    pub provider: String,
    /// The vectors' length; sent to the provider as `dimensions`, and the
    /// size of the vector index.
    pub dimensions: usize,
}

fn default_store_timeout() -> String {
    "250ms".to_owned()
}

fn yes() -> bool {
    true
}
fn default_ttl() -> String {
    "1h".to_owned()
}
fn default_max_entries() -> usize {
    100_000
}
fn default_max_entry_bytes() -> usize {
    256 * 1024
}
fn default_max_temperature() -> f64 {
    1.0
}

impl Default for RawCache {
    fn default() -> Self {
        Self {
            enabled: false,
            semantic: true,
            shadow: false,
            threshold: default_threshold(),
            route_thresholds: BTreeMap::new(),
            confidence: None,
            route_confidence: BTreeMap::new(),
            ttl: default_ttl(),
            max_entries: default_max_entries(),
            max_entry_bytes: default_max_entry_bytes(),
            max_temperature: default_max_temperature(),
            share_across_teams: false,
            data_dir: None,
            model_dir: None,
            embedding: None,
            store: None,
            redis_url: None,
            redis_url_env: None,
            redis_prefix: None,
            vector_store: None,
            qdrant_url: None,
            qdrant_url_env: None,
            qdrant_api_key_env: None,
            qdrant_collection: None,
            store_timeout: default_store_timeout(),
        }
    }
}

/// Where questions are embedded.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingSource {
    /// all-MiniLM-L6-v2 from `model_dir`.
    Local,
    /// A provider's `/v1/embeddings`.
    Provider {
        provider: String,
        model: String,
        dimensions: usize,
    },
}

/// Shared Redis for exact entries.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: Secret,
    pub prefix: String,
}

/// Shared Qdrant for question vectors.
#[derive(Debug, Clone)]
pub struct QdrantSettings {
    pub url: String,
    pub api_key: Option<Secret>,
    pub collection: String,
}

/// Validated `[cache]`.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    pub semantic: bool,
    pub shadow: bool,
    pub threshold: f32,
    pub route_thresholds: BTreeMap<String, f32>,
    pub confidence: f32,
    pub route_confidence: BTreeMap<String, f32>,
    pub ttl: Duration,
    pub max_entries: usize,
    pub max_entry_bytes: usize,
    pub max_temperature: f64,
    pub share_across_teams: bool,
    pub data_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    pub embedding: EmbeddingSource,
    pub redis: Option<RedisSettings>,
    pub qdrant: Option<QdrantSettings>,
    pub store_timeout: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        validate(RawCache::default(), &|_| None, &mut |_, _| {})
            .unwrap_or_else(|| unreachable!("the defaults are valid"))
    }
}

impl CacheSettings {
    /// The threshold for a route (the model name as the client sent it).
    pub fn threshold_for(&self, requested_model: &str) -> f32 {
        self.route_thresholds
            .get(requested_model)
            .copied()
            .unwrap_or(self.threshold)
    }

    /// The threshold and the verifier's confidence for a route.
    pub fn bar_for(&self, requested_model: &str) -> Bar {
        Bar {
            threshold: self.threshold_for(requested_model),
            confidence: self
                .route_confidence
                .get(requested_model)
                .copied()
                .unwrap_or(self.confidence),
        }
    }
}

/// What a semantic candidate must reach to be served.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Cosine similarity of the two prompts.
    pub threshold: f32,
    /// The verifier's probability that both ask the same thing.
    pub confidence: f32,
}

fn valid_similarity(value: f32) -> bool {
    (0.0..=1.0).contains(&value)
}

/// Check `[cache]`; every problem goes to `problem(key path, message)`.
pub fn validate(
    raw: RawCache,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(String, String),
) -> Option<CacheSettings> {
    let mut ok = true;
    let mut fail = |path: &str, message: String| {
        ok = false;
        problem(format!("cache.{path}"), message);
    };
    if !valid_similarity(raw.threshold) {
        fail(
            "threshold",
            "must be a cosine similarity between 0 and 1".into(),
        );
    }
    for (path, value) in raw
        .confidence
        .iter()
        .map(|c| ("confidence".to_owned(), *c))
        .chain(
            raw.route_confidence
                .iter()
                .map(|(route, c)| (format!("route_confidence.{route}"), *c)),
        )
    {
        if !valid_similarity(value) {
            fail(&path, "must be a probability between 0 and 1".into());
        }
    }
    for (route, value) in &raw.route_thresholds {
        if !valid_similarity(*value) {
            fail(
                &format!("route_thresholds.{route}"),
                "must be a cosine similarity between 0 and 1".into(),
            );
        }
    }
    let ttl = humantime::parse_duration(&raw.ttl)
        .map_err(|_| {
            fail(
                "ttl",
                format!("`{}` is not a duration like \"1h\"", raw.ttl),
            )
        })
        .ok();
    if raw.max_entries == 0 {
        fail("max_entries", "must be at least 1".into());
    }
    if raw.max_entry_bytes == 0 {
        fail("max_entry_bytes", "must be at least 1".into());
    }
    if !(0.0..=2.0).contains(&raw.max_temperature) {
        fail("max_temperature", "must be between 0 and 2".into());
    }
    let model_dir = env("SWITCHBOARD_EMBEDDING_MODEL_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or(raw.model_dir);
    let embedding = match &raw.embedding {
        None => EmbeddingSource::Local,
        Some(RawEmbedding {
            provider,
            dimensions,
        }) => {
            if *dimensions == 0 {
                fail("embedding.dimensions", "must be at least 1".into());
            }
            match provider.split_once('/') {
                Some((id, model)) if !id.is_empty() && !model.is_empty() => {
                    EmbeddingSource::Provider {
                        provider: id.to_owned(),
                        model: model.to_owned(),
                        dimensions: *dimensions,
                    }
                }
                _ => {
                    fail(
                        "embedding.provider",
                        format!("`{provider}` is not `provider/model`"),
                    );
                    EmbeddingSource::Local
                }
            }
        }
    };
    let store_timeout = humantime::parse_duration(&raw.store_timeout)
        .map_err(|_| {
            fail(
                "store_timeout",
                format!("`{}` is not a duration like \"250ms\"", raw.store_timeout),
            )
        })
        .ok();
    let from_env = |var: &Option<String>, path: &str, fail: &mut dyn FnMut(&str, String)| {
        let var = var.as_ref()?;
        match env(var) {
            Some(value) if !value.is_empty() => Some(value),
            _ => {
                fail(path, format!("environment variable `{var}` is not set"));
                None
            }
        }
    };
    let redis_url = from_env(&raw.redis_url_env, "redis_url_env", &mut fail).or(raw.redis_url);
    let redis = match raw.store.as_deref() {
        None | Some("memory") => None,
        Some("redis") => match redis_url {
            Some(url) if redis::Client::open(url.as_str()).is_ok() => Some(RedisSettings {
                url: Secret::new(url),
                prefix: raw.redis_prefix.unwrap_or_else(|| "switchboard".to_owned()),
            }),
            Some(_) => {
                fail(
                    "redis_url",
                    "is not a Redis URL like redis://127.0.0.1:6379/0".into(),
                );
                None
            }
            None => {
                fail(
                    "redis_url",
                    "set `redis_url` or `redis_url_env` for `store = \"redis\"`".into(),
                );
                None
            }
        },
        Some(other) => {
            fail("store", format!("`{other}` is not \"memory\" or \"redis\""));
            None
        }
    };
    let qdrant_url = from_env(&raw.qdrant_url_env, "qdrant_url_env", &mut fail).or(raw.qdrant_url);
    let qdrant_api_key = from_env(&raw.qdrant_api_key_env, "qdrant_api_key_env", &mut fail);
    let qdrant = match raw.vector_store.as_deref() {
        None | Some("local") => None,
        Some("qdrant") => {
            if raw.store.as_deref() != Some("redis") {
                fail(
                    "vector_store",
                    "`qdrant` needs `store = \"redis\"`: replicas find the entries there".into(),
                );
            }
            match qdrant_url {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    Some(QdrantSettings {
                        url,
                        api_key: qdrant_api_key.map(Secret::new),
                        collection: raw
                            .qdrant_collection
                            .unwrap_or_else(|| "switchboard_cache".to_owned()),
                    })
                }
                Some(_) => {
                    fail(
                        "qdrant_url",
                        "is not a gRPC URL like http://127.0.0.1:6334".into(),
                    );
                    None
                }
                None => {
                    fail(
                        "qdrant_url",
                        "set `qdrant_url` or `qdrant_url_env` for `vector_store = \"qdrant\"`"
                            .into(),
                    );
                    None
                }
            }
        }
        Some(other) => {
            fail(
                "vector_store",
                format!("`{other}` is not \"local\" or \"qdrant\""),
            );
            None
        }
    };
    let ttl = ttl?;
    let store_timeout = store_timeout?;
    ok.then_some(CacheSettings {
        enabled: raw.enabled,
        semantic: raw.semantic,
        shadow: raw.shadow,
        threshold: raw.threshold,
        route_thresholds: raw.route_thresholds,
        confidence: raw
            .confidence
            .unwrap_or(super::verify::Scorer::shipped().confidence),
        route_confidence: raw.route_confidence,
        ttl,
        max_entries: raw.max_entries,
        max_entry_bytes: raw.max_entry_bytes,
        max_temperature: raw.max_temperature,
        share_across_teams: raw.share_across_teams,
        data_dir: raw.data_dir,
        model_dir,
        embedding,
        redis,
        qdrant,
        store_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_text: &str) -> Vec<String> {
        let raw: RawCache = toml::from_str(toml_text).expect("parses");
        let mut found = Vec::new();
        validate(raw, &|_| None, &mut |path, _| found.push(path));
        found
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(problems("enabled = true").is_empty());
        assert_eq!(problems("threshold = 1.5"), ["cache.threshold"]);
        assert_eq!(problems("ttl = \"soon\""), ["cache.ttl"]);
        assert_eq!(problems("max_entries = 0"), ["cache.max_entries"]);
        assert_eq!(problems("max_temperature = 3.0"), ["cache.max_temperature"]);
        assert_eq!(
            problems("[route_thresholds]\nfast = -0.1"),
            ["cache.route_thresholds.fast"]
        );
    }

    #[test]
    fn shared_stores_and_provider_embeddings_are_checked() {
        assert_eq!(problems("store = \"redis\""), ["cache.redis_url"]);
        assert_eq!(problems("store = \"disk\""), ["cache.store"]);
        assert_eq!(
            problems("store = \"redis\"\nredis_url = \"nope\""),
            ["cache.redis_url"]
        );
        assert_eq!(
            problems("vector_store = \"qdrant\"\nqdrant_url = \"http://q:6334\""),
            ["cache.vector_store"]
        );
        assert_eq!(
            problems("store = \"redis\"\nredis_url = \"redis://r\"\nvector_store = \"qdrant\""),
            ["cache.qdrant_url"]
        );
        assert_eq!(
            problems("embedding = { provider = \"openai\", dimensions = 8 }"),
            ["cache.embedding.provider"]
        );
        assert_eq!(
            problems("embedding = { provider = \"openai/m\", dimensions = 0 }"),
            ["cache.embedding.dimensions"]
        );
        assert_eq!(
            problems("store_timeout = \"later\""),
            ["cache.store_timeout"]
        );
        let raw: RawCache = toml::from_str(
            "store = \"redis\"\nredis_url_env = \"R\"\nvector_store = \"qdrant\"\n\
             qdrant_url = \"http://q:6334\"\nembedding = { provider = \"openai/e-3\", dimensions = 64 }",
        )
        .unwrap();
        let settings = validate(
            raw,
            &|name| (name == "R").then(|| "redis://10.0.0.1/2".to_owned()),
            &mut |path, message| panic!("{path}: {message}"),
        )
        .unwrap();
        assert_eq!(
            settings.redis.map(|r| r.url.expose().to_owned()).as_deref(),
            Some("redis://10.0.0.1/2")
        );
        assert_eq!(
            settings.qdrant.map(|q| q.collection).as_deref(),
            Some("switchboard_cache")
        );
        assert_eq!(
            settings.embedding,
            EmbeddingSource::Provider {
                provider: "openai".into(),
                model: "e-3".into(),
                dimensions: 64
            }
        );
    }

    #[test]
    fn route_threshold_overrides_the_default() {
        let raw: RawCache = toml::from_str("[route_thresholds]\nfast = 0.9").unwrap();
        let settings = validate(raw, &|_| None, &mut |_, _| {}).unwrap();
        assert_eq!(settings.threshold_for("fast"), 0.9);
        assert_eq!(settings.threshold_for("echo"), default_threshold());
    }

    #[test]
    fn the_env_names_the_model_dir() {
        let settings = validate(
            RawCache::default(),
            &|name| (name == "SWITCHBOARD_EMBEDDING_MODEL_DIR").then(|| "/m".to_owned()),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(settings.model_dir, Some(PathBuf::from("/m")));
    }
}
