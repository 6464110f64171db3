//! The real `switchboard serve` binary as a child process, for tests that
//! need several gateways or a `kill -9`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct GatewayProcess {
    child: Child,
    pub base: String,
    /// What the gateway has logged so far (its stderr, also echoed to the test's).
    logs: std::sync::Arc<parking_lot::Mutex<String>>,
}

impl GatewayProcess {
    /// Starts `switchboard serve --config <config>` with the mock upstream's
    /// address in the environment, and waits for its ready line.
    pub async fn start(config: &Path, upstream_base_url: &str) -> Self {
        Self::start_with_env(config, upstream_base_url, &[]).await
    }

    /// [`GatewayProcess::start`] with `env` set on top of the test's own
    /// environment.
    pub async fn start_with_env(
        config: &Path,
        upstream_base_url: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("OPENAI_BASE_URL", upstream_base_url)
            .env("OPENAI_API_KEY", super::harness::UPSTREAM_KEY)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the gateway binary starts");
        let logs = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                let mut logs = sink.lock();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("stdout reads") {
                if let Some(address) = line.strip_prefix("switchboard listening on ") {
                    return address.trim().to_owned();
                }
            }
            panic!("the gateway exited before it was ready");
        })
        .await
        .expect("the gateway is ready within 30 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base: ready,
            logs,
        }
    }

    /// Everything the gateway has logged so far.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the gateway is running")
    }

    pub fn logs(&self) -> String {
        self.logs.lock().clone()
    }

    /// Waits (with a deadline) until the log shows `needle`: the gateway
    /// writes its log lines in batches, and they are read on another task,
    /// so a line may trail the response or counter that caused it.
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.logs().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "no `{needle}` in the log: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then wait for the exit: the graceful shutdown runs.
    pub async fn terminate(self) {
        self.send_sigterm();
        self.wait_for_clean_exit().await;
    }

    /// SIGTERM, without waiting: the graceful shutdown starts.
    pub fn send_sigterm(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM is sent");
    }

    /// Waits (at most 30 s) for the gateway to exit, cleanly.
    pub async fn wait_for_clean_exit(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the gateway exits within 30 s of SIGTERM")
            .expect("the gateway exits");
        assert!(
            status.success(),
            "a graceful shutdown exits cleanly: {status}"
        );
    }

    /// SIGKILL: no shutdown handler runs, nothing is flushed.
    pub async fn kill_9(mut self) {
        self.child.start_kill().expect("kill is sent");
        self.child.wait().await.expect("the gateway exits");
    }
}

/// A temporary folder holding a config file.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("config is written");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
