//! The training-only files beside an evaluation's halves, read the same way
//! by every trainer: each file in the folder with the given extension, in
//! name order (so a fit is reproducible), with its text.

use std::path::{Path, PathBuf};

/// `(path, text)` of every `*.{extension}` file in `dir`; none when the
/// folder is absent.
pub fn files(dir: &Path, extension: &str) -> Vec<(PathBuf, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    paths.retain(|path| path.extension().is_some_and(|e| e == extension));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, text)
        })
        .collect()
}
