//! Whole-process load run: the mock upstream and the gateway run as separate
//! processes (the release binary), and this program drives both, so that the
//! same run reports direct-to-upstream and through-the-gateway numbers.
//!
//! `cargo bench --bench load` (env: LOAD_SECONDS, default 10; LOAD_CONNECTIONS, default 64;
//! LOAD_EXTRA_CONFIG, TOML appended to the gateway's config, to compare settings).
//! Prints a Markdown report and writes it to `target/load-report.md`.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[path = "support/process.rs"]
mod process;
use process::{UPSTREAM_KEY, cpu_model, env_u64, rss_kib, start_gateway, start_mock_upstream};

const GATEWAY_KEY: &str = "sk-bench-gateway";

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    path: &'static str,
    key: &'static str,
    body: Bytes,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// One request; returns (time to first body byte, time to last byte).
async fn one(sender: &mut Sender, target: &Target) -> (Duration, Duration) {
    let started = Instant::now();
    let request = Request::post(target.path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", target.key))
        .body(Full::new(target.body.clone()))
        .unwrap();
    sender.ready().await.expect("ready");
    let response = sender.send_request(request).await.expect("response");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let mut body = response.into_body();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        frame.expect("body frame");
        first.get_or_insert_with(|| started.elapsed());
    }
    (
        first.unwrap_or_else(|| started.elapsed()),
        started.elapsed(),
    )
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

struct Result {
    requests: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

fn summarize(h: &Histogram<u64>, elapsed: Duration) -> Result {
    Result {
        requests: h.len(),
        rps: h.len() as f64 / elapsed.as_secs_f64(),
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
    }
}

/// Closed loop: `connections` clients, each sending the next request as soon as the last one is done.
async fn closed_loop(target: &Target, connections: usize, seconds: u64) -> Result {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, stop) = (target.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(target.addr).await;
            let mut h = histogram();
            while !stop.load(Ordering::Relaxed) {
                let (_, total) = one(&mut sender, &target).await;
                h.record(total.as_micros() as u64).unwrap();
            }
            h
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = histogram();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    summarize(&all, started.elapsed())
}

/// Open loop at a fixed rate; latency is measured from each request's
/// scheduled start, so a stall is not hidden (no coordinated omission).
/// `first_byte` measures to the first body byte instead of the last.
async fn fixed_rate(
    target: &Target,
    rate: u64,
    seconds: u64,
    connections: usize,
    first_byte: bool,
) -> Result {
    let (tx, rx) = async_channel(connections * 4);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, rx) = (target.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(target.addr).await;
            let mut h = histogram();
            while let Ok(scheduled) = rx.recv().await {
                let (ttfb, total) = one(&mut sender, &target).await;
                let queued = scheduled.elapsed().saturating_sub(total);
                let measured = if first_byte { ttfb } else { total };
                h.record((queued + measured).as_micros() as u64).unwrap();
            }
            h
        }));
    }
    drop(rx);
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * seconds;
    // The schedule runs on a thread of its own: tokio's timer ticks in whole
    // milliseconds, which would add up to 1 ms of the generator's own
    // lateness to every request and drown sub-millisecond differences.
    let schedule = std::thread::spawn(move || {
        for n in 0..total {
            let at = started + interval * n as u32;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if tx.blocking_send(at).is_err() {
                break;
            }
        }
    });
    tokio::task::spawn_blocking(move || schedule.join())
        .await
        .unwrap()
        .unwrap();
    let mut all = histogram();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    summarize(&all, started.elapsed())
}

/// A tiny multi-consumer channel over tokio's mpsc, so the bench needs no extra crate.
fn async_channel(capacity: usize) -> (tokio::sync::mpsc::Sender<Instant>, SharedReceiver) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    (tx, SharedReceiver(Arc::new(tokio::sync::Mutex::new(rx))))
}

#[derive(Clone)]
struct SharedReceiver(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>);

impl SharedReceiver {
    async fn recv(&self) -> std::result::Result<Instant, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}

fn chat_body(model: &str, stream: bool) -> Bytes {
    // About 1 KB, like a short prompt with a system message.
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(18);
    Bytes::from(
        serde_json::json!({
            "model": model,
            "stream": stream,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": filler},
            ],
            "temperature": 0.2,
        })
        .to_string(),
    )
}

fn main() {
    switchboard::install_crypto_provider();
    let seconds = env_u64("LOAD_SECONDS", 10);
    let connections = env_u64("LOAD_CONNECTIONS", 64) as usize;
    let (upstream, upstream_addr) = start_mock_upstream();
    let config =
        std::env::temp_dir().join(format!("switchboard-bench-{}.toml", std::process::id()));
    let hash = hex::encode(switchboard::auth::hash_key(GATEWAY_KEY));
    let extra = std::env::var("LOAD_EXTRA_CONFIG").unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[[teams]]\nid = \"bench\"\n[[keys]]\nid = \"bench\"\nteam = \"bench\"\nhash = \"sha256:{hash}\"\n[aliases]\nfast = \"openai/gpt-4o-mini\"\n{extra}\n"
        ),
    )
    .unwrap();
    let (gateway, gateway_addr) = start_gateway(&config, upstream_addr, "info");
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss_kib(gateway.0.id());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let direct = |stream| Target {
        addr: upstream_addr,
        path: "/v1/chat/completions",
        key: UPSTREAM_KEY,
        body: chat_body("gpt-4o-mini", stream),
    };
    let through = |stream| Target {
        addr: gateway_addr,
        path: "/v1/chat/completions",
        key: GATEWAY_KEY,
        body: chat_body("fast", stream),
    };
    let mut report = String::new();
    runtime.block_on(async {
        // Warm up connections, pools and lazy tables.
        closed_loop(&through(false), 8, 1).await;
        closed_loop(&direct(false), 8, 1).await;

        let d = closed_loop(&direct(false), connections, seconds).await;
        let g = closed_loop(&through(false), connections, seconds).await;
        report += &throughput_table(
            &format!("Throughput: non-streaming chat, ~1 KB bodies, {connections} connections, {seconds} s each"),
            "requests",
            &d,
            &g,
        );
        let d = fixed_rate(&direct(false), 1000, seconds, 32, false).await;
        let g = fixed_rate(&through(false), 1000, seconds, 32, false).await;
        report += &added_latency_table(
            &format!("Added latency: non-streaming chat at a fixed 1,000 req/s, {seconds} s each"),
            &d,
            &g,
        );
        let d = fixed_rate(&direct(true), 200, seconds, 32, true).await;
        let g = fixed_rate(&through(true), 200, seconds, 32, true).await;
        report += &added_latency_table(
            &format!("Streaming: time to first byte at a fixed 200 streams/s, {seconds} s each"),
            &d,
            &g,
        );
        let d = closed_loop(&direct(true), connections, seconds).await;
        let g = closed_loop(&through(true), connections, seconds).await;
        report += &throughput_table(
            &format!("Throughput: streaming chat (whole streams), {connections} connections, {seconds} s each"),
            "streams",
            &d,
            &g,
        );
    });
    let loaded_rss = rss_kib(gateway.0.id());
    report += &format!(
        "### Memory\n\nGateway RSS idle after start: {:.1} MB; after the runs above: {:.1} MB.\n",
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0
    );
    let machine = format!(
        "Machine: {} cores, {}; all processes on one host over loopback.\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model()
    );
    let report = machine + &report;
    print!("{report}");
    let _ = std::io::stdout().flush();
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/load-report.md"),
        &report,
    );
    drop(gateway);
    drop(upstream);
    let _ = std::fs::remove_file(config);
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

fn throughput_table(title: &str, unit: &str, d: &Result, g: &Result) -> String {
    format!(
        "### {title}\n\n| | {unit} | per second | p50 | p99 |\n| --- | --- | --- | --- | --- |\n\
         | direct to upstream | {} | {:.0} | {:.2} ms | {:.2} ms |\n\
         | through Switchboard | {} | {:.0} ({:.0}% of direct) | {:.2} ms | {:.2} ms |\n\n",
        d.requests,
        d.rps,
        ms(d.p50_us),
        ms(d.p99_us),
        g.requests,
        g.rps,
        100.0 * g.rps / d.rps,
        ms(g.p50_us),
        ms(g.p99_us),
    )
}

fn added_latency_table(title: &str, d: &Result, g: &Result) -> String {
    let added = |g: u64, d: u64| (g as f64 - d as f64) / 1e3;
    format!(
        "### {title}\n\n| | p50 | p99 |\n| --- | --- | --- |\n\
         | direct to upstream | {:.3} ms | {:.3} ms |\n\
         | through Switchboard | {:.3} ms | {:.3} ms |\n\
         | **added by Switchboard** | **{:.3} ms** | **{:.3} ms** |\n\n",
        ms(d.p50_us),
        ms(d.p99_us),
        ms(g.p50_us),
        ms(g.p99_us),
        added(g.p50_us, d.p50_us),
        added(g.p99_us, d.p99_us),
    )
}
