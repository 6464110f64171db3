use super::*;
use std::time::Duration;

fn settings(path: PathBuf) -> RequestLogSettings {
    RequestLogSettings {
        enabled: true,
        path,
        retention: Duration::from_secs(3600),
        max_rows: 1_000,
        capture: Vec::new(),
    }
}

fn row(request_id: &str, team: &str, status: u16, at_ms: i64, cost_nano: Option<u64>) -> Row {
    Row {
        at_ms,
        request_id: request_id.to_owned(),
        endpoint: "chat".into(),
        team: Some(team.into()),
        key: Some(format!("{team}-key").into()),
        requested_model: Some("gpt-4o-mini".into()),
        model: Some("openai/gpt-4o-mini".into()),
        provider: Some("openai".into()),
        attempts: 1,
        status,
        outcome: if status < 400 {
            "ok"
        } else {
            "rate_limit_exceeded"
        }
        .into(),
        cache: Some("miss".into()),
        duration_ms: f64::from(status) / 10.0,
        overhead_us: 100,
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_nano,
        ..Row::default()
    }
}

#[test]
fn rows_are_filtered_paged_and_found_by_request_id() {
    let log = RequestLog::open(&settings(":memory:".into())).unwrap();
    let now = store::now_ms();
    for i in 0..5 {
        log.record(row(
            &format!("r{i}"),
            "alpha",
            200,
            now - 1000 + i,
            Some(1_000),
        ));
    }
    log.record(row("r9", "beta", 429, now, None));
    log.record(row("r9", "beta", 200, now, Some(2_000)));
    log.flush();

    let all = log.list(&Filter::default()).unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");

    let alpha = Filter {
        team: Some("alpha".into()),
        limit: Some(2),
        ..Filter::default()
    };
    let page = log.list(&alpha).unwrap();
    assert_eq!(page.len(), 2);
    let next = log
        .list(&Filter {
            before: Some(page[1].seq),
            ..alpha.clone()
        })
        .unwrap();
    assert_eq!(next.len(), 2);
    assert!(next[0].seq < page[1].seq);

    let errors = Filter {
        status: Some("4xx".into()),
        ..Filter::default()
    };
    assert_eq!(log.list(&errors).unwrap().len(), 1);
    let bad = Filter {
        status: Some("7xx".into()),
        ..Filter::default()
    };
    assert!(matches!(
        log.list(&bad).unwrap_err(),
        super::ReadError::BadFilter {
            field: "status",
            ..
        }
    ));

    let calls = log.by_request_id("r9").unwrap();
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [429, 200]
    );
}

#[test]
fn the_summary_counts_spend_errors_and_groups() {
    let log = RequestLog::open(&settings(":memory:".into())).unwrap();
    let now = store::now_ms();
    log.record(row("a", "alpha", 200, now - 10, Some(3_000_000_000)));
    log.record(row("b", "alpha", 500, now - 10, None));
    let mut hit = row("c", "beta", 200, now - 5, Some(0));
    hit.cache = Some("hit-semantic".into());
    log.record(hit);
    log.flush();
    let summary = log
        .summary(
            &Filter {
                since_ms: Some(now - 60_000),
                until_ms: Some(now),
                ..Filter::default()
            },
            6,
        )
        .unwrap();
    assert_eq!((summary.requests, summary.errors), (3, 1));
    assert_eq!((summary.cache_lookups, summary.cache_hits), (3, 1));
    assert!((summary.spend_usd - 3.0).abs() < 1e-9);
    assert_eq!(summary.series.len(), 6);
    assert_eq!(summary.series.iter().map(|b| b.requests).sum::<u64>(), 3);
    assert_eq!(summary.teams[0].name, "alpha");
    assert!((summary.teams[0].spend_series.iter().sum::<f64>() - 3.0).abs() < 1e-9);
    assert_eq!(summary.p50_ms, Some(20.0));
}

/// The request ids in the log, newest first.
fn ids(log: &RequestLog) -> Vec<String> {
    let rows = log.list(&Filter::default()).unwrap();
    rows.into_iter().map(|r| r.request_id).collect()
}

#[test]
fn rows_survive_a_reopen_and_retention_drops_the_old_and_the_surplus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.sqlite");
    let now = store::now_ms();
    {
        let log = RequestLog::open(&settings(path.clone())).unwrap();
        log.record(row("kept", "alpha", 200, now, None));
        log.record(row("old", "alpha", 200, now - 2 * 3600 * 1000, None));
        log.flush();
        assert_eq!(ids(&log), ["kept"], "older than the retention: dropped");
    }
    let log = RequestLog::open(&RequestLogSettings {
        max_rows: 3,
        ..settings(path)
    })
    .unwrap();
    assert_eq!(log.list(&Filter::default()).unwrap()[0].request_id, "kept");
    for i in 0..5 {
        log.record(row(&format!("n{i}"), "alpha", 200, now, None));
    }
    log.flush();
    assert_eq!(
        ids(&log),
        ["n4", "n3", "n2"],
        "at most max_rows, the newest"
    );
}

#[test]
fn client_texts_are_bounded_and_an_off_log_keeps_nothing() {
    let log = RequestLog::open(&settings(":memory:".into())).unwrap();
    let mut long = row(&"x".repeat(10_000), "alpha", 200, store::now_ms(), None);
    long.requested_model = Some("é".repeat(5_000).into());
    log.record(long);
    log.flush();
    let kept = &log.list(&Filter::default()).unwrap()[0];
    assert_eq!(kept.request_id.len(), MAX_TEXT);
    assert!(kept.requested_model.as_ref().unwrap().len() <= MAX_TEXT);

    let off = RequestLog::open(&RequestLogSettings {
        enabled: false,
        ..settings(":memory:".into())
    })
    .unwrap();
    off.record(row("a", "alpha", 200, 0, None));
    off.flush();
    assert_eq!(
        off.list(&Filter::default()).unwrap_err(),
        super::ReadError::Off
    );
}

#[test]
fn a_batch_of_any_size_is_written_whole_and_in_order() {
    // 32-, 8- and 1-row statements: sizes around each boundary, and a
    // batch that needs all three.
    let store = store::Store::open(std::path::Path::new(":memory:"));
    let now = store::now_ms();
    let mut written = 0;
    for size in [1, 7, 8, 9, 31, 32, 33, 41, 75] {
        let batch: Vec<Row> = (0..size)
            .map(|i| {
                let mut row = row(&format!("b{size}-{i}"), "alpha", 200, now, Some(i));
                row.detail.stages = vec![("dispatch".into(), i)];
                row
            })
            .collect();
        store.insert(&batch).unwrap();
        written += size;
        let listed = store
            .list(&Filter {
                limit: Some(500),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(listed.len() as u64, written, "after a batch of {size}");
        let newest: Vec<&Row> = listed.iter().take(size as usize).rev().collect();
        for (i, kept) in newest.iter().enumerate() {
            assert_eq!(kept.request_id, format!("b{size}-{i}"));
            assert_eq!(kept.cost_nano, Some(i as u64));
            assert_eq!(kept.detail.stages, vec![("dispatch".into(), i as u64)]);
            assert_eq!(kept.team.as_deref(), Some("alpha"));
        }
        assert!(listed.windows(2).all(|pair| pair[0].seq > pair[1].seq));
    }
}

/// The bundled SQLite is built without its shared page cache
/// (`.cargo/config.toml`): with it, this log's writer, which adds pages all
/// the time, recycled the quota ledger's cached pages, and the ledger read
/// them back from its files on every fold.
#[test]
fn each_sqlite_connection_keeps_a_page_cache_of_its_own() {
    let connection = rusqlite::Connection::open_in_memory().unwrap();
    let options: Vec<String> = connection
        .prepare("PRAGMA compile_options")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o.starts_with("THREADSAFE=1")),
        "{options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "{options:?}"
    );
}
