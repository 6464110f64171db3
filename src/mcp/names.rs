//! Names clients see for upstream tools: `<server>__<tool>`, always valid for
//! LLM function calling (`^[A-Za-z0-9_-]{1,64}$`).
//!
//! A name that is too long, had characters replaced, or collides with another
//! gets a deterministic hash suffix computed from the server and the original
//! tool name, so the same tool keeps the same name across restarts and
//! replicas. The reverse map is built alongside.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

pub const MAX_NAME: usize = 64;
/// `_` and 8 hex digits.
const SUFFIX: usize = 9;
pub const SEPARATOR: &str = "__";

fn allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Whether a name is valid for function calling as it stands.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.bytes().all(allowed)
}

/// The plain name, with invalid characters replaced; `None` when that
/// needed any change (replacement or overflow), so a suffix is due.
fn plain(server: &str, tool: &str) -> (String, bool) {
    let mut name = String::with_capacity(server.len() + SEPARATOR.len() + tool.len());
    name.push_str(server);
    name.push_str(SEPARATOR);
    let mut changed = tool.is_empty();
    for ch in tool.chars() {
        if ch.is_ascii() && allowed(ch as u8) {
            name.push(ch);
        } else {
            name.push('_');
            changed = true;
        }
    }
    let clean = !changed && name.len() <= MAX_NAME;
    (name, clean)
}

fn suffixed(plain: &str, server: &str, tool: &str) -> String {
    let digest = Sha256::new()
        .chain_update(server.as_bytes())
        .chain_update([0u8])
        .chain_update(tool.as_bytes())
        .finalize();
    let mut cut = plain.len().min(MAX_NAME - SUFFIX);
    while !plain.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &plain[..cut], hex::encode(&digest[..4]))
}

/// One upstream tool's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolKey {
    pub server: Arc<str>,
    pub tool: Arc<str>,
}

/// Exposed names for a set of tools, and the way back.
#[derive(Debug, Default, Clone)]
pub struct NameMap {
    forward: HashMap<ToolKey, Arc<str>>,
    reverse: HashMap<Arc<str>, ToolKey>,
}

impl NameMap {
    /// Names for all `tools` at once, so collisions are seen and resolved the
    /// same way whatever order the upstreams answered in.
    pub fn build(tools: impl IntoIterator<Item = ToolKey>) -> Self {
        let mut keys: Vec<ToolKey> = tools.into_iter().collect();
        keys.sort();
        keys.dedup();
        let plains: Vec<(String, bool)> = keys.iter().map(|k| plain(&k.server, &k.tool)).collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (name, _) in &plains {
            *count.entry(name.as_str()).or_default() += 1;
        }
        let mut map = Self::default();
        for (key, (name, clean)) in keys.iter().zip(&plains) {
            let exposed = if *clean && count[name.as_str()] == 1 {
                name.clone()
            } else {
                suffixed(name, &key.server, &key.tool)
            };
            let exposed: Arc<str> = Arc::from(exposed);
            map.forward.insert(key.clone(), exposed.clone());
            map.reverse.insert(exposed, key.clone());
        }
        map
    }

    pub fn exposed(&self, key: &ToolKey) -> Option<&Arc<str>> {
        self.forward.get(key)
    }

    pub fn resolve(&self, exposed: &str) -> Option<&ToolKey> {
        self.reverse.get(exposed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, tool: &str) -> ToolKey {
        ToolKey {
            server: Arc::from(server),
            tool: Arc::from(tool),
        }
    }

    fn names(tools: &[(&str, &str)]) -> Vec<String> {
        let map = NameMap::build(tools.iter().map(|(s, t)| key(s, t)));
        tools
            .iter()
            .map(|(s, t)| map.exposed(&key(s, t)).unwrap().to_string())
            .collect()
    }

    fn check(tools: &[(&str, &str)], expected: &[&str]) {
        let got = names(tools);
        let map = NameMap::build(tools.iter().map(|(s, t)| key(s, t)));
        for (name, (server, tool)) in got.iter().zip(tools) {
            assert!(is_valid(name), "{name} is not a valid name");
            assert_eq!(map.resolve(name), Some(&key(server, tool)));
        }
        for (name, want) in got.iter().zip(expected) {
            if want.ends_with('*') {
                let stem = want.trim_end_matches('*');
                assert!(name.starts_with(stem), "{name} should start with {stem}");
                assert_eq!(name.len(), stem.len() + 9, "{name}");
            } else {
                assert_eq!(name, want);
            }
        }
    }

    #[test]
    fn plain_names_stay_readable() {
        check(&[("time", "get_current_time")], &["time__get_current_time"]);
        check(&[("a-b", "x-y_z")], &["a-b__x-y_z"]);
    }

    #[test]
    fn invalid_characters_are_replaced_and_suffixed() {
        check(&[("fs", "read.file")], &["fs__read_file*"]);
        check(&[("fs", "héllo wörld")], &["fs__h_llo_w_rld*"]);
        check(&[("fs", "")], &["fs__*"]);
    }

    #[test]
    fn long_names_are_shortened_to_64_with_a_hash() {
        let long = "a".repeat(80);
        let got = names(&[("server", &long)]);
        assert_eq!(got[0].len(), 64);
        assert!(got[0].starts_with("server__aaaa"));
        // Exactly 64 stays as it is.
        let exact = "b".repeat(64 - "server__".len());
        check(&[("server", &exact)], &[&format!("server__{exact}")]);
    }

    #[test]
    fn collisions_get_distinct_suffixes() {
        // `a.b` and `a_b` both sanitise to `a_b`.
        let got = names(&[("s", "a.b"), ("s", "a_b")]);
        assert_ne!(got[0], got[1]);
        assert!(got.iter().all(|n| is_valid(n)));
        assert_eq!(got[1], "s__a_b_".to_owned() + &got[1][7..]);
        // Two long names sharing a 55-character prefix.
        let one = format!("{}1", "x".repeat(70));
        let two = format!("{}2", "x".repeat(70));
        let got = names(&[("s", &one), ("s", &two)]);
        assert_ne!(got[0], got[1]);
        assert_eq!(got[0].len(), 64);
    }

    #[test]
    fn names_do_not_depend_on_order() {
        let a = names(&[("s", "a.b"), ("s", "a_b"), ("t", "x")]);
        let mut b = names(&[("t", "x"), ("s", "a_b"), ("s", "a.b")]);
        b.reverse();
        assert_eq!(a, b);
    }
}
