//! Resolution and the cross-checks made when the router is built.

use super::breaker::BreakerState;
use super::*;
use crate::catalog::Catalog;
use crate::config::load_str;
use std::path::Path;
use tokio::time::Instant;

const TEAMS: &str = r#"
[[teams]]
id = "all"
[[teams]]
id = "canonical-only"
models = ["openai/gpt-4o-mini"]
[[teams]]
id = "by-name"
models = ["smart"]
"#;

fn build(extra: &str) -> Result<Router, Vec<String>> {
    let text = format!("{TEAMS}\n[providers.openai]\nallow_unlisted_models = true\n{extra}");
    let config = load_str("t.toml", &text, None, Path::new(".")).map_err(|e| {
        e.problems
            .into_iter()
            .map(|(path, _)| path)
            .collect::<Vec<_>>()
    })?;
    let catalog = Catalog::load(None).expect("catalog");
    crate::install_crypto_provider();
    let client = reqwest::Client::new();
    let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let providers = Providers::build(&catalog, &config.providers, &config.upstream, &client, &env)
        .expect("providers");
    Router::new(config.routing(), providers)
        .map_err(|e| e.problems.into_iter().map(|(p, _)| p).collect())
}

fn team(router_config: &str, id: &str) -> Team {
    let text = format!("{TEAMS}\n{router_config}");
    let config = load_str("t.toml", &text, None, Path::new(".")).unwrap();
    config.teams.into_iter().find(|t| &*t.id == id).unwrap()
}

const SMART: &str = r#"
[routes.smart]
strategy = "priority"
targets = [
  { model = "openai/gpt-4o", priority = 1 },
  { model = "openai/gpt-4o-mini", priority = 2 },
  { model = "mock/echo", priority = 3 },
]
timeouts = { connect = "1s", first_token = "2s", total = "30s" }
retries = { attempts = 3, backoff = "100ms", max_backoff = "1s" }
"#;

#[test]
fn config_problems_name_their_key_paths() {
    let check = |extra: &str, expected: &[&str]| {
        let paths = build(extra).err().unwrap_or_default();
        assert_eq!(paths, expected, "{extra}");
    };
    check(SMART, &[]);
    check(
        "[routes.r]\ntargets = [{ model = \"nobody/x\" }]",
        &["routes.r.targets[0].model"],
    );
    check(
        "[routes.r]\ntargets = [{ model = \"mock/echo\" }, { model = \"mock/embed\" }]",
        &["routes.r.targets"],
    );
    check(
        "[routes.r]\nstrategy = \"fastest\"\ntargets = []",
        &["routes.r.strategy", "routes.r.targets"],
    );
    check(
        "[routes.r]\ntargets = [{ model = \"gpt\" }, { model = \"mock/echo\" }, { model = \"mock/echo\" }]",
        &["routes.r.targets[0].model", "routes.r.targets[2].model"],
    );
    check(
        "[routes.r]\ntargets = [{ model = \"mock/echo\" }]\ntimeouts = { first_token = \"9s\", total = \"1s\" }\nretries = { attempts = 0, backoff = \"soon\" }",
        &[
            "routes.r.timeouts.first_token",
            "routes.r.retries.attempts",
            "routes.r.retries.backoff",
        ],
    );
    check(
        "[aliases]\nr = \"mock/echo\"\n[routes.r]\ntargets = [{ model = \"mock/echo\" }]",
        &["routes.r"],
    );
    check(
        "[routes.r]\nstrategy = \"weighted\"\ntargets = [{ model = \"mock/echo\", weight = 0 }]",
        &["routes.r.targets"],
    );
    check(
        "[breaker]\nerror_ratio = 1.5\nconsecutive_failures = 0\ncool_down = \"0s\"",
        &[
            "breaker.consecutive_failures",
            "breaker.error_ratio",
            "breaker.cool_down",
        ],
    );
    check("[admin]\nhash = \"md5:x\"", &["admin.hash"]);
    check(
        "[admin]\nkey_env = \"NOT_SET_ANYWHERE\"",
        &["admin.key_env"],
    );
}

#[test]
fn routes_resolve_with_their_settings() {
    let router = build(SMART).unwrap();
    let all = team("", "all");
    let route = router
        .resolve_route("smart", &all, ModelKind::Chat)
        .unwrap();
    assert_eq!(route.targets.len(), 3);
    assert_eq!(&*route.primary().canonical, "openai/gpt-4o");
    assert_eq!(&*route.primary().public_name, "smart");
    assert_eq!(route.first_token, Some(Duration::from_secs(2)));
    assert_eq!(route.retries.attempts, 3);
    assert!(route.counts_prompt, "context windows differ");
    // Targets share health with their canonical names.
    let direct = router
        .resolve_route("openai/gpt-4o", &all, ModelKind::Chat)
        .unwrap();
    assert!(Arc::ptr_eq(
        &direct.targets[0].target.health,
        &route.targets[0].target.health
    ));
    // Aliases stay single-target routes with default retries.
    let single = router
        .resolve_route("openai/gpt-4o-mini", &all, ModelKind::Chat)
        .unwrap();
    assert_eq!(single.retries, RetrySettings::default());
    assert!(!single.counts_prompt);
}

#[test]
fn team_policy_applies_to_the_name_and_to_canonical_names() {
    let router = build(SMART).unwrap();
    let by_name = team("", "by-name");
    let route = router
        .resolve_route("smart", &by_name, ModelKind::Chat)
        .unwrap();
    assert_eq!(route.targets.len(), 3, "the route name allows every target");
    let canonical_only = team("", "canonical-only");
    let route = router
        .resolve_route("smart", &canonical_only, ModelKind::Chat)
        .unwrap();
    let names: Vec<&str> = route.targets.iter().map(|t| &*t.target.canonical).collect();
    assert_eq!(
        names,
        ["openai/gpt-4o-mini"],
        "only the allowed target is left"
    );
    assert!(matches!(
        router.resolve_route("openai/gpt-4o", &canonical_only, ModelKind::Chat),
        Err(GatewayError::Forbidden { .. })
    ));
    let names: Vec<&str> = router
        .visible_models(&by_name)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["smart"]);
}

#[test]
fn endpoint_kind_is_checked_on_routes() {
    let router = build(SMART).unwrap();
    let all = team("", "all");
    assert!(matches!(
        router.resolve_route("smart", &all, ModelKind::Embedding),
        Err(GatewayError::InvalidRequest { .. })
    ));
}

#[test]
fn a_route_connect_timeout_gets_providers_over_its_own_client() {
    let text = format!(
        "{TEAMS}\n[providers.openai]\nallow_unlisted_models = true\n{SMART}\n[routes.other]\ntargets = [{{ model = \"openai/gpt-4o\" }}]\ntimeouts = {{ connect = \"1s\" }}"
    );
    let config = load_str("t.toml", &text, None, Path::new(".")).unwrap();
    let catalog = Catalog::load(None).unwrap();
    crate::install_crypto_provider();
    let client = reqwest::Client::new();
    let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let providers =
        Providers::build(&catalog, &config.providers, &config.upstream, &client, &env).unwrap();
    let asked = std::cell::RefCell::new(Vec::new());
    let with_connect = |connect: Duration| {
        asked.borrow_mut().push(connect);
        Providers::build(&catalog, &config.providers, &config.upstream, &client, &env).map(Some)
    };
    let router = Router::new_with(config.routing(), providers, &with_connect).unwrap();
    assert_eq!(
        *asked.borrow(),
        [Duration::from_secs(1)],
        "one client per distinct timeout"
    );
    let all = team("", "all");
    let routed = router
        .resolve_route("smart", &all, ModelKind::Chat)
        .unwrap();
    let direct = router
        .resolve_route("openai/gpt-4o", &all, ModelKind::Chat)
        .unwrap();
    let (routed, direct) = (&routed.targets[0].target, &direct.targets[0].target);
    assert!(!Arc::ptr_eq(&routed.provider, &direct.provider));
    assert!(
        Arc::ptr_eq(&routed.health, &direct.health),
        "health stays per target"
    );
}

#[test]
fn a_rebuilt_router_keeps_each_shared_targets_breaker() {
    let config = |breaker: &str| {
        let text = format!(
            "{TEAMS}\n[providers.openai]\nallow_unlisted_models = true\n[breaker]\nconsecutive_failures = 2\n{breaker}"
        );
        load_str("t.toml", &text, None, Path::new(".")).unwrap()
    };
    let router_for = |config: &crate::config::Config, previous: Option<&Router>| {
        let catalog = Catalog::load(None).expect("catalog");
        crate::install_crypto_provider();
        let client = reqwest::Client::new();
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
        let providers =
            Providers::build(&catalog, &config.providers, &config.upstream, &client, &env).unwrap();
        match previous {
            Some(previous) => {
                Router::carrying_health(config.routing(), providers, &|_| Ok(None), previous)
            }
            None => Router::new(config.routing(), providers),
        }
        .unwrap()
    };
    let all = team("", "all");
    let breaker = |router: &Router| {
        router
            .resolve("openai/gpt-4o-mini", &all, ModelKind::Chat)
            .unwrap()
            .health
            .breaker
            .state(Instant::now())
    };
    let first = router_for(&config(""), None);
    let health = first
        .resolve("openai/gpt-4o-mini", &all, ModelKind::Chat)
        .unwrap()
        .health;
    health.breaker.on_failure(Instant::now());
    health.breaker.on_failure(Instant::now());
    assert_eq!(breaker(&first), BreakerState::Open);
    // Same breaker settings: the open breaker survives the rebuild.
    let second = router_for(&config(""), Some(&first));
    assert_eq!(breaker(&second), BreakerState::Open);
    // Other breaker settings: every target starts afresh under them.
    let third = router_for(&config("cool_down = \"5s\""), Some(&second));
    assert_eq!(breaker(&third), BreakerState::Closed);
}
