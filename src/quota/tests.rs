//! The engine over the in-process store, with paused tokio time: windows,
//! rates at their edges, scopes, settling and the ledger.

use super::limits::RawLimits;
use super::settings::{QuotaConfig, TeamLimits};
use super::window::Clock;
use super::*;
use crate::cost::Usage;

/// 2026-11-26 17:00:00 UTC: a minute, hour and day edge are all ahead.
const ORIGIN_MS: u64 = 1_764_176_400_000;

fn limits(toml_text: &str) -> Limits {
    let raw: RawLimits = toml::from_str(toml_text).unwrap();
    raw.validate("t", &mut |path, message| panic!("{path}: {message}"))
}

fn quota(team: &str, user: &str, key: &str) -> Quota {
    let config = QuotaConfig {
        teams: vec![(
            "alpha".into(),
            TeamLimits {
                limits: limits(team),
                user_limits: limits(user),
                hard_cutoff: false,
            },
        )],
        keys: vec![("k1".into(), limits(key))],
        ..QuotaConfig::default()
    };
    Quota::build(&config, Clock::tokio_at(ORIGIN_MS)).unwrap()
}

/// $1 per 1M tokens in and out: one token costs 1000 nano-USD.
fn price() -> Option<PriceTable> {
    Some(PriceTable::from_price(&crate::catalog::Price {
        input: 1.0,
        cached_input: None,
        output: Some(1.0),
    }))
}

fn ask(user: Option<&'static str>) -> Ask<'static> {
    Ask {
        request_id: "r",
        team: "alpha",
        key: "k1",
        user,
        public_model: "fast",
        model: "openai/gpt-4o-mini",
        price: price(),
    }
}

fn estimate(tokens: u64) -> impl FnOnce() -> Estimate {
    move || Estimate {
        tokens,
        cost: Some(NanoUsd(tokens * 1000)),
    }
}

fn usage(tokens: u64) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: tokens,
        completion_tokens: 0,
        cached_prompt_tokens: 0,
    })
}

/// Reserve and settle `n` requests of `tokens` each; returns how many were served.
async fn run(quota: &Quota, n: usize, tokens: u64, user: Option<&'static str>) -> usize {
    let mut served = 0;
    for i in 0..n {
        let mut ask = ask(user);
        // Unique: the ledger keeps one row per id, and a settle counts once per id.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("req-{}-{i}-{next}", quota.now_ms());
        ask.request_id = &id;
        if let Ok(hold) = quota.reserve(ask, estimate(tokens)).await {
            quota.settle(hold, usage(tokens)).await;
            served += 1;
        }
    }
    served
}

fn refusal(error: GatewayError) -> Refusal {
    match error {
        GatewayError::QuotaExceeded(refusal) => refusal
            .as_any()
            .downcast_ref::<Refusal>()
            .expect("a quota refusal")
            .clone(),
        other => panic!("expected a 429, got {other:?}"),
    }
}

async fn advance_to_next_minute(quota: &Quota, before_edge_ms: u64) {
    let now = quota.now_ms();
    let (_, end) = Window::Minute.bounds(now);
    tokio::time::advance(Duration::from_millis(end - before_edge_ms - now)).await;
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_hold_at_the_window_edge() {
    let quota = quota("requests_per_minute = 5", "", "");
    // Last millisecond of a minute: exactly the limit is served...
    advance_to_next_minute(&quota, 1).await;
    assert_eq!(run(&quota, 8, 1, None).await, 5);
    let error = refusal(quota.reserve(ask(None), estimate(1)).await.unwrap_err());
    assert_eq!(error.measure, Measure::RequestsPerMinute);
    assert_eq!(error.resets_at_ms.unwrap() - error.now_ms, 1);
    // ...and one millisecond later the next minute starts from zero.
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(run(&quota, 8, 1, None).await, 5);
    // Nothing changes for the rest of that minute.
    tokio::time::advance(Duration::from_millis(59_999)).await;
    assert_eq!(run(&quota, 3, 1, None).await, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(run(&quota, 3, 1, None).await, 3);
}

#[tokio::test(start_paused = true)]
async fn tokens_per_minute_hold_and_release_what_was_not_used() {
    let quota = quota("tokens_per_minute = 1000", "", "");
    advance_to_next_minute(&quota, 10).await;
    assert_eq!(run(&quota, 20, 300, None).await, 3);
    // 100 tokens left: a worst case of 101 does not fit, 100 does.
    assert!(quota.reserve(ask(None), estimate(101)).await.is_err());
    // A worst case of 100 that uses 40 gives 60 back.
    let hold = quota.reserve(ask(None), estimate(100)).await.unwrap();
    assert_eq!(hold.headers.tokens.unwrap().remaining, 0);
    quota.settle(hold, usage(40)).await;
    assert_eq!(run(&quota, 1, 60, None).await, 1);
    assert_eq!(run(&quota, 1, 1, None).await, 0);
    tokio::time::advance(Duration::from_millis(10)).await;
    assert_eq!(run(&quota, 4, 300, None).await, 3);
}

#[tokio::test(start_paused = true)]
async fn budgets_refuse_before_spending_past_them() {
    // $0.001 a day = 1000 tokens at $1/M.
    let quota = quota("usd_per_day = 0.001", "", "");
    assert_eq!(run(&quota, 20, 150, None).await, 6);
    let error = refusal(quota.reserve(ask(None), estimate(150)).await.unwrap_err());
    assert_eq!(error.scope, "team alpha");
    assert_eq!(error.measure, Measure::Usd(Window::Day));
    assert_eq!((error.limit, error.current), (1_000_000, 900_000));
    assert_eq!(quota.spent("alpha").await, NanoUsd(900_000));
    // The day ends at 00:00 UTC, seven hours after the origin.
    assert_eq!(error.resets_at_ms, Some(ORIGIN_MS + 7 * 3_600_000));
    tokio::time::advance(Duration::from_secs(7 * 3600)).await;
    assert_eq!(run(&quota, 20, 150, None).await, 6);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_released_by_settle() {
    let quota = quota("max_concurrent = 2", "", "");
    let first = quota.reserve(ask(None), estimate(1)).await.unwrap();
    let second = quota.reserve(ask(None), estimate(1)).await.unwrap();
    let error = refusal(quota.reserve(ask(None), estimate(1)).await.unwrap_err());
    assert_eq!(error.measure, Measure::Concurrent);
    quota.settle(first, None).await;
    let third = quota.reserve(ask(None), estimate(1)).await.unwrap();
    quota.settle(second, usage(1)).await;
    quota.settle(third, usage(1)).await;
}

#[tokio::test(start_paused = true)]
async fn users_keys_and_models_have_their_own_limits() {
    let quota = quota(
        "requests_per_minute = 100\n[models.fast]\nrequests_per_minute = 6",
        "requests_per_minute = 2",
        "requests_per_minute = 5",
    );
    assert_eq!(run(&quota, 5, 1, Some("ann")).await, 2);
    let error = refusal(
        quota
            .reserve(ask(Some("ann")), estimate(1))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.scope, "user ann in team alpha");
    assert_eq!(run(&quota, 5, 1, Some("bob")).await, 2);
    // The key allows 5 per minute in all: one more, from a request without a user.
    assert_eq!(run(&quota, 5, 1, None).await, 1);
    let error = refusal(quota.reserve(ask(None), estimate(1)).await.unwrap_err());
    assert_eq!(error.scope, "key k1");
    // Changed live: a bigger key limit, then the per-model limit trips.
    quota.update_book(|book| {
        book.keys
            .insert("k1".into(), limits("requests_per_minute = 50"));
    });
    assert_eq!(run(&quota, 5, 1, None).await, 1);
    let error = refusal(quota.reserve(ask(None), estimate(1)).await.unwrap_err());
    assert_eq!(error.scope, "team alpha, model fast");
}

#[tokio::test(start_paused = true)]
async fn unknown_prices_are_refused_to_budgeted_teams() {
    let quota = quota("usd_total = 1", "", "");
    let mut unpriced = ask(None);
    unpriced.price = None;
    let error = quota.reserve(unpriced, estimate(1)).await.unwrap_err();
    assert!(matches!(error, GatewayError::Forbidden { .. }), "{error:?}");
    // Without a budget the same request is served (and counted as unpriced elsewhere).
    let unlimited = super::tests::quota("", "", "");
    let hold = unlimited.reserve(unpriced, estimate(1)).await.unwrap();
    unlimited.settle(hold, usage(1)).await;
}

#[tokio::test]
async fn settled_spend_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = QuotaConfig {
        ledger: Some(dir.path().join("ledger.sqlite")),
        teams: vec![(
            "alpha".into(),
            TeamLimits {
                limits: limits("usd_total = 0.001\nusd_per_month = 0.002"),
                ..TeamLimits::default()
            },
        )],
        ..QuotaConfig::default()
    };
    {
        let quota = Quota::build(&config, Clock::System).unwrap();
        assert_eq!(run(&quota, 3, 300, None).await, 3);
    }
    let quota = Quota::build(&config, Clock::System).unwrap();
    assert_eq!(quota.spent("alpha").await, NanoUsd(900_000));
    // The total budget remembers the 900 spent: 100 tokens left.
    assert_eq!(run(&quota, 3, 300, None).await, 0);
    assert_eq!(run(&quota, 3, 100, None).await, 1);
}

fn unreachable_redis(policy: settings::OnStoreError) -> Quota {
    let config = QuotaConfig {
        store: settings::StoreKind::Redis {
            // Nothing listens on port 1.
            url: crate::shapes::Secret::new("redis://127.0.0.1:1/0".into()),
            prefix: "sbtest:down".into(),
            timeout: Duration::from_millis(200),
            hold_ttl: settings::DEFAULT_HOLD_TTL,
        },
        on_store_error: policy,
        teams: vec![(
            "alpha".into(),
            TeamLimits {
                limits: limits("requests_per_minute = 2"),
                ..TeamLimits::default()
            },
        )],
        ..QuotaConfig::default()
    };
    // Real time (the connection attempts need it) from the start of a
    // minute, so that the test never straddles a window edge.
    Quota::build(&config, Clock::tokio_at(ORIGIN_MS)).unwrap()
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed_by_default() {
    let quota = unreachable_redis(settings::OnStoreError::FailClosed);
    let error = quota.reserve(ask(None), estimate(1)).await.unwrap_err();
    assert!(matches!(error, GatewayError::QuotaUnavailable), "{error:?}");
    assert_eq!(error.status(), 503);
    assert_eq!(quota.store_errors.get(), 1);
}

#[tokio::test]
async fn an_unreachable_redis_can_fall_back_to_local_limits() {
    let quota = unreachable_redis(settings::OnStoreError::Local);
    // The same limits hold, counted by this replica alone...
    assert_eq!(run(&quota, 4, 1, None).await, 2);
    // Four reservations failed over (and settles queued for Redis fail too).
    assert!(quota.store_errors.get() >= 4);
    // ...spend settled meanwhile is in the ledger once...
    assert_eq!(quota.spent("alpha").await, NanoUsd(2000));
    // ...and what was served is queued for Redis, to count there once it answers.
    assert!(!quota.flush_settles(Duration::from_millis(100)).await);
}

/// A team whose end users each have `user` limits, at most `cap` of them
/// tracked at once, an end user's total forgotten after an hour idle.
fn end_user_config(user: &str, cap: u64) -> QuotaConfig {
    QuotaConfig {
        teams: vec![(
            "alpha".into(),
            TeamLimits {
                user_limits: limits(user),
                ..TeamLimits::default()
            },
        )],
        max_end_users: cap,
        end_user_idle_ttl: Duration::from_secs(3600),
        ..QuotaConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn end_users_are_capped_and_forgotten_once_idle() {
    // $0.001 per end user, ever (while it keeps coming back): 1000 tokens.
    let quota = Quota::build(
        &end_user_config("usd_total = 0.001", 2),
        Clock::tokio_at(ORIGIN_MS),
    )
    .unwrap();
    assert_eq!(run(&quota, 1, 300, Some("ann")).await, 1);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(run(&quota, 1, 300, Some("bob")).await, 1);
    // A third end user does not fit: refused before anything is counted,
    // naming the team, the cap, and when the first place frees up (ann's
    // total expires an hour after her request).
    let error = quota
        .reserve(ask(Some("carol")), estimate(300))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 429);
    let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_end_users", "{body}");
    let error = refusal(error);
    assert_eq!(error.measure, Measure::EndUsers);
    assert_eq!(error.scope, "team alpha");
    assert_eq!((error.limit, error.current), (2, 2));
    assert_eq!(error.resets_at_ms, Some(ORIGIN_MS + 3_600_000));
    // End users already tracked are served as before, within their limits.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(run(&quota, 2, 300, Some("ann")).await, 2);
    let error = refusal(
        quota
            .reserve(ask(Some("ann")), estimate(300))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.measure, Measure::Usd(Window::Total));
    assert_eq!(error.scope, "user ann in team alpha");
    // Requests without a user are not affected.
    assert_eq!(run(&quota, 1, 300, None).await, 1);
    // Bob has been idle for an hour: his counters expire and carol takes his place.
    tokio::time::advance(Duration::from_secs(3540)).await;
    assert_eq!(run(&quota, 1, 300, Some("carol")).await, 1);
    assert_eq!(run(&quota, 1, 300, Some("bob")).await, 0);
    // Ann's total, kept while she came back, is forgotten an hour after her
    // last request: she starts again from zero.
    assert_eq!(run(&quota, 1, 900, Some("ann")).await, 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(run(&quota, 1, 900, Some("ann")).await, 1);
    // Whatever came and went, the store holds the counters of at most two
    // end users (one each here: their totals) and tracks at most two.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(run(&quota, 1, 1, Some("ann")).await, 1);
    let (counters, tracked) = quota.local.sizes();
    assert!(
        tracked <= 2 && counters <= 2,
        "{counters} counters, {tracked} tracked"
    );
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_end_users_is_held_at_the_cap() {
    let quota = Quota::build(
        &end_user_config("requests_per_minute = 10\nusd_per_day = 1", 50),
        Clock::tokio_at(ORIGIN_MS),
    )
    .unwrap();
    let mut served = 0;
    for i in 0..500 {
        let user = format!("user-{i}");
        let mut ask = ask(None);
        ask.user = Some(&user);
        let id = format!("flood-{i}");
        ask.request_id = &id;
        if let Ok(hold) = quota.reserve(ask, estimate(1)).await {
            quota.settle(hold, usage(1)).await;
            served += 1;
        }
    }
    assert_eq!(served, 50);
    let (counters, tracked) = quota.local.sizes();
    assert_eq!(tracked, 50);
    assert!(counters <= 100, "{counters} counters");
    // Their counters last until their windows end (a day), then new end users fit.
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    assert_eq!(run(&quota, 1, 1, Some("late")).await, 1);
    let (counters, tracked) = quota.local.sizes();
    assert_eq!((counters, tracked), (2, 1));
}

#[tokio::test]
async fn tracked_end_users_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = QuotaConfig {
        ledger: Some(dir.path().join("ledger.sqlite")),
        ..end_user_config("usd_total = 1", 2)
    };
    {
        let quota = Quota::build(&config, Clock::System).unwrap();
        for user in ["ann", "bob"] {
            // Ids of their own: the ledger keeps one row per id.
            let id = format!("restart-{user}");
            let mut ask = ask(Some(user));
            ask.request_id = &id;
            let hold = quota.reserve(ask, estimate(10)).await.unwrap();
            quota.settle(hold, usage(10)).await;
        }
    }
    let quota = Quota::build(&config, Clock::System).unwrap();
    let error = refusal(
        quota
            .reserve(ask(Some("carol")), estimate(10))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.measure, Measure::EndUsers);
    assert_eq!(run(&quota, 1, 10, Some("ann")).await, 1);
}

/// With Redis, an end user's total expires when idle and the team's
/// registry of end users is a sorted set whose members expire with them.
#[tokio::test]
async fn redis_expires_end_user_counters_and_caps_their_number() {
    let Some(probe) = super::contract::redis_store().await else {
        return;
    };
    let prefix = probe.prefix().to_owned();
    let config = QuotaConfig {
        store: settings::StoreKind::Redis {
            url: crate::shapes::Secret::new(super::contract::REDIS_URL.into()),
            prefix: prefix.clone(),
            timeout: Duration::from_secs(2),
            hold_ttl: settings::DEFAULT_HOLD_TTL,
        },
        ..end_user_config("usd_total = 1\nrequests_per_minute = 100", 2)
    };
    let quota = Quota::build(&config, Clock::System).unwrap();
    assert_eq!(run(&quota, 1, 10, Some("ann")).await, 1);
    assert_eq!(run(&quota, 1, 10, Some("bob")).await, 1);
    let error = refusal(
        quota
            .reserve(ask(Some("carol")), estimate(10))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.measure, Measure::EndUsers);
    assert_eq!((error.limit, error.current), (2, 2));
    assert!(quota.flush_settles(Duration::from_secs(5)).await);
    let mut connection = probe.connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:usd:total:t:alpha:u:ann"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        (3_500_000..=3_600_000).contains(&ttl),
        "an end user's total expires an hour after its last request, not never: {ttl}"
    );
    let tracked: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}:users:t:alpha"))
        .arg(0)
        .arg(-1)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(tracked.len(), 2);
    assert!(tracked.contains(&"ann".to_owned()) && tracked.contains(&"bob".to_owned()));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:users:t:alpha"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        (3_500_000..=3_600_000).contains(&ttl),
        "the registry expires with its last member: {ttl}"
    );
    // A team's own total still never expires.
    let quota = Quota::build(
        &QuotaConfig {
            teams: vec![(
                "alpha".into(),
                TeamLimits {
                    limits: limits("usd_total = 1"),
                    ..TeamLimits::default()
                },
            )],
            ..config.clone()
        },
        Clock::System,
    )
    .unwrap();
    assert_eq!(run(&quota, 1, 10, None).await, 1);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:usd:total:t:alpha"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(ttl, -1);
}

fn flat(id: &str, nano: u64) -> flat::FlatAsk<'_> {
    flat::FlatAsk {
        id,
        team: "alpha",
        key: "k1",
        item: "mcp:shop/buy",
        cost: NanoUsd(nano),
    }
}

#[tokio::test(start_paused = true)]
async fn fixed_price_charges_share_the_budget_and_touch_no_rate() {
    // $0.01 a day, two requests a minute: model spend and tool calls share
    // the budget; tool calls are no requests.
    let quota = quota("usd_per_day = 0.01\nrequests_per_minute = 2", "", "");
    let held = quota.reserve_flat(flat("t1", 4_000_000)).await.unwrap();
    // A call that did not run is released: nothing charged or recorded.
    quota.settle_flat(held, false).await;
    for id in ["t2", "t3"] {
        let held = quota.reserve_flat(flat(id, 4_000_000)).await.unwrap();
        quota.settle_flat(held, true).await;
    }
    // $0.008 spent: a third call of $0.004 does not fit, and names the budget.
    let error = refusal(quota.reserve_flat(flat("t4", 4_000_000)).await.unwrap_err());
    assert_eq!(error.measure, Measure::Usd(Window::Day));
    assert_eq!((error.current, error.requested), (8_000_000, 4_000_000));
    // Model requests still have their whole rate and what is left of the budget.
    assert_eq!(run(&quota, 3, 1000, None).await, 2);
    assert_eq!(quota.spent("alpha").await, NanoUsd(8_000_000 + 2_000_000));
    let rows = quota
        .spend(ledger::GroupBy::Model, ledger::SpendFilter::default())
        .await
        .unwrap();
    let tools = rows.iter().find(|row| row.group == "mcp:shop/buy").unwrap();
    assert_eq!((tools.requests, tools.cost_nano), (2, 8_000_000));
}
