//! The name a value found by the `secrets` pack is assigned to
//! (`API_KEY=`, `"password":`, "the password is"), split into words, and
//! what those words say: a password, a token, or something that is not a
//! credential (`key_id`, `token_type`, `public key`).

use super::secret_values::before;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Password,
    Token,
}

#[rustfmt::skip]
pub(super) const PASSWORD_WORDS: &[&str] = &[
    "password", "passwords", "passwd", "pass", "pwd", "pw", "passphrase", "passwort",
    "kennwort", "contraseña", "contrasena", "senha", "requirepass", "masterauth", "passcode",
    "passe",
];
pub(super) const NOT_PASS: &[&str] = &[
    "bypass",
    "compass",
    "encompass",
    "overpass",
    "underpass",
    "surpass",
    "trespass",
    "impass",
];
#[rustfmt::skip]
pub(super) const TOKEN_WORDS: &[&str] = &[
    "key", "keys", "secret", "secrets", "token", "tokens", "apikey", "credential",
    "credentials", "creds", "auth", "bearer", "basic", "pat", "salt", "clave", "clé", "schlüssel",
    "schluessel", "jeton", "ключ", "токен",
];
pub(super) const CJK_PASSWORD: &[&str] =
    &["パスワード", "密码", "密碼", "비밀번호", "пароль", "Пароль"];

/// Name parts that say the value is not a credential.
#[rustfmt::skip]
pub(super) const DENY: &[&str] = &[
    "hash", "hashed", "hashes", "digest", "sha", "sha1", "sha256", "sha512", "md5", "checksum",
    "fingerprint", "public", "pub", "publishable", "id", "ids", "kid", "uuid", "name", "names",
    "file", "filename", "path", "dir", "url", "uri", "endpoint", "host", "type", "format",
    "length", "len", "size", "bits", "ttl", "expiry", "expires", "expiration", "expire",
    "expired", "version", "cursor", "page", "next", "prev", "previous", "count", "index", "ref",
    "enabled", "required", "header", "field", "param", "prefix", "suffix", "mode", "algo",
    "algorithm", "alg", "method", "scope", "scopes", "location", "region", "policy", "rotation",
    "manager", "provider", "label", "description", "desc", "hint", "pattern", "regex",
    "placeholder", "example", "sample", "template", "limit", "timeout", "encrypted", "sealed",
    "cache", "sort", "partition", "idempotency", "lookup", "min", "max", "cert", "certificate",
    "nonce", "iv", "csrf", "xsrf", "continuation", "sync", "pagination", "arn", "alias",
    "scheme", "strategy", "domain", "question", "prompt", "dummy", "fake", "mock", "strength",
    "rule", "rules", "level", "address", "addr", "contract", "wallet", "pubkey", "identifier",
];
/// Words between a name and its value in prose: "the password is ...".
pub(super) const LINKING: &[&str] = &["is", "was", "ist", "lautet", "es", "est", "era", "é"];

/// `apiKey` → `api`, `key`; `X-Api-Key` → `x`, `api`, `key`;
/// `AWS_SECRET_ACCESS_KEY` → `aws`, `secret`, `access`, `key`.
pub(super) fn split_words(name: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Upper,
        Lower,
        Digit,
        Other,
    }
    let class = |c: char| {
        if c.is_ascii_uppercase() {
            Class::Upper
        } else if c.is_ascii_lowercase() || u32::from(c) >= 0xC0 {
            Class::Lower
        } else if c.is_ascii_digit() {
            Class::Digit
        } else {
            Class::Other
        }
    };
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        match class(chars[i]) {
            Class::Other => {
                i += 1;
                continue;
            }
            Class::Upper => {
                while i < chars.len() && class(chars[i]) == Class::Upper {
                    i += 1;
                }
                if i < chars.len() && class(chars[i]) == Class::Lower {
                    // `APIKey`: `API`, then `Key` with its lower-case tail.
                    if i - 1 > start {
                        words.push(chars[start..i - 1].iter().collect::<String>());
                    }
                    let word_start = i - 1;
                    while i < chars.len() && class(chars[i]) == Class::Lower {
                        i += 1;
                    }
                    words.push(chars[word_start..i].iter().collect());
                } else {
                    words.push(chars[start..i].iter().collect());
                }
            }
            current => {
                while i < chars.len() && class(chars[i]) == current {
                    i += 1;
                }
                words.push(chars[start..i].iter().collect());
            }
        }
    }
    words.into_iter().map(|w| w.to_lowercase()).collect()
}

/// The name a value is assigned to, and the word before it: for
/// `export API_KEY="..."`, `API_KEY` and `export`; for `cache key: ...`,
/// `key` and `cache`. A value after `value:` or `default =` takes its name
/// from `name: ...` or `variable "..."` above.
pub(super) fn name_of(text: &str, start: usize) -> Option<(String, Option<String>)> {
    static NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(?:\bname\\?["']?\s*[:=]\s*\\?["']?|\bvariable\s+")([A-Za-z0-9_.-]+)"#,
        )
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    });
    let prefix = before(text, start, 160).trim_end_matches([' ', '\t', '\r', '\n']);
    // The line: after a newline, or after an escaped `\n` in JSON text.
    let line_start = [
        prefix.rfind('\n').map(|i| i + 1),
        prefix.rfind("\\n").map(|i| i + 2),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let mut tokens: Vec<&str> = prefix[line_start..]
        .split(|c: char| c.is_whitespace() || "\"'`\\=:>,([{;".contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    while let Some(last) = tokens.last() {
        let number = last.len() <= 2 && last.bytes().all(|b| b.is_ascii_digit());
        if number || LINKING.contains(&last.to_lowercase().as_str()) {
            tokens.pop();
        } else {
            break;
        }
    }
    let primary = tokens.pop()?.trim_start_matches(['-', '<']);
    let qualifier = tokens.pop().map(str::to_owned);
    if primary.eq_ignore_ascii_case("value") || primary.eq_ignore_ascii_case("default") {
        let window = before(text, start, 300);
        if let Some(name) = NAME.captures_iter(window).last().and_then(|c| c.get(1)) {
            return Some((name.as_str().to_owned(), None));
        }
    }
    Some((primary.to_owned(), qualifier))
}

pub(super) fn kind_of(words: &[String], primary: &str) -> Option<Kind> {
    let mut kind = None;
    for word in words {
        let w = word.as_str();
        let password = PASSWORD_WORDS.contains(&w)
            || ["password", "passwd", "passphrase"]
                .iter()
                .any(|s| w.ends_with(s))
            || (w.ends_with("pass") && !NOT_PASS.contains(&w));
        if password {
            kind = Some(Kind::Password);
        } else if TOKEN_WORDS.contains(&w)
            || ["secret", "token", "apikey"].iter().any(|s| w.ends_with(s))
        {
            kind = Some(Kind::Token);
        }
    }
    if kind.is_none() && CJK_PASSWORD.iter().any(|p| primary.contains(p)) {
        kind = Some(Kind::Password);
    }
    kind
}

/// Whether the name says the value is not a credential: `key_id`,
/// `csrftoken`, `public key`, `cache key`.
pub(super) fn denied(words: &[String], qualifier: Option<&str>) -> bool {
    let deny = |w: &str| DENY.contains(&w);
    if words.iter().any(|w| deny(w)) {
        return true;
    }
    let compound = words.iter().any(|w| {
        ["password", "passwd", "secret", "token", "apikey", "key"]
            .iter()
            .any(|s| w.len() > s.len() && w.ends_with(s) && deny(&w[..w.len() - s.len()]))
    });
    if compound {
        return true;
    }
    words.len() == 1 && qualifier.is_some_and(|q| split_words(q).iter().any(|w| deny(w)))
}

/// A date or a time: `1979-05-27T07:32:00Z`, `07:32`.
pub(super) fn timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    let time =
        |at: usize| digits(at..at + 2) && b.get(at + 2) == Some(&b':') && digits(at + 3..at + 5);
    let short_time = digits(0..1) && b.get(1) == Some(&b':') && digits(2..4);
    date || time(0) || short_time
}
