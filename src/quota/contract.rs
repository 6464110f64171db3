//! One contract, two stores: every test here runs against the in-process
//! store and against the real Redis on 127.0.0.1:6379 (each test under its
//! own key prefix). Without a reachable Redis the Redis half is skipped with
//! a loud message, unless `CI` is set (and not `0`/`false`), where it fails.

use super::redis_store::RedisQuotaStore;
use crate::seams::quota::{
    Adjustment, Charge, Entrant, MemoryQuotaStore, QuotaStore, Refused, Tripped,
};
use crate::test_support::missing_dependency;
use std::sync::Arc;
use std::time::Duration;

pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// A Redis store under a fresh prefix, or `None` (with a message) when Redis
/// is unreachable outside CI.
pub async fn redis_store() -> Option<RedisQuotaStore> {
    let prefix = format!("sbtest:{}", uuid::Uuid::new_v4());
    let store = RedisQuotaStore::new(
        REDIS_URL,
        &prefix,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .unwrap();
    match store.current(&["probe".to_owned()], 0).await {
        Ok(_) => Some(store),
        Err(error) => {
            missing_dependency(
                &format!("Redis at {REDIS_URL} (the Redis half of the quota contract)"),
                &format!("unreachable: {error}; scripts/test starts it"),
            );
            None
        }
    }
}

/// A hold id of its own, for reservations this test never settles.
fn next_hold() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now() -> u64 {
    super::window::Clock::System.now_ms()
}

fn charge(key: &str, amount: u64, limit: Option<u64>) -> Charge {
    Charge {
        key: key.to_owned(),
        amount,
        limit,
        expires_ms: now() + 60_000,
    }
}

fn adjust(charge: &Charge, actual: u64) -> Adjustment {
    Adjustment {
        key: charge.key.clone(),
        reserved: charge.amount,
        actual,
        expires_ms: charge.expires_ms,
    }
}

/// Runs one contract check against both stores.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(crate::seams::quota::MemoryQuotaStore::default())).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(store) = super::redis_store().await {
                        super::$name(std::sync::Arc::new(store)).await;
                    }
                }
            )*
        }
    };
}

contract!(
    refuses_past_the_limit,
    all_or_nothing,
    settle_replaces_the_worst_case_once,
    concurrent_reservations_never_overshoot,
    ended_windows_start_over,
    unlimited_charges_only_count,
    a_full_registry_admits_only_members_it_tracks,
);

/// A team's registry of end users holds at most `cap`; members it tracks
/// are always admitted, a new one only once a member's time has passed.
async fn a_full_registry_admits_only_members_it_tracks(store: Arc<dyn QuotaStore>) {
    let t = now();
    let long = t + 60_000;
    let short = t + 300;
    let entrant = |member: &str, expires_ms| Entrant {
        registry: "users:t:a".into(),
        member: member.into(),
        cap: 2,
        expires_ms,
    };
    let admit = |member: &'static str, expires_ms, at| {
        let store = store.clone();
        async move {
            store
                .admit_and_reserve(
                    &next_hold(),
                    &[charge(member, 1, Some(100))],
                    Some(&entrant(member, expires_ms)),
                    at,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(admit("ann", long, t).await, Ok(vec![1]));
    assert_eq!(admit("bob", short, t).await, Ok(vec![1]));
    // Carol is new and the registry is full: refused, nothing counted.
    assert_eq!(
        admit("carol", long, t).await,
        Err(Refused::Full {
            tracked: 2,
            frees_at_ms: Some(short),
        })
    );
    assert_eq!(store.current(&["carol".into()], t).await.unwrap(), vec![0]);
    // Ann is tracked: admitted as before.
    assert_eq!(admit("ann", long, t).await, Ok(vec![2]));
    // A tracked member refused by a limit is refused by that limit.
    assert_eq!(
        store
            .admit_and_reserve(
                &next_hold(),
                &[charge("ann", 200, Some(100))],
                Some(&entrant("ann", long)),
                t,
            )
            .await
            .unwrap(),
        Err(Refused::Limit(Tripped {
            index: 0,
            current: 2
        }))
    );
    // Once bob's time has passed, carol takes his place, and bob is new again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = now();
    assert_eq!(admit("carol", long, later).await, Ok(vec![1]));
    assert_eq!(
        admit("bob", long, later).await,
        Err(Refused::Full {
            tracked: 2,
            frees_at_ms: Some(long),
        })
    );
}

async fn refuses_past_the_limit(store: Arc<dyn QuotaStore>) {
    let t = now();
    assert_eq!(
        store
            .reserve(&next_hold(), &[charge("a", 600, Some(1000))], t)
            .await
            .unwrap(),
        Ok(vec![600])
    );
    assert_eq!(
        store
            .reserve(&next_hold(), &[charge("a", 500, Some(1000))], t)
            .await
            .unwrap(),
        Err(Tripped {
            index: 0,
            current: 600
        })
    );
    assert_eq!(
        store
            .reserve(&next_hold(), &[charge("a", 400, Some(1000))], t)
            .await
            .unwrap(),
        Ok(vec![1000])
    );
    assert_eq!(
        store
            .reserve(&next_hold(), &[charge("a", 1, Some(1000))], t)
            .await
            .unwrap(),
        Err(Tripped {
            index: 0,
            current: 1000
        })
    );
}

async fn all_or_nothing(store: Arc<dyn QuotaStore>) {
    let t = now();
    let charges = [charge("x", 5, Some(10)), charge("y", 5, Some(3))];
    assert_eq!(
        store.reserve(&next_hold(), &charges, t).await.unwrap(),
        Err(Tripped {
            index: 1,
            current: 0
        })
    );
    assert_eq!(
        store.current(&["x".into(), "y".into()], t).await.unwrap(),
        vec![0, 0]
    );
}

async fn settle_replaces_the_worst_case_once(store: Arc<dyn QuotaStore>) {
    let t = now();
    let worst = charge("s", 100, Some(150));
    store
        .reserve("req-1", std::slice::from_ref(&worst), t)
        .await
        .unwrap()
        .unwrap();
    store
        .settle("req-1", &[adjust(&worst, 30)], t)
        .await
        .unwrap();
    assert_eq!(store.current(&["s".into()], t).await.unwrap(), vec![30]);
    // A replayed settle (a retry after a lost reply) changes nothing.
    store
        .settle("req-1", &[adjust(&worst, 30)], t)
        .await
        .unwrap();
    assert_eq!(store.current(&["s".into()], t).await.unwrap(), vec![30]);
    // The released 70 is usable again.
    store
        .reserve("req-2", &[charge("s", 120, Some(150))], t)
        .await
        .unwrap()
        .unwrap();
    // Settling more than was reserved charges the overrun.
    store
        .settle("req-2", &[adjust(&charge("s", 120, None), 125)], t)
        .await
        .unwrap();
    assert_eq!(store.current(&["s".into()], t).await.unwrap(), vec![155]);
}

async fn concurrent_reservations_never_overshoot(store: Arc<dyn QuotaStore>) {
    let t = now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let worst = charge("c", 100, Some(1000));
            match store
                .reserve(&format!("c-{i}"), std::slice::from_ref(&worst), t)
                .await
                .unwrap()
            {
                Ok(_) => {
                    store
                        .settle(&format!("c-{i}"), &[adjust(&worst, 100)], t)
                        .await
                        .unwrap();
                    true
                }
                Err(_) => false,
            }
        }));
    }
    let mut served = 0;
    for task in tasks {
        served += usize::from(task.await.unwrap());
    }
    assert_eq!(served, 10);
    assert_eq!(store.current(&["c".into()], t).await.unwrap(), vec![1000]);
}

async fn ended_windows_start_over(store: Arc<dyn QuotaStore>) {
    let t = now();
    let short = Charge {
        key: "w".into(),
        amount: 1,
        limit: Some(1),
        expires_ms: t + 300,
    };
    store
        .reserve("late", std::slice::from_ref(&short), t)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .reserve(&next_hold(), std::slice::from_ref(&short), t)
            .await
            .unwrap()
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let later = now();
    // A settle for the ended window does not bring its counter back.
    store
        .settle("late", &[adjust(&short, 1)], later)
        .await
        .unwrap();
    assert_eq!(store.current(&["w".into()], later).await.unwrap(), vec![0]);
    let next = Charge {
        expires_ms: later + 300,
        ..short
    };
    assert_eq!(
        store.reserve(&next_hold(), &[next], later).await.unwrap(),
        Ok(vec![1])
    );
}

async fn unlimited_charges_only_count(store: Arc<dyn QuotaStore>) {
    let t = now();
    for expected in [7, 14, 21] {
        assert_eq!(
            store
                .reserve(&next_hold(), &[charge("u", 7, None)], t)
                .await
                .unwrap(),
            Ok(vec![expected])
        );
    }
}

#[test]
fn memory_store_is_a_quota_store() {
    fn assert_store<T: QuotaStore>() {}
    assert_store::<MemoryQuotaStore>();
    assert_store::<RedisQuotaStore>();
}

/// Redis only: a hold whose settle never comes (its replica was killed) is
/// taken back by a reservation made after the hold TTL.
#[tokio::test]
async fn redis_takes_back_a_hold_that_is_never_settled() {
    let Some(store) = redis_store().await else {
        return;
    };
    let store = RedisQuotaStore::new(
        REDIS_URL,
        store.prefix(),
        Duration::from_secs(2),
        Duration::from_millis(300),
    )
    .unwrap();
    let t = now();
    let total = |amount| Charge {
        key: "total".into(),
        amount,
        limit: Some(100),
        expires_ms: 0,
    };
    store
        .reserve("lost", &[total(80)], t)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .reserve("early", &[total(30)], t)
            .await
            .unwrap()
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The reservation frees the lost hold's 80 first, then takes its 30.
    assert_eq!(
        store.reserve("after", &[total(30)], now()).await.unwrap(),
        Ok(vec![30])
    );
    // The lost request's settle, should it still come, charges what it used, once.
    let settle = Adjustment {
        key: "total".into(),
        reserved: 80,
        actual: 20,
        expires_ms: 0,
    };
    store
        .settle("lost", std::slice::from_ref(&settle), now())
        .await
        .unwrap();
    store.settle("lost", &[settle], now()).await.unwrap();
    assert_eq!(
        store.current(&["total".into()], now()).await.unwrap(),
        vec![50]
    );
}

/// Redis only: one batch of settles is one round trip; a batch retried after
/// a lost reply applies each settle once; a settle with no hold in Redis (a
/// request served on local counters while Redis was away) adds its actual use.
#[tokio::test]
async fn redis_settles_in_batches_once_each() {
    use super::redis_store::PendingSettle;
    let Some(store) = redis_store().await else {
        return;
    };
    let t = now();
    let mut batch = Vec::new();
    for i in 0..20 {
        let worst = charge("b", 100, Some(10_000));
        let id = format!("b-{i}");
        store
            .reserve(&id, std::slice::from_ref(&worst), t)
            .await
            .unwrap()
            .unwrap();
        batch.push(PendingSettle {
            id,
            adjustments: vec![adjust(&worst, 10)],
            spend: None,
        });
    }
    batch.push(PendingSettle {
        id: "served-locally".into(),
        adjustments: vec![Adjustment {
            key: "b".into(),
            reserved: 0,
            actual: 7,
            expires_ms: t + 60_000,
        }],
        spend: None,
    });
    let before = store.round_trips.background.get();
    assert_eq!(store.settle_batch(&batch).await.unwrap(), 21);
    assert_eq!(store.round_trips.background.get() - before, 1);
    assert_eq!(store.settle_batch(&batch).await.unwrap(), 0);
    assert_eq!(store.current(&["b".into()], t).await.unwrap(), vec![207]);
}
