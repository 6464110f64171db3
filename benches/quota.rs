//! The quota stage's own cost: reserve (every applicable limit checked and
//! held) and settle (counters adjusted, ledger row committed), with the
//! embedded store; and, when Redis answers on 127.0.0.1:6379, the same with
//! Redis plus the number of Redis commands one reservation takes (one
//! `EVALSHA`: a single round trip).
//!
//! `cargo bench --bench quota`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::cost::{NanoUsd, PriceTable, Usage};
use switchboard::quota::estimate::Estimate;
use switchboard::quota::limits::RawLimits;
use switchboard::quota::settings::{QuotaConfig, StoreKind, TeamLimits};
use switchboard::quota::window::Clock;
use switchboard::quota::{Ask, Quota};

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

fn config(store: StoreKind) -> QuotaConfig {
    let raw: RawLimits = toml::from_str(
        "usd_per_day = 1000000\nusd_per_month = 1000000\ntokens_per_minute = 1000000000\nrequests_per_minute = 1000000000\nmax_concurrent = 100000",
    )
    .unwrap();
    let limits = raw.validate("bench", &mut |path, message| panic!("{path}: {message}"));
    QuotaConfig {
        store,
        teams: vec![(
            "bench".into(),
            TeamLimits {
                limits,
                ..TeamLimits::default()
            },
        )],
        ..QuotaConfig::default()
    }
}

/// A fresh request id per call: settles are deduplicated by id.
fn next_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "bench-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn ask(request_id: &str, price: Option<PriceTable>) -> Ask<'_> {
    Ask {
        request_id,
        team: "bench",
        key: "bench-key",
        user: None,
        public_model: "fast",
        model: "openai/gpt-4o-mini",
        price,
    }
}

fn price() -> Option<PriceTable> {
    Some(PriceTable::from_price(&switchboard::catalog::Price {
        input: 0.15,
        cached_input: Some(0.075),
        output: Some(0.60),
    }))
}

fn estimate() -> Estimate {
    Estimate {
        tokens: 1_000,
        cost: Some(NanoUsd(600_000)),
    }
}

fn usage() -> Option<Usage> {
    Some(Usage {
        prompt_tokens: 100,
        completion_tokens: 200,
        cached_prompt_tokens: 0,
    })
}

fn embedded(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let quota = Quota::build(&config(StoreKind::Embedded), Clock::System).unwrap();
    c.bench_function("quota/embedded/reserve+release", |b| {
        b.iter(|| {
            let hold = runtime
                .block_on(quota.reserve(ask(&next_id(), price()), estimate))
                .unwrap();
            // Released without a ledger row, so only the reserve is timed in the main.
            runtime.block_on(quota.settle(black_box(hold), None));
        })
    });
    c.bench_function("quota/embedded/reserve+settle+ledger", |b| {
        b.iter(|| {
            let hold = runtime
                .block_on(quota.reserve(ask(&next_id(), price()), estimate))
                .unwrap();
            runtime.block_on(quota.settle(hold, usage()));
        })
    });
}

fn redis(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = StoreKind::Redis {
        url: switchboard::config::Secret::new(REDIS_URL.into()),
        prefix: format!("sbbench:{}", uuid::Uuid::new_v4()),
        timeout: std::time::Duration::from_secs(1),
    };
    let quota = Quota::build(&config(store), Clock::System).unwrap();
    if runtime
        .block_on(quota.reserve(ask(&next_id(), price()), estimate))
        .is_err()
    {
        eprintln!("Redis at {REDIS_URL} is unreachable: skipping the Redis benchmarks");
        return;
    }
    let commands = |runtime: &tokio::runtime::Runtime| -> u64 {
        runtime.block_on(async {
            let client = redis::Client::open(REDIS_URL).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let info: String = redis::cmd("INFO")
                .arg("stats")
                .query_async(&mut connection)
                .await
                .unwrap();
            info.lines()
                .find_map(|line| line.strip_prefix("total_commands_processed:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        })
    };
    // Round trips per reservation, measured on the server: commands seen
    // across 1000 reservations (minus the one INFO call that reads the count).
    let before = commands(&runtime);
    for _ in 0..1000 {
        let hold = runtime
            .block_on(quota.reserve(ask(&next_id(), price()), estimate))
            .unwrap();
        std::mem::forget(hold);
    }
    let after = commands(&runtime);
    eprintln!(
        "Redis commands per reservation: {:.3} (other clients of this Redis add to it)",
        (after - before - 1) as f64 / 1000.0
    );
    c.bench_function("quota/redis/reserve+settle", |b| {
        b.iter(|| {
            let hold = runtime
                .block_on(quota.reserve(ask(&next_id(), price()), estimate))
                .unwrap();
            runtime.block_on(quota.settle(hold, None));
        })
    });
}

criterion_group!(benches, embedded, redis);
criterion_main!(benches);
