//! Credentials: JWT headers, documentation placeholders, a password that
//! repeats its user name, and enough randomness to be a real key.

use super::*;

/// A JWT: the header decodes to a JSON object naming an `alg`.
pub(in crate::guardrails) fn jwt(found: &str) -> bool {
    let header = found.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|value| value.get("alg").is_some())
}

/// Documentation placeholders: AWS's `...EXAMPLE` keys, `<your-key>`,
/// `${VAR}`, runs of one character, and the usual filler words.
pub fn is_placeholder(found: &str) -> bool {
    let lower = found.to_ascii_lowercase();
    const FILLER: &[&str] = &[
        "example",
        "your",
        "xxxx",
        "placeholder",
        "changeme",
        "dummy",
        "redacted",
        "sample",
        "<",
        "${",
        "{{",
        "****",
        "....",
        "1234567890",
        "abcdef123456",
        "insert",
    ];
    if FILLER.iter().any(|word| lower.contains(word)) {
        return true;
    }
    // Whole values that are the name of what belongs there.
    const NAMES: &[&str] = &[
        "password", "passwd", "pass", "secret", "pwd", "token", "apikey", "api_key",
    ];
    if NAMES.contains(&lower.as_str()) {
        return true;
    }
    // A value that is one character repeated, e.g. `sk_live_000000000000000000000000`.
    let tail: Vec<char> = found.chars().rev().take(16).collect();
    tail.len() >= 12 && tail.iter().all(|c| *c == tail[0])
}

/// The user name that goes with the password at `start`: the `user` of
/// `scheme://user:password@`, or the `User ID=` / `Uid=` / `User=` /
/// `Username=` key on the same line of an ADO.NET or JDBC string.
pub(in crate::guardrails) fn user_beside(text: &str, start: usize) -> Option<&str> {
    static KEY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(?:user ?id|uid|user|user ?name)\s*=\s*([^;\n"']+)"#)
            .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    });
    let before = &text[..start];
    if let Some(authority) = before.strip_suffix(':')
        && let Some((_, user)) = authority.rsplit_once("://")
    {
        return Some(user);
    }
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    KEY.captures(&text[line_start..line_end])
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim())
}

/// A credential-like value: long, mixed character classes, high entropy.
pub(in crate::guardrails) fn looks_random(found: &str) -> bool {
    let value = found.trim_matches(|c| c == '"' || c == '\'');
    if value.len() < 12 {
        return false;
    }
    let classes = [
        value.bytes().any(|b| b.is_ascii_lowercase()),
        value.bytes().any(|b| b.is_ascii_uppercase()),
        value.bytes().any(|b| b.is_ascii_digit()),
        value.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return false;
    }
    let mut counts = [0u32; 256];
    for byte in value.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let len = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.2
}
