//! For tests only (the crate's own and `tests/gateway`, which re-exports
//! these): the rule that a test whose dependency (Redis, Qdrant, the model)
//! is missing fails under CI and says it is skipped elsewhere. Public so the
//! integration tests share one copy; nothing in the gateway calls it.

/// Whether `var` is set to something other than empty, `0` or `false`.
pub fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether this run is CI's (`CI` set and not `false`/`0`), where a missing
/// dependency fails a test instead of skipping it.
pub fn in_ci() -> bool {
    flag("CI")
}

/// Says plainly that the running test is skipped because `what` is missing
/// (and appends it to `SWITCHBOARD_SKIP_LOG`, which `scripts/test` prints at
/// the end); under CI it fails the test instead.
pub fn missing_dependency(what: &str, how: &str) {
    assert!(
        !in_ci(),
        "{what} is missing under CI ({how}): this test must not skip"
    );
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED {test}: {what} is missing ({how}); under CI this fails");
    log_skip(&format!("{test}: {what} is missing ({how})"));
}

/// Appends `line` to the file named by `SWITCHBOARD_SKIP_LOG`, if any.
pub fn log_skip(line: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("SWITCHBOARD_SKIP_LOG") else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(error) = appended {
        eprintln!(
            "cannot record the skip in {}: {error}",
            path.to_string_lossy()
        );
    }
}
