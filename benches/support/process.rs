//! The release binary as a child process, for the whole-process benches
//! (`load.rs`, `soak.rs`), and what it uses of the machine.

// Each bench uses a different part of this file.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the gateway binary and wait for its `... listening on http://ADDR`
/// line.
pub fn start(args: &[&str], env: &[(&str, String)]) -> (Proc, SocketAddr) {
    start_program(Path::new(env!("CARGO_BIN_EXE_switchboard")), args, env)
}

/// The mock upstream as its own process on a free loopback port. Its binary
/// belongs to another workspace member, so it is built here (a no-op when
/// fresh) beside the gateway's.
pub fn start_mock_upstream() -> (Proc, SocketAddr) {
    let gateway = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "switchboard-mock-upstream",
        ])
        .status()
        .expect("run cargo to build the mock upstream");
    assert!(status.success(), "building the mock upstream failed");
    let mock = gateway.with_file_name("mock-upstream");
    start_program(&mock, &["--listen", "127.0.0.1:0"], &[])
}

fn start_program(program: &Path, args: &[&str], env: &[(&str, String)]) -> (Proc, SocketAddr) {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", program.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (Proc(child), addr)
}

/// The mock upstream's key (`mock-upstream`'s default).
pub const UPSTREAM_KEY: &str = "sk-upstream-test";

/// `switchboard serve --config <config>` on a free loopback port, in front
/// of the mock upstream at `upstream`, logging at `level`.
pub fn start_gateway(config: &Path, upstream: SocketAddr, level: &str) -> (Proc, SocketAddr) {
    start(
        &[
            "serve",
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("OPENAI_BASE_URL", format!("http://{upstream}/v1")),
            ("OPENAI_API_KEY", UPSTREAM_KEY.to_owned()),
            ("RUST_LOG", level.to_owned()),
        ],
    )
}

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Open file descriptors of `pid` (sockets, files, pipes).
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
