//! The ledger's pending files: settled requests appended to a plain file
//! next to the SQLite ledger (`<ledger>-pending.<n>`), one `write` per
//! batch, before their requests are reported done. Every so often the file
//! is handed over whole: a new one takes the appends while the SQLite
//! thread folds the old one's records in bulk and then deletes it (see
//! `ledger.rs`), so a fold never holds up a request.
//!
//! Why: a SQLite commit per batch writes whole pages to the WAL (the row's
//! page, the daily totals' page, each counter's page), several writes and
//! file locks for a ~200-byte row. Appending the rows costs one write, and
//! the fold writes each page once for thousands of rows. Durability is the
//! same as a WAL commit with `synchronous = NORMAL`: the bytes are in the OS
//! page cache when the request completes, so `kill -9` loses nothing; with
//! `ledger_sync = "full"` each append is also flushed to disk.
//!
//! Each line is one JSON record. A crash can leave at most the last line
//! cut short; reading stops there. Replaying a record already folded (a
//! crash between a fold and its file's deletion) is harmless: the fold
//! ignores a request id the ledger already holds.

use super::ledger::{DurableCounter, LedgerEntry};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One settled request, as a line of the pending file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRecord {
    pub entry: LedgerEntry,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<DurableCounter>,
}

/// The pending file that takes appends now.
pub struct PendingFiles {
    ledger: PathBuf,
    number: u64,
    file: File,
    full_sync: bool,
    /// Reused for every append, so a batch costs no allocation once warm.
    buffer: Vec<u8>,
}

/// A pending file left by an earlier run, with its records.
pub struct Leftover {
    pub path: PathBuf,
    pub records: Vec<PendingRecord>,
}

fn path_of(ledger: &Path, number: u64) -> PathBuf {
    let mut name = ledger.as_os_str().to_owned();
    name.push(format!("-pending.{number}"));
    PathBuf::from(name)
}

/// The pending files of `ledger` that exist, oldest first.
fn existing(ledger: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let dir = match ledger.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(name) = ledger.file_name().and_then(|name| name.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}-pending.");
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let number = entry
                .file_name()
                .to_str()?
                .strip_prefix(&prefix)?
                .parse()
                .ok()?;
            Some((number, entry.path()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Claims the ledger's leftover pending files for this process: only the
/// holder of the lock on `<ledger>-lock` folds them at start, because a
/// second process on the same ledger would otherwise fold and delete the
/// first one's live files. `None` (with a warning) when another process (or
/// another gateway in this process) holds it. The lock lasts as long as the
/// returned file is open; the OS releases it when the process dies, even by
/// `kill -9`.
pub fn lock(ledger: &Path) -> Result<Option<File>, String> {
    let mut name = ledger.as_os_str().to_owned();
    name.push("-lock");
    let path = PathBuf::from(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::warn!(ledger = %ledger.display(), "the ledger is in use by another process: its pending files are left to it; give each replica its own `quota.ledger`");
            Ok(None)
        }
        Err(std::fs::TryLockError::Error(error)) => {
            Err(format!("cannot lock {}: {error}", path.display()))
        }
    }
}

impl PendingFiles {
    /// Start a new pending file for `ledger`; with `claim` (the ledger's
    /// `lock` is held) also returns the files an earlier run left, oldest
    /// first, to be folded before serving.
    pub fn open(
        ledger: &Path,
        full_sync: bool,
        claim: bool,
    ) -> Result<(Self, Vec<Leftover>), String> {
        let mut leftovers = Vec::new();
        let mut next = 0;
        for (number, path) in existing(ledger)? {
            next = number + 1;
            if claim {
                leftovers.push(Leftover {
                    records: read(&path)?,
                    path,
                });
            }
        }
        let (next, file) = create(ledger, next)?;
        Ok((
            Self {
                ledger: ledger.to_owned(),
                number: next,
                file,
                full_sync,
                buffer: Vec::new(),
            },
            leftovers,
        ))
    }

    /// Append the records in one write; returns once they would survive the
    /// process being killed (and a power cut too with `full_sync`).
    pub fn append<'a>(
        &mut self,
        records: impl Iterator<Item = (&'a LedgerEntry, &'a [DurableCounter])>,
    ) -> std::io::Result<()> {
        self.buffer.clear();
        for (entry, counters) in records {
            serde_json::to_writer(
                &mut self.buffer,
                &PendingRef {
                    entry,
                    counters: counters.iter().map(CounterRef::from).collect(),
                },
            )?;
            self.buffer.push(b'\n');
        }
        self.file.write_all(&self.buffer)?;
        if self.full_sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Move appends to a new file; returns the path of the finished one,
    /// whose records the caller folds and then deletes.
    pub fn rotate(&mut self) -> Result<PathBuf, String> {
        let (number, file) = create(&self.ledger, self.number + 1)?;
        let finished = path_of(&self.ledger, self.number);
        self.file = file;
        self.number = number;
        Ok(finished)
    }

    /// The current file's path, once no more appends will come.
    pub fn into_path(self) -> PathBuf {
        path_of(&self.ledger, self.number)
    }
}

/// A new pending file numbered `from` or above: never one that exists,
/// which may be another process's.
fn create(ledger: &Path, from: u64) -> Result<(u64, File), String> {
    let mut number = from;
    loop {
        let path = path_of(ledger, number);
        match OpenOptions::new().create_new(true).append(true).open(&path) {
            Ok(file) => return Ok((number, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
            Err(error) => return Err(format!("cannot create {}: {error}", path.display())),
        }
    }
}

/// The records in the pending files of `ledger`, without changing them:
/// what the ledger has not folded yet (or a killed process left behind).
pub fn read_pending(ledger: &Path) -> Result<Vec<PendingRecord>, String> {
    let mut records = Vec::new();
    for (_, path) in existing(ledger)? {
        records.extend(read(&path)?);
    }
    Ok(records)
}

fn read(path: &Path) -> Result<Vec<PendingRecord>, String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let mut records = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        match serde_json::from_slice::<PendingRecord>(&line) {
            Ok(record) => records.push(record),
            Err(error) => {
                // Only a crash mid-write leaves a bad line, and only the last.
                tracing::warn!(path = %path.display(), %error, "ignoring a cut-short line of the pending ledger file");
                break;
            }
        }
    }
    Ok(records)
}

/// `PendingRecord` by reference, so appending copies nothing.
#[derive(Serialize)]
struct PendingRef<'a> {
    entry: &'a LedgerEntry,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    counters: Vec<CounterRef<'a>>,
}

#[derive(Serialize)]
struct CounterRef<'a> {
    key: &'a str,
    amount: u64,
    expires_ms: u64,
}

impl<'a> From<&'a DurableCounter> for CounterRef<'a> {
    fn from(counter: &'a DurableCounter) -> Self {
        Self {
            key: &counter.key,
            amount: counter.amount,
            expires_ms: counter.expires_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.to_owned(),
            ts_ms: 1,
            team: "alpha".to_owned(),
            key: "k".to_owned(),
            user: None,
            model: "m".to_owned(),
            cost_nano: 7,
            prompt_tokens: 1,
            completion_tokens: 2,
        }
    }

    #[test]
    fn records_survive_reopening_and_a_cut_short_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.sqlite");
        let (mut files, leftovers) = PendingFiles::open(&ledger, false, true).unwrap();
        assert!(leftovers.is_empty());
        let counters = vec![DurableCounter {
            key: "c".to_owned(),
            amount: 3,
            expires_ms: 9,
        }];
        let (a, b, c) = (entry("a"), entry("b"), entry("c"));
        files
            .append([(&a, &counters[..]), (&b, &[][..])].into_iter())
            .unwrap();
        let finished = files.rotate().unwrap();
        files.append([(&c, &[][..])].into_iter()).unwrap();
        // A crash in the middle of the next write.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path_of(&ledger, 1))
            .unwrap()
            .write_all(b"{\"entry\":{\"id\":\"d\",")
            .unwrap();
        let (_, leftovers) = PendingFiles::open(&ledger, false, true).unwrap();
        assert_eq!(leftovers[0].path, finished);
        let ids = |records: &[PendingRecord]| -> Vec<String> {
            records.iter().map(|r| r.entry.id.clone()).collect()
        };
        assert_eq!(ids(&leftovers[0].records), ["a", "b"]);
        assert_eq!(ids(&leftovers[1].records), ["c"]);
        assert_eq!(leftovers[0].records[0].counters, counters);
        assert!(leftovers[0].records[1].counters.is_empty());
        assert_eq!(ids(&read_pending(&ledger).unwrap()), ["a", "b", "c"]);
        // The new run appends to a file after the leftovers.
        assert!(path_of(&ledger, 2).exists());
    }
}
