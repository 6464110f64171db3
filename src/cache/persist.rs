//! The snapshot that lets a restart keep the cache: one JSON line per entry
//! (vectors included), written to a temporary file and renamed into place.

use super::exact::Entry;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

pub const SNAPSHOT_FILE: &str = "cache-snapshot.jsonl";

pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

pub fn write(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = snapshot_path(dir);
    let temporary = path.with_extension("jsonl.tmp");
    {
        let mut out = BufWriter::new(std::fs::File::create(&temporary)?);
        for entry in entries {
            serde_json::to_writer(&mut out, entry)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&temporary, &path)
}

/// Entries from the snapshot; a missing file is an empty cache, and a
/// damaged line is skipped with a warning rather than losing the rest.
pub fn read(dir: &Path) -> Vec<Entry> {
    let path = snapshot_path(dir);
    let Ok(file) = std::fs::File::open(&path) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Entry>(&line) {
            Ok(entry) => entries.push(entry),
            Err(error) => tracing::warn!(
                path = %path.display(),
                line = number + 1,
                %error,
                "skipping a damaged cache snapshot line"
            ),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::exact::test_entry;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        let entries = vec![test_entry(1, "a", 5), test_entry(2, "b", 6)];
        write(dir.path(), &entries).unwrap();
        assert_eq!(read(dir.path()), entries);
        let mut text = std::fs::read_to_string(snapshot_path(dir.path())).unwrap();
        text.insert_str(0, "{broken\n");
        std::fs::write(snapshot_path(dir.path()), text).unwrap();
        assert_eq!(read(dir.path()), entries);
    }
}
