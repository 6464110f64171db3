//! Prompt templates under reload and in the metrics: the config reload
//! reads `prompts_dir` again (a new version is served at once, a broken
//! template refuses the reload and the old set keeps serving), and every
//! render is counted by template, version and outcome, with label values
//! from the loaded templates only.

use crate::harness::{ALPHA_KEY, config_text, get_text};
use serde_json::json;
use std::path::{Path, PathBuf};
use switchboard::gateway::Gateway;
use switchboard::reload::{ConfigSource, reload};
use switchboard::server::{self, RunningServer};

fn template(version: u32, text: &str) -> String {
    format!(
        "name = \"greet\"\nversion = {version}\ndescription = \"Greets someone.\"\n\
         template = \"{text}\"\n[[variables]]\nname = \"who\"\n"
    )
}

fn read_config(path: &Path) -> switchboard::config::Config {
    let text = std::fs::read_to_string(path).expect("the config file");
    switchboard::config::load_str("gateway.toml", &text, None, path.parent().unwrap())
        .expect("the config is valid")
}

struct Setup {
    _dir: tempfile::TempDir,
    prompts: PathBuf,
    source: ConfigSource,
    server: RunningServer,
    client: reqwest::Client,
}

impl Setup {
    async fn start() -> Self {
        switchboard::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let prompts = dir.path().join("prompts");
        std::fs::create_dir(&prompts).unwrap();
        std::fs::write(prompts.join("greet.toml"), template(1, "Greet {{ who }}.")).unwrap();
        let text = config_text("").replace(
            "max_body_bytes = 1048576",
            "max_body_bytes = 1048576\nprompts_dir = \"prompts\"",
        );
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        // The built-in `mock` provider serves `echo`: no environment, so a
        // reload (which reads the process's) builds the same providers.
        let gateway =
            Gateway::build_with_env(read_config(&path), &|_| None).expect("gateway builds");
        let server = server::spawn(gateway, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("gateway binds");
        let read_from = path.clone();
        let source = ConfigSource {
            path: Some(path),
            read: Box::new(move || Ok(read_config(&read_from))),
        };
        Self {
            _dir: dir,
            prompts,
            source,
            server,
            client: reqwest::Client::new(),
        }
    }

    /// A chat request for `echo` naming prompt `id`; the status.
    async fn render(&self, id: &str) -> u16 {
        let body = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}],
                          "prompt": {"id": id, "variables": {"who": "Ada"}}});
        self.client
            .post(format!("http://{}/v1/chat/completions", self.server.addr))
            .bearer_auth(ALPHA_KEY)
            .body(body.to_string())
            .send()
            .await
            .expect("the gateway answers")
            .status()
            .as_u16()
    }

    async fn metrics(&self) -> String {
        get_text(
            &self.client,
            &format!("http://{}/metrics", self.server.addr),
        )
        .await
    }

    /// The value of the series `name{labels}`, 0 when absent.
    async fn value(&self, series: &str) -> u64 {
        self.metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    }
}

fn renders(prompt: &str, version: &str, outcome: &str) -> String {
    format!(
        "switchboard_prompt_renders_total{{prompt=\"{prompt}\",version=\"{version}\",outcome=\"{outcome}\"}}"
    )
}

#[tokio::test]
async fn renders_are_counted_per_loaded_template() {
    let setup = Setup::start().await;
    assert_eq!(setup.render("greet").await, 200);
    assert_eq!(setup.render("greet").await, 200);
    assert_eq!(setup.render("made-up-by-a-client").await, 404);
    assert_eq!(setup.value(&renders("greet", "1", "ok")).await, 2);
    assert_eq!(
        setup
            .value(&renders("(unknown)", "(unknown)", "not_found"))
            .await,
        1
    );
    let text = setup.metrics().await;
    assert!(!text.contains("made-up-by-a-client"), "{text}");
}

#[tokio::test]
async fn a_reload_reads_the_templates_again_and_refuses_a_broken_one() {
    let setup = Setup::start().await;
    let gateway = &setup.server.gateway;
    assert_eq!(setup.render("greet").await, 200);

    // A new version: served once the reload is applied.
    std::fs::write(
        setup.prompts.join("greet-v2.toml"),
        template(2, "Say hello to {{ who }}."),
    )
    .unwrap();
    reload(gateway, &setup.source).await;
    assert_eq!(gateway.reloads.applied.get(), 1);
    assert_eq!(setup.render("greet").await, 200);
    assert_eq!(setup.value(&renders("greet", "2", "ok")).await, 1);
    let templates = gateway.mcp.templates.load();
    let latest: Vec<u32> = templates.latest().map(|prompt| prompt.version).collect();
    assert_eq!(latest, [2, 1], "greet@2 and the built-in summarize@1");

    // A broken template: the reload is refused and the old set serves on.
    std::fs::write(setup.prompts.join("greet-v3.toml"), template(3, "{{ who")).unwrap();
    reload(gateway, &setup.source).await;
    assert_eq!(gateway.reloads.refused.get(), 1);
    assert_eq!(setup.render("greet").await, 200);
    assert_eq!(setup.value(&renders("greet", "2", "ok")).await, 2);
    assert_eq!(setup.value(&renders("greet", "3", "ok")).await, 0);
    assert!(
        gateway
            .prompts
            .load()
            .render("greet", Some("3"), &Default::default())
            .is_err()
    );
}
