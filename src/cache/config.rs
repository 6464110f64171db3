//! The `[cache]` section: raw shape (the doc comments are the reference) and
//! its validation into typed settings.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Cosine similarity a semantic candidate must reach before the verifier
/// looks at it. Chosen on the evaluation set in `tests/data/cache_eval.tsv`:
/// the verifier, not this number, is what keeps near-misses out.
pub const DEFAULT_THRESHOLD: f32 = 0.80;

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
    /// verified and may be served. Default: 0.80.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-route thresholds, keyed by the public model name the client sends
    /// (an alias or `provider/model`), e.g. `"fast" = 0.9`.
    #[serde(default)]
    pub route_thresholds: BTreeMap<String, f32>,
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
}

fn yes() -> bool {
    true
}
fn default_threshold() -> f32 {
    DEFAULT_THRESHOLD
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
            threshold: DEFAULT_THRESHOLD,
            route_thresholds: BTreeMap::new(),
            ttl: default_ttl(),
            max_entries: default_max_entries(),
            max_entry_bytes: default_max_entry_bytes(),
            max_temperature: default_max_temperature(),
            share_across_teams: false,
            data_dir: None,
            model_dir: None,
        }
    }
}

/// Validated `[cache]`.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    pub semantic: bool,
    pub shadow: bool,
    pub threshold: f32,
    pub route_thresholds: BTreeMap<String, f32>,
    pub ttl: Duration,
    pub max_entries: usize,
    pub max_entry_bytes: usize,
    pub max_temperature: f64,
    pub share_across_teams: bool,
    pub data_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
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
    let ttl = ttl?;
    ok.then_some(CacheSettings {
        enabled: raw.enabled,
        semantic: raw.semantic,
        shadow: raw.shadow,
        threshold: raw.threshold,
        route_thresholds: raw.route_thresholds,
        ttl,
        max_entries: raw.max_entries,
        max_entry_bytes: raw.max_entry_bytes,
        max_temperature: raw.max_temperature,
        share_across_teams: raw.share_across_teams,
        data_dir: raw.data_dir,
        model_dir,
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
    fn route_threshold_overrides_the_default() {
        let raw: RawCache = toml::from_str("[route_thresholds]\nfast = 0.9").unwrap();
        let settings = validate(raw, &|_| None, &mut |_, _| {}).unwrap();
        assert_eq!(settings.threshold_for("fast"), 0.9);
        assert_eq!(settings.threshold_for("echo"), DEFAULT_THRESHOLD);
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
