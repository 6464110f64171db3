//! The quota stage's own cost: reserve (every applicable limit checked and
//! held) and settle (counters adjusted, ledger row committed), with the
//! embedded store; and, when Redis answers on 127.0.0.1:6379, the reserve
//! time with Redis and the round trips per request, counted by the store's
//! connection: one on the request path (the reservation), settles batched in
//! the background.
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
        url: switchboard::shapes::Secret::new(REDIS_URL.into()),
        prefix: format!("sbbench:{}", uuid::Uuid::new_v4()),
        timeout: std::time::Duration::from_secs(1),
        hold_ttl: switchboard::quota::settings::DEFAULT_HOLD_TTL,
    };
    let quota = Quota::build(&config(store), Clock::System).unwrap();
    // The first reservation also loads the scripts into Redis.
    match runtime.block_on(quota.reserve(ask(&next_id(), price()), estimate)) {
        Ok(hold) => runtime.block_on(quota.settle(hold, usage())),
        Err(_) => {
            eprintln!("Redis at {REDIS_URL} is unreachable: skipping the Redis benchmarks");
            return;
        }
    }
    runtime.block_on(quota.flush_settles(std::time::Duration::from_secs(10)));
    let trips = quota.round_trips().expect("a Redis store").clone();
    // Round trips per request, counted by the store's connection: 1000
    // requests, each reserved and settled with usage (ledger row included),
    // as the gateway does them one after the other.
    let (request_before, background_before) = (trips.request.get(), trips.background.get());
    let mut reserve_us = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = std::time::Instant::now();
        let hold = runtime
            .block_on(quota.reserve(ask(&next_id(), price()), estimate))
            .unwrap();
        reserve_us.push(started.elapsed().as_secs_f64() * 1e6);
        runtime.block_on(quota.settle(hold, usage()));
    }
    runtime.block_on(quota.flush_settles(std::time::Duration::from_secs(10)));
    reserve_us.sort_by(f64::total_cmp);
    eprintln!(
        "Redis, 1000 requests one after the other: {:.3} round trips per request on the request path, \
         {:.3} in the background (batched settles); reserve p50 {:.1} µs, p99 {:.1} µs",
        (trips.request.get() - request_before) as f64 / 1000.0,
        (trips.background.get() - background_before) as f64 / 1000.0,
        reserve_us[500],
        reserve_us[990],
    );
    c.bench_function("quota/redis/reserve", |b| {
        b.iter(|| {
            let hold = runtime
                .block_on(quota.reserve(ask(&next_id(), price()), estimate))
                .unwrap();
            // Queued for the background settler: no round trip here.
            runtime.block_on(quota.settle(black_box(hold), None));
        })
    });
    runtime.block_on(quota.flush_settles(std::time::Duration::from_secs(10)));
}

criterion_group!(benches, embedded, redis);
criterion_main!(benches);
