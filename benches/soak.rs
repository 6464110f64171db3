//! A soak run: mixed traffic through the release binary for a long time,
//! to see that nothing grows which should not. The gateway's resident
//! memory and open file descriptors are sampled as it runs; the traffic
//! keeps adding what a client can add (new cache entries past the cache's
//! bound, new end users past their idle expiry, streams, refusals), so a
//! structure without a bound shows up as a climb.
//!
//! `cargo bench --bench soak` (env: SOAK_SECONDS, default 1800;
//! SOAK_CONNECTIONS, default 16). Not part of the test suite. Prints a
//! Markdown report and writes it to `target/soak-report.md`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;
use process::{cpu_model, env_u64, open_files, rss_kib, start_gateway, start_mock_upstream};

const KEY: &str = "sk-soak-gateway-0123456789";

/// The kinds of request in the mix, and the status each must get.
const KINDS: &[(&str, u16)] = &[
    ("new question (a cache miss, stored)", 200),
    ("repeated question (a cache hit)", 200),
    ("streamed answer", 200),
    ("prompt with PII (redacted, restored)", 200),
    ("embeddings", 200),
    ("malformed JSON", 400),
    ("unknown key", 401),
];

struct Counts {
    by_kind: Vec<AtomicU64>,
    unexpected: Vec<AtomicU64>,
}

fn body(kind: usize, n: u64) -> (String, &'static str) {
    let chat = |content: String, stream: bool| {
        serde_json::json!({
            "model": "fast",
            "stream": stream,
            "user": format!("end-user-{}", n % 50_000),
            "messages": [{"role": "user", "content": content}],
        })
        .to_string()
    };
    match kind {
        0 => (chat(format!("Question number {n}: what is {n} squared?"), false), "/v1/chat/completions"),
        1 => (chat("What is the capital of France?".to_owned(), false), "/v1/chat/completions"),
        2 => (chat(format!("Tell me a story about the number {n}."), true), "/v1/chat/completions"),
        3 => (
            chat(format!("Email jane.doe{n}@example.com about order {n}."), false),
            "/v1/chat/completions",
        ),
        4 => (
            serde_json::json!({"model": "openai/text-embedding-3-small", "input": format!("text {n}")})
                .to_string(),
            "/v1/embeddings",
        ),
        5 => ("{\"model\": \"fast\", \"messages\": [".to_owned(), "/v1/chat/completions"),
        _ => (chat("hello".to_owned(), false), "/v1/chat/completions"),
    }
}

fn main() {
    switchboard::install_crypto_provider();
    let seconds = env_u64("SOAK_SECONDS", 1800);
    let connections = env_u64("SOAK_CONNECTIONS", 16);
    let sample_every = Duration::from_secs((seconds / 10).clamp(1, 60));
    let (_upstream, upstream_addr) = start_mock_upstream();
    let dir = std::env::temp_dir().join(format!("switchboard-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    let hash = hex::encode(switchboard::auth::hash_key(KEY));
    std::fs::write(
        &config,
        format!(
            "[[teams]]\nid = \"soak\"\n[teams.user_limits]\nrequests_per_minute = 1000000\n\
             [[keys]]\nid = \"soak\"\nteam = \"soak\"\nhash = \"sha256:{hash}\"\n\
             [aliases]\nfast = \"openai/gpt-4o-mini\"\n\
             [providers.openai]\nallow_unlisted_models = true\n\
             [cache]\nenabled = true\nsemantic = false\nmax_entries = 2000\n\
             [[guardrails.bindings]]\nteam = \"soak\"\npacks = [\"pii\"]\n"
        ),
    )
    .unwrap();
    let (gateway, gateway_addr) = start_gateway(&config, upstream_addr, "warn");
    let pid = gateway.0.id();
    let base = format!("http://{gateway_addr}");
    let counts = Arc::new(Counts {
        by_kind: KINDS.iter().map(|_| AtomicU64::new(0)).collect(),
        unexpected: KINDS.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut samples: Vec<(u64, u64, u64, usize)> = Vec::new();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for worker in 0..connections {
            let (client, base) = (client.clone(), base.clone());
            let (counts, stop, served) = (counts.clone(), stop.clone(), served.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = worker * 1_000_000_000;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let kind = (n % KINDS.len() as u64) as usize;
                    let (text, path) = body(kind, n);
                    let key = if kind == 6 {
                        "sk-not-a-key-0123456789"
                    } else {
                        KEY
                    };
                    let status = match client
                        .post(format!("{base}{path}"))
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(text)
                        .send()
                        .await
                    {
                        // The whole body, streams included.
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    counts.by_kind[kind].fetch_add(1, Ordering::Relaxed);
                    if status != KINDS[kind].1 {
                        counts.unexpected[kind].fetch_add(1, Ordering::Relaxed);
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let started = Instant::now();
        samples.push((0, 0, rss_kib(pid), open_files(pid)));
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(sample_every).await;
            samples.push((
                started.elapsed().as_secs(),
                served.load(Ordering::Relaxed),
                rss_kib(pid),
                open_files(pid),
            ));
        }
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
    });

    let mut report = format!(
        "Machine: {} cores, {}; gateway, mock upstream and clients on one host.\n\n\
         ### Soak: {seconds} s of mixed traffic, {connections} connections\n\n\
         | time | requests so far | gateway RSS | open files |\n| --- | --- | --- | --- |\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model()
    );
    for (at, requests, rss, files) in &samples {
        report += &format!(
            "| {at} s | {requests} | {:.1} MB | {files} |\n",
            *rss as f64 / 1024.0
        );
    }
    report += "\n| request kind | sent | unexpected status |\n| --- | --- | --- |\n";
    for (index, (kind, _)) in KINDS.iter().enumerate() {
        report += &format!(
            "| {kind} | {} | {} |\n",
            counts.by_kind[index].load(Ordering::Relaxed),
            counts.unexpected[index].load(Ordering::Relaxed)
        );
    }
    print!("{report}");
    let _ = std::io::stdout().flush();
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/soak-report.md"),
        &report,
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(dir);
}
