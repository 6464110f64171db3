//! Tests of the ledger (`ledger.rs`) and its pending files, through its API.

use super::*;

fn entry(id: &str, team: &str, cost: u64) -> LedgerEntry {
    LedgerEntry {
        id: id.into(),
        ts_ms: 1_764_000_000_000,
        team: team.into(),
        key: "k".into(),
        user: None,
        model: "openai/gpt-4o-mini".into(),
        cost_nano: cost,
        prompt_tokens: 10,
        completion_tokens: 5,
    }
}

/// Rows in the SQLite file itself, as another reader sees them.
fn spend_rows(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM spend", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn rows_and_counters_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let counter = |amount| DurableCounter {
        key: "usd:t:a:total:0".into(),
        amount,
        expires_ms: 0,
    };
    {
        let (ledger, _) = Ledger::open(&path, false, 0).unwrap();
        ledger
            .record(entry("r1", "a", 100), vec![counter(100)])
            .await
            .unwrap();
        ledger
            .record(entry("r2", "a", 50), vec![counter(50)])
            .await
            .unwrap();
        // A replay changes nothing.
        ledger
            .record(entry("r2", "a", 50), vec![counter(50)])
            .await
            .unwrap();
        ledger.record(entry("r3", "b", 7), vec![]).await.unwrap();
    }
    let (ledger, opened) = Ledger::open(&path, false, 0).unwrap();
    assert_eq!(ledger.total().await.unwrap(), (3, 157));
    assert_eq!(
        opened.counters,
        vec![("usd:t:a:total:0".to_owned(), 150, 0)]
    );
    assert_eq!(opened.admin_overlay, None);
    ledger.save_admin_overlay("{}".into()).await.unwrap();
    ledger.save_admin_overlay("{\"a\":1}".into()).await.unwrap();
    let by_team = ledger
        .spend(GroupBy::Team, SpendFilter::default())
        .await
        .unwrap();
    let groups: Vec<(&str, u64)> = by_team
        .iter()
        .map(|r| (r.group.as_str(), r.cost_nano))
        .collect();
    assert_eq!(groups, vec![("a", 150), ("b", 7)]);
    let by_day = ledger
        .spend(
            GroupBy::Day,
            SpendFilter {
                team: Some("b".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_day[0].group, "2025-11-24");
    drop(ledger);
    let (_, opened) = Ledger::open(&path, false, 0).unwrap();
    assert_eq!(opened.admin_overlay.as_deref(), Some("{\"a\":1}"));
}

#[tokio::test]
async fn rows_a_killed_process_left_pending_are_folded_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    drop(Ledger::open(&path, false, 0).unwrap());
    // What a process killed before its fold leaves behind.
    let (mut pending, _) = PendingFiles::open(&path, false, true).unwrap();
    let counters = [DurableCounter {
        key: "usd:t:a:total:0".into(),
        amount: 40,
        expires_ms: 0,
    }];
    let (a, b) = (entry("p1", "a", 40), entry("p2", "b", 2));
    pending
        .append([(&a, &counters[..]), (&b, &[][..])].into_iter())
        .unwrap();
    assert_eq!(spend_rows(&path), 0);
    let (ledger, opened) = Ledger::open(&path, false, 0).unwrap();
    assert_eq!(spend_rows(&path), 2, "folded before the ledger serves");
    assert!(
        super::super::pending::read_pending(&path)
            .unwrap()
            .is_empty()
    );
    assert_eq!(opened.counters, vec![("usd:t:a:total:0".to_owned(), 40, 0)]);
    drop(pending);
    // The same records in a file again (a fold cut short before its
    // file was deleted) charge nothing twice.
    let (mut pending, _) = PendingFiles::open(&path, false, true).unwrap();
    pending
        .append([(&a, &counters[..]), (&b, &[][..])].into_iter())
        .unwrap();
    drop(ledger);
    let (ledger, opened) = Ledger::open(&path, false, 0).unwrap();
    assert_eq!(ledger.total().await.unwrap(), (2, 42));
    assert_eq!(opened.counters, vec![("usd:t:a:total:0".to_owned(), 40, 0)]);
}

#[tokio::test]
async fn settled_rows_reach_sqlite_within_the_fold_delay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (ledger, _) = Ledger::open(&path, false, 0).unwrap();
    ledger.record(entry("f1", "a", 5), vec![]).await.unwrap();
    // Durable at once, in the pending file.
    let pending = super::super::pending::read_pending(&path).unwrap();
    assert_eq!(pending.len(), 1);
    std::thread::sleep(FOLD_AFTER * 3);
    assert_eq!(spend_rows(&path), 1);
    assert!(
        super::super::pending::read_pending(&path)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn closing_folds_everything_and_leaves_no_pending_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (ledger, _) = Ledger::open(&path, false, 0).unwrap();
    ledger.record(entry("c1", "a", 5), vec![]).await.unwrap();
    ledger.close().await.unwrap();
    assert_eq!(spend_rows(&path), 1);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains("-pending."))
        .collect();
    assert!(files.is_empty(), "{files:?}");
    // A late settle is committed straight to SQLite.
    ledger.record(entry("c2", "a", 5), vec![]).await.unwrap();
    assert_eq!(spend_rows(&path), 2);
}

#[tokio::test]
async fn a_second_ledger_on_one_file_leaves_the_first_ones_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (first, _) = Ledger::open(&path, false, 0).unwrap();
    first.record(entry("s1", "a", 5), vec![]).await.unwrap();
    // The first one's live pending file is neither folded nor removed,
    // and the second one appends to a file of its own.
    let (second, _) = Ledger::open(&path, false, 0).unwrap();
    assert_eq!(super::super::pending::read_pending(&path).unwrap().len(), 1);
    second.record(entry("s2", "a", 5), vec![]).await.unwrap();
    assert_eq!(super::super::pending::read_pending(&path).unwrap().len(), 2);
    first.close().await.unwrap();
    second.close().await.unwrap();
    assert_eq!(spend_rows(&path), 2);
}

#[tokio::test]
async fn a_ledger_from_before_daily_totals_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    {
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE spend (id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, day TEXT NOT NULL,
                team TEXT NOT NULL, key TEXT NOT NULL, user TEXT, model TEXT NOT NULL,
                cost_nano INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL);
             CREATE INDEX spend_team_day ON spend (team, day);
             INSERT INTO spend VALUES ('r1', 0, '2025-11-24', 'a', 'k', NULL, 'm', 100, 10, 5);
             INSERT INTO spend VALUES ('r2', 0, '2025-11-24', 'a', 'k', NULL, 'm', 50, 1, 2);",
        )
        .unwrap();
    }
    for _ in 0..2 {
        let (ledger, _) = Ledger::open(&path, false, 0).unwrap();
        let rows = ledger
            .spend(GroupBy::Team, SpendFilter::default())
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![SpendRow {
                group: "a".into(),
                requests: 2,
                cost_nano: 150,
                prompt_tokens: 11,
                completion_tokens: 7,
            }]
        );
    }
}

#[tokio::test]
async fn concurrent_records_are_summed_per_day_and_model() {
    let ledger = std::sync::Arc::new(Ledger::open(Path::new(":memory:"), false, 0).unwrap().0);
    let writes = (0..200).map(|i| {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let mut row = entry(&format!("r{i}"), "a", 3);
            row.model = if i % 2 == 0 { "m1" } else { "m2" }.into();
            ledger.record(row, vec![]).await.unwrap();
        })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap();
    }
    let by_model = ledger
        .spend(GroupBy::Model, SpendFilter::default())
        .await
        .unwrap();
    let groups: Vec<(&str, u64, u64)> = by_model
        .iter()
        .map(|r| (r.group.as_str(), r.requests, r.cost_nano))
        .collect();
    assert_eq!(groups, vec![("m1", 100, 300), ("m2", 100, 300)]);
    assert_eq!(ledger.total().await.unwrap(), (200, 600));
}

/// Counters in the SQLite file itself: (key, value, expires_ms), by key.
fn counter_rows(path: &Path) -> Vec<(String, i64, i64)> {
    let connection = Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT key, value, expires_ms FROM counters ORDER BY key")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn expired_counters_leave_the_ledger_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (ledger, _) = Ledger::open(&path, false, 0).unwrap();
    // From here on every settle is committed straight to SQLite.
    ledger.close().await.unwrap();
    let t = 1_764_000_000_000;
    let at = |id: &str, ts_ms: u64| LedgerEntry {
        ts_ms,
        ..entry(id, "a", 1)
    };
    let counter = |key: &str, amount, expires_ms| DurableCounter {
        key: key.into(),
        amount,
        expires_ms,
    };
    ledger
        .record(
            at("e1", t),
            vec![
                counter("usd:minute:t:a:u:ann:0", 5, t + 60_000),
                counter("usd:total:t:a:u:ann", 100, t + 200_000),
                counter("usd:total:t:a", 100, 0),
            ],
        )
        .await
        .unwrap();
    assert_eq!(counter_rows(&path).len(), 3);
    // Two minutes later the minute's counter is gone; the others live on.
    ledger.record(at("e2", t + 120_000), vec![]).await.unwrap();
    assert_eq!(
        counter_rows(&path),
        vec![
            ("usd:total:t:a".into(), 100, 0),
            ("usd:total:t:a:u:ann".into(), 100, (t + 200_000) as i64),
        ]
    );
    // An end user's total that expired (idle) starts again from what is
    // settled after it, and then lives for its new time.
    ledger
        .record(
            at("e3", t + 300_000),
            vec![counter("usd:total:t:a:u:ann", 7, t + 500_000)],
        )
        .await
        .unwrap();
    assert_eq!(
        counter_rows(&path),
        vec![
            ("usd:total:t:a".into(), 100, 0),
            ("usd:total:t:a:u:ann".into(), 7, (t + 500_000) as i64),
        ]
    );
    ledger.record(at("e4", t + 600_000), vec![]).await.unwrap();
    assert_eq!(counter_rows(&path), vec![("usd:total:t:a".into(), 100, 0)]);
}
