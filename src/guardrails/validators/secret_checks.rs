//! Validators of the `secrets` pack: they tell a credential from what only
//! looks like one. A vendor key must not be a documentation placeholder or a
//! well-known public sample; a value assigned to a name (`API_KEY=...`,
//! `"password": "..."`, `Authorization: Bearer ...`) must be a value, not a
//! reference (`${VAR}`, `os.environ[...]`, `{{ .Values.x }}`), a mask
//! (`****`), a hash, a UUID, a public key or an encrypted blob, and the name
//! must not say it is something else (`key_id`, `token_type`, `sha256`,
//! `public_key`, `next_token`).

use super::{Validator, is_placeholder};
use base64::Engine as _;
use std::sync::LazyLock;

/// The checks, by the name a rule gives in `validator = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// A vendor-format key: not a placeholder, a mask or a public sample.
    Key,
    /// A JWT (header naming an `alg`) that is not jwt.io's sample.
    JwtToken,
    /// A random-looking token (bearer tokens, `token ...`).
    Token,
    /// A password: any value that is not a reference, placeholder or hash.
    Password,
    /// A value assigned to a name: a password check if the name says
    /// password, a token check if it says key, token or secret.
    Assigned,
    /// The password of `scheme://user:password@host`.
    UrlPassword,
    /// A PEM or PuTTY private key header followed by key material.
    Pem,
    /// A Discord bot token: the first part is the bot's id in base64.
    Discord,
}

impl SecretCheck {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "key" => Self::Key,
            "jwt_token" => Self::JwtToken,
            "token" => Self::Token,
            "password" => Self::Password,
            "assigned" => Self::Assigned,
            "url_password" => Self::UrlPassword,
            "pem" => Self::Pem,
            "discord" => Self::Discord,
            _ => return None,
        })
    }

    /// Whether `text[start..end]` (a match inside `text`) passes.
    pub fn accepts(self, text: &str, start: usize, end: usize) -> bool {
        let Some(found) = text.get(start..end) else {
            return false;
        };
        match self {
            Self::Key => vendor_key(found),
            Self::JwtToken => Validator::Jwt.accepts(text, start, end) && !known_public(found),
            Self::Token => token(text, start, end),
            Self::Password => password(text, start, end),
            Self::Assigned => assigned(text, start, end),
            Self::UrlPassword => url_password(text, start, end, found),
            Self::Pem => pem(text, end, found),
            Self::Discord => discord(text, start, end, found),
        }
    }
}

/// Documented sample credentials: real-looking, published on purpose.
const KNOWN_PUBLIC: &[&str] = &[
    // Azurite / Azure Storage emulator account key.
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    // Stripe API reference keys.
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    "sk_test_26PHem9AhJZvU623DfE1x4sd",
    // GitHub, Slack, Google Maps and Telegram documentation tokens.
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    // jwt.io's sample token (signature and payload).
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
    // RFC 6749 (OAuth 2.0) examples.
    "2YotnFZFEjr1zCsicMWpAA",
    "tGzv3JOkF0XG5Qx2TlKWIA",
    "SplxlOBeZQQYbYS6WxSbIA",
    // WireGuard's documentation key.
    "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
    // RFC 7617's `Aladdin:open sesame`, Django REST framework's token, and
    // SHA-256 of nothing (in every AWS SigV4 example).
    "QWxhZGRpbjpvcGVuIHNlc2FtZQ",
    "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
];

fn known_public(found: &str) -> bool {
    KNOWN_PUBLIC.iter().any(|k| found.contains(k))
}

/// Masks and filler that no vendor key contains.
const MASKS: &[&str] = &[
    "...", "\u{2026}", "***", "\u{2022}", "replace", "fake", "notreal", "not_real", "not-real",
];

fn vendor_key(found: &str) -> bool {
    let lower = found.to_ascii_lowercase();
    !is_placeholder(found) && !MASKS.iter().any(|m| lower.contains(m)) && !known_public(found)
}

/// Filler beyond `is_placeholder`'s: masks, tutorial and default passwords.
#[rustfmt::skip]
const FILLER: &[&str] = &[
    "...", "\u{2026}", "***", "\u{2022}", "xxx", "changeit", "change_me", "change-me",
    "replace", "fixme", "fake", "lorem", "notreal", "not_real", "not-real", "not-a-real",
    "password", "passwd", "p@ssw0rd", "passw0rd", "hunter2", "letmein", "qwerty", "123456",
    "abc123", "abcdefgh", "foobar", "test123", "test1234", "secret123", "mysecret",
    "supersecret", "s3cr3t", "admin123", "0123456789", "sesame",
];

fn placeholder(value: &str) -> bool {
    let lower = value.to_lowercase();
    is_placeholder(value) || FILLER.iter().any(|f| lower.contains(f))
}

/// `text[..at]`'s last `max` bytes or a little fewer (on a char boundary).
fn before(text: &str, at: usize, max: usize) -> &str {
    let mut from = at.saturating_sub(max);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..at]
}

/// `text[at..]`'s first `max` bytes or a little fewer (on a char boundary).
fn after(text: &str, at: usize, max: usize) -> &str {
    let mut to = (at + max).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    &text[at..to]
}

/// A value in a URL's query string: `?api_key=` or `&token=` just before.
fn in_query(text: &str, start: usize) -> bool {
    let Some(name) = before(text, start, 40).strip_suffix('=') else {
        return false;
    };
    let name = name.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || "_.-".contains(c));
    name.ends_with('?') || name.ends_with('&')
}

/// The value a match stands for: without the rest of a query string and
/// without punctuation that ends a sentence or a structure.
fn value_at(text: &str, start: usize, end: usize) -> &str {
    let mut value = &text[start..end];
    if in_query(text, start)
        && let Some(amp) = value.find('&')
    {
        value = &value[..amp];
    }
    value.trim_end_matches(|c| ",.;:)]}".contains(c))
}

/// A reference to a value kept elsewhere, or code that computes one:
/// `${VAR}`, `$VAR`, `{{ x }}`, `%(x)s`, `os.environ["X"]`, `process.env.X`,
/// `DB_PASSWORD`, `!vault`, `0x...` addresses.
fn is_reference(value: &str) -> bool {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return true;
    };
    if "${%<[(*:=_".contains(first)
        || (first == '!' && chars.next().is_some_and(char::is_alphabetic))
    {
        return true;
    }
    if let Some(hex) = value.strip_prefix("0x")
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return true;
    }
    if ["${", "{{", "}}", "$(", "#{", "%(", "%s", "::"]
        .iter()
        .any(|r| value.contains(r))
    {
        return true;
    }
    // A call or an index: `getenv(`, `os.environ[`, `settings.get(`.
    if first.is_ascii_alphabetic() || first == '_' {
        let path = value
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(value.len());
        if matches!(value[path..].chars().next(), Some('(' | '[')) {
            return true;
        }
    }
    dotted_words(value) || env_name(value)
}

/// `settings.SECRET_KEY`, `config.db.password2`: identifiers, not a token.
fn dotted_words(value: &str) -> bool {
    let mut segments = 0;
    for segment in value.split('.') {
        let digits = segment.bytes().rev().take_while(u8::is_ascii_digit).count();
        let word = &segment[..segment.len() - digits];
        if digits > 2
            || word.is_empty()
            || !word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return false;
        }
        segments += 1;
    }
    segments >= 2
}

/// `DB_PASSWORD`, `SECRET`: the name of an environment variable.
fn env_name(value: &str) -> bool {
    let bytes = value.as_bytes();
    if !bytes[0].is_ascii_uppercase()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
    {
        return false;
    }
    let snake = value.contains('_') && !value.ends_with('_') && !value.contains("__");
    snake || bytes.iter().all(u8::is_ascii_uppercase)
}

/// Hashes, ciphertexts and sealed values: safe to show.
fn is_encoded(value: &str, text: &str, start: usize) -> bool {
    let lower = value.to_ascii_lowercase();
    const PREFIXES: &[&str] = &[
        "enc[",
        "enc(",
        "vault:v",
        "aqicah",
        "$ansible_vault",
        "sha1:",
        "sha256:",
        "sha512:",
        "md5:",
        "{ssha",
        "{sha",
    ];
    const HASHES: &[&str] = &["pbkdf2", "argon2", "bcrypt", "scrypt"];
    if PREFIXES.iter().any(|p| lower.starts_with(p)) || HASHES.iter().any(|h| lower.contains(h)) {
        return true;
    }
    // Bitnami sealed secrets start `Ag` and run to hundreds of characters.
    if value.len() > 200 && value.starts_with("Ag") {
        return true;
    }
    let context = before(text, start, 1000);
    ["encryptedData", "SealedSecret", "ENC[AES256"]
        .iter()
        .any(|c| context.contains(c))
}

/// OpenSSH and SubjectPublicKeyInfo public keys in base64.
const PUBLIC_BLOBS: &[&str] = &[
    "AAAAB3NzaC1",
    "AAAAC3NzaC1",
    "AAAAE2VjZHNh",
    "AAAAG3NrLXNzaC1",
    "AAAAInNrLWVjZHNh",
    "MFkwEwYHKoZIzj0CAQYI",
    "MHYwEAYHKoZIzj0CAQYF",
    "MIIBIjANBgkqhkiG9w0BAQEFAAOC",
    "MIICIjANBgkqhkiG9w0BAQEFAAOC",
    "MCowBQYDK2Vw",
];

/// Values that are something else: public keys, URLs, paths, file names,
/// UUIDs, e-mail addresses.
fn not_a_secret(value: &str) -> bool {
    const FILES: &[&str] = &[
        "pem", "key", "json", "txt", "env", "crt", "cer", "p12", "pfx", "jks", "yaml", "yml",
        "toml", "ini", "conf", "cfg", "gpg", "asc", "pub", "der", "ppk",
    ];
    if PUBLIC_BLOBS.iter().any(|p| value.starts_with(p))
        || value.contains("://")
        || ["/", "./", "../", "~/", "file:"]
            .iter()
            .any(|p| value.starts_with(p))
        || uuid(value)
    {
        return true;
    }
    let file_chars = value
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-');
    if file_chars
        && let Some((_, ext)) = value.rsplit_once('.')
        && FILES.contains(&ext.to_ascii_lowercase().as_str())
    {
        return true;
    }
    email(value)
}

fn uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
        })
}

/// Shannon entropy in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts: Vec<(char, u32)> = Vec::new();
    let mut len = 0u32;
    for c in value.chars() {
        len += 1;
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((c, 1)),
        }
    }
    let len = f64::from(len.max(1));
    counts
        .iter()
        .map(|(_, n)| {
            let p = f64::from(*n) / len;
            -p * p.log2()
        })
        .sum()
}

/// The mean length of runs of one character class (digit, lower, upper):
/// about 1.6 for random base62, 2 for hex, 3 and more for words.
fn mean_run(value: &str) -> f64 {
    let (mut runs, mut count, mut previous) = (0u32, 0u32, None);
    for c in value.chars() {
        let class = if c.is_ascii_digit() {
            0
        } else if c.is_ascii_lowercase() {
            1
        } else if c.is_ascii_uppercase() {
            2
        } else {
            previous = None;
            continue;
        };
        count += 1;
        if previous != Some(class) {
            runs += 1;
        }
        previous = Some(class);
    }
    f64::from(count) / f64::from(runs.max(1))
}

/// Anything that is not a reference, placeholder or hash and is not only
/// letters: `Tundra_7703`, `staple-pepper-correct10`.
fn password_value(value: &str) -> bool {
    let len = value.chars().count();
    (8..=128).contains(&len)
        && value.chars().any(char::is_alphabetic)
        && value
            .chars()
            .any(|c| c.is_ascii_digit() || (!c.is_alphanumeric() && !"-_.".contains(c)))
}

/// A random-looking token: long enough, mixed, not words.
fn token_value(value: &str, bare_key: bool, query: bool) -> bool {
    let len = value.chars().count();
    if !(12..=256).contains(&len) {
        return false;
    }
    let lower = value.bytes().any(|b| b.is_ascii_lowercase());
    let upper = value.bytes().any(|b| b.is_ascii_uppercase());
    let digit = value.bytes().any(|b| b.is_ascii_digit());
    if len < 16 {
        // Short: only if it mixes all three and barely repeats a class.
        return lower && upper && digit && mean_run(value) <= 2.5 && entropy(value) >= 3.0;
    }
    if !(lower || upper) || !(digit || (lower && upper && len >= 20)) {
        return false;
    }
    // Without digits, random letters have few vowels (10 in 52); words
    // such as `CredentialsEnvVarsStsWebIdToken` have many.
    if !digit {
        let letters = value.bytes().filter(u8::is_ascii_alphabetic).count();
        let vowels = value.bytes().filter(|b| b"aeiouAEIOU".contains(b)).count();
        if vowels * 10 > letters * 3 {
            return false;
        }
    }
    let hex = value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        || value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    // A hex digest under a name that only says `key` is as likely a cache
    // key or an object id; in a query string (`?key=`) it is an API key.
    if hex && bare_key && !query {
        return false;
    }
    mean_run(value) <= 3.0 && entropy(value) >= 3.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Password,
    Token,
}

#[rustfmt::skip]
const PASSWORD_WORDS: &[&str] = &[
    "password", "passwords", "passwd", "pass", "pwd", "pw", "passphrase", "passwort",
    "kennwort", "contraseña", "contrasena", "senha", "requirepass", "masterauth", "passcode",
    "passe",
];
const NOT_PASS: &[&str] = &[
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
const TOKEN_WORDS: &[&str] = &[
    "key", "keys", "secret", "secrets", "token", "tokens", "apikey", "credential",
    "credentials", "creds", "auth", "bearer", "basic", "pat", "salt", "clave", "clé", "schlüssel",
    "schluessel", "jeton", "ключ", "токен",
];
const CJK_PASSWORD: &[&str] = &["パスワード", "密码", "密碼", "비밀번호", "пароль", "Пароль"];

/// Name parts that say the value is not a credential.
#[rustfmt::skip]
const DENY: &[&str] = &[
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
const LINKING: &[&str] = &["is", "was", "ist", "lautet", "es", "est", "era", "é"];

/// `apiKey` → `api`, `key`; `X-Api-Key` → `x`, `api`, `key`;
/// `AWS_SECRET_ACCESS_KEY` → `aws`, `secret`, `access`, `key`.
fn split_words(name: &str) -> Vec<String> {
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
fn name_of(text: &str, start: usize) -> Option<(String, Option<String>)> {
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

fn kind_of(words: &[String], primary: &str) -> Option<Kind> {
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
fn denied(words: &[String], qualifier: Option<&str>) -> bool {
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
fn timestamp(value: &str) -> bool {
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

fn check_value(kind: Kind, value: &str, text: &str, start: usize, words: &[String]) -> bool {
    if value.chars().count() < 8
        || value.chars().filter(|c| c.is_alphabetic()).count() < 3
        || timestamp(value)
        || placeholder(value)
        || is_reference(value)
        || is_encoded(value, text, start)
        || not_a_secret(value)
        || known_public(value)
    {
        return false;
    }
    match kind {
        Kind::Password => password_value(value),
        Kind::Token => token_value(value, words == ["key"], in_query(text, start)),
    }
}

fn assigned(text: &str, start: usize, end: usize) -> bool {
    let value = value_at(text, start, end);
    let Some((primary, qualifier)) = name_of(text, start) else {
        return false;
    };
    let words = split_words(&primary);
    match kind_of(&words, &primary) {
        Some(kind) if !denied(&words, qualifier.as_deref()) => {
            check_value(kind, value, text, start, &words)
        }
        _ => false,
    }
}

fn password(text: &str, start: usize, end: usize) -> bool {
    let value = value_at(text, start, end);
    let words = name_of(text, start).map_or_else(Vec::new, |(name, _)| split_words(&name));
    if !words.is_empty() && denied(&words, None) {
        return false;
    }
    check_value(Kind::Password, value, text, start, &words)
}

fn token(text: &str, start: usize, end: usize) -> bool {
    let value = value_at(text, start, end);
    let (words, qualifier) = match name_of(text, start) {
        Some((name, qualifier)) => (split_words(&name), qualifier),
        None => (Vec::new(), None),
    };
    if words == ["basic"] {
        return basic_credentials(value);
    }
    if !words.is_empty() && denied(&words, qualifier.as_deref()) {
        return false;
    }
    check_value(Kind::Token, value, text, start, &words)
}

/// `Authorization: Basic <base64 of user:password>` with a real password.
fn basic_credentials(value: &str) -> bool {
    let Ok(bytes) =
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.trim_end_matches('='))
    else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(bytes) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    password.chars().count() >= 6
        && !placeholder(password)
        && !is_reference(password)
        && !password.eq_ignore_ascii_case(user)
}

/// The password of `scheme://user:password@host`: not the user again, not
/// a placeholder or reference, and a password (`bowser`, `sentinel_pass`
/// in a URL parser's tests are not).
fn url_password(text: &str, start: usize, end: usize, found: &str) -> bool {
    let mixed_case = found.chars().count() >= 12
        && found.bytes().any(|b| b.is_ascii_uppercase())
        && found.bytes().any(|b| b.is_ascii_lowercase());
    Validator::Credential.accepts(text, start, end)
        && !placeholder(found)
        && !is_reference(found)
        && (password_value(found) || mixed_case)
}

/// Key material after a private key's header: header lines (`Proc-Type:`,
/// `Version:`) skipped, then at least 40 base64 characters that are not
/// filler. `-----BEGIN PRIVATE KEY-----` alone, or followed by `...` or
/// `<your key>`, names a format and leaks nothing.
fn pem(text: &str, end: usize, found: &str) -> bool {
    let mut window = after(text, end, 600);
    if found.starts_with("PuTTY") {
        window = after(text, end, 2000);
        let Some(at) = window.find("Private-Lines:") else {
            return false;
        };
        window = window[at + "Private-Lines:".len()..]
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
    }
    for piece in window.split('\n').flat_map(|line| line.split("\\n")) {
        let line = piece.trim_matches(|c: char| c.is_whitespace() || "\"'\\".contains(c));
        if line.is_empty() {
            continue;
        }
        let header = line.split_once(": ").is_some_and(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        });
        if header {
            continue;
        }
        let run = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
            .map_or(line, |i| &line[..i]);
        return run.len() >= 40 && !placeholder(run);
    }
    false
}

/// A Discord token: its first part decodes to a 17–20 digit id, or the
/// text around it says Discord.
fn discord(text: &str, start: usize, end: usize, found: &str) -> bool {
    let first = found.split('.').next().unwrap_or_default();
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()));
    let around = format!("{}{}", before(text, start, 300), after(text, end, 300)).to_lowercase();
    (id || around.contains("discord")) && vendor_key(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `check` accepts the value `value` where it stands in `text`.
    fn accepts(check: &str, text: &str, value: &str) -> bool {
        let start = text.rfind(value).unwrap();
        SecretCheck::parse(check)
            .unwrap()
            .accepts(text, start, start + value.len())
    }

    #[test]
    fn names_split_into_words() {
        assert_eq!(split_words("apiKey"), ["api", "key"]);
        assert_eq!(split_words("X-Api-Key"), ["x", "api", "key"]);
        assert_eq!(
            split_words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(split_words("APIKey2"), ["api", "key", "2"]);
        assert_eq!(split_words("app.vault.token"), ["app", "vault", "token"]);
        assert_eq!(split_words("Contraseña"), ["contraseña"]);
    }

    #[test]
    fn assigned_values_by_the_name_they_are_given() {
        let cases = [
            (
                "API_KEY=8902249558d30709b3aa181f1f8b41943f2b2cef",
                "8902249558d30709b3aa181f1f8b41943f2b2cef",
                true,
            ),
            ("  password: Tundra_7703\n", "Tundra_7703", true),
            (
                r#""X-Api-Key": "3ac8b414e84a8c8c139452d1f8aaac19","#,
                "3ac8b414e84a8c8c139452d1f8aaac19",
                true,
            ),
            (
                "- name: API_KEY\n  value: Q2x8Lm3Vb7Np4Kt9Wc1Yh6Jd",
                "Q2x8Lm3Vb7Np4Kt9Wc1Yh6Jd",
                true,
            ),
            ("Das Passwort ist Kestrel#4471", "Kestrel#4471", true),
            // Names that say something else.
            (
                "AccessKeyId: 4QWERTYZXCVB7LMN2X8Q",
                "4QWERTYZXCVB7LMN2X8Q",
                false,
            ),
            (
                r#""hashed_secret": "9aeb51cc556acf0f2c4f7229091c46de98db8eb6""#,
                "9aeb51cc556acf0f2c4f7229091c46de98db8eb6",
                false,
            ),
            (
                "build cache key: linux-x64-4329ca6ee8f87d6ba52faf2c674e57b2",
                "linux-x64-4329ca6ee8f87d6ba52faf2c674e57b2",
                false,
            ),
            (
                "csrftoken=Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks",
                "Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks",
                false,
            ),
            (
                r#""public_key": "Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks""#,
                "Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks",
                false,
            ),
            (
                "monkey: Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks",
                "Kx8Pq2Lm9Nv4Rt7Wz1Yb3Cd6Fg0Hj5Ks",
                false,
            ),
            // Values that are not credentials.
            ("api_key = settings.API_KEY", "settings.API_KEY", false),
            ("password: ${DB_PASSWORD}", "${DB_PASSWORD}", false),
            ("token = getenv(\"TOKEN\")", "getenv(", false),
            (
                "SECRET_KEY=your-secret-key-here",
                "your-secret-key-here",
                false,
            ),
            ("password: incorrect", "incorrect", false),
            (
                r#""tenant_key": "2f4c8e1a-9b3d-4e7f-a6c5-1d2e3f4a5b6c""#,
                "2f4c8e1a-9b3d-4e7f-a6c5-1d2e3f4a5b6c",
                false,
            ),
            (
                "key: 9f546d7175f0a314db10282ef881517793780fe8",
                "9f546d7175f0a314db10282ef881517793780fe8",
                false,
            ),
            (
                "password_hash: $2b$12$KIXQJQm6k5dGHj3L4p2xUe0Gq8U8bZ0Yk5",
                "$2b$12$KIXQJQm6k5dGHj3L4p2xUe0Gq8U8bZ0Yk5",
                false,
            ),
            (
                "secret: ENC[AES256_GCM,data:Tr7o2Iu3PwvxGzu5R8w=]",
                "ENC[AES256_GCM",
                false,
            ),
            (
                "key: AAAAC3NzaC1lZDI1NTE5AAAAIGq7lRt5kL0v2bS8nHjW3xZc",
                "AAAAC3NzaC1lZDI1NTE5AAAAIGq7lRt5kL0v2bS8nHjW3xZc",
                false,
            ),
        ];
        for (text, value, expected) in cases {
            assert_eq!(accepts("assigned", text, value), expected, "{text}");
        }
        for (text, value) in [
            ("key = 1979-05-27T07:32:00Z", "1979-05-27T07:32:00Z"),
            ("const IFLA_GRE_IKEY: _bindgen_ty_22 = 1;", "_bindgen_ty_22"),
            (
                "tokens: proc_macro2::TokenStream,",
                "proc_macro2::TokenStream,",
            ),
        ] {
            assert!(!accepts("assigned", text, value), "{text}");
        }
        // A hex key is an API key in a query string, not in `key: ...`.
        let url = "GET /v1/export?format=csv&key=2c694be27d2dba5af608c066640ae977a9e8c630&x=1";
        assert!(accepts(
            "assigned",
            url,
            "2c694be27d2dba5af608c066640ae977a9e8c630&x=1"
        ));
    }

    #[test]
    fn tokens_passwords_and_keys() {
        assert!(accepts(
            "token",
            "Authorization: Bearer 4yknRLP05F7opx5zvuhLz2b2b87IHjntB2Dj3374",
            "4yknRLP05F7opx5zvuhLz2b2b87IHjntB2Dj3374"
        ));
        assert!(!accepts(
            "token",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA=="
        ));
        assert!(accepts(
            "token",
            "Authorization: Basic Y2k6WnE3TG0yWHY5TnA0UnQ=",
            "Y2k6WnE3TG0yWHY5TnA0UnQ="
        ));
        assert!(!accepts(
            "token",
            "token contract 0x6B175474E89094C44Da98b954EedeAC495271d0F",
            "0x6B175474E89094C44Da98b954EedeAC495271d0F"
        ));
        assert!(accepts(
            "password",
            "machine api.acme.io\n  login bot\n  password M4rl1n!36oa!",
            "M4rl1n!36oa!"
        ));
        assert!(accepts(
            "password",
            "username admin privilege 15 password 0 staple-pepper-correct10",
            "staple-pepper-correct10"
        ));
        assert!(!accepts("password", "password reset-link", "reset-link"));
        assert!(accepts(
            "key",
            "AKIA4QWERTYZXCVB7LMN",
            "AKIA4QWERTYZXCVB7LMN"
        ));
        assert!(!accepts(
            "key",
            "sk-proj-…Anyo and sk_live_****1234",
            "sk_live_****1234"
        ));
        assert!(!accepts(
            "key",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
        ));
        assert!(accepts(
            "url_password",
            "git clone https://deploy-bot:horse-tractor71@git.acme.io/x.git",
            "horse-tractor71"
        ));
        assert!(!accepts(
            "url_password",
            "postgresql://{user}:{password}@{host}/app",
            "{password}"
        ));
    }

    #[test]
    fn private_keys_need_key_material() {
        let header = "-----BEGIN RSA PRIVATE KEY-----";
        let real =
            format!("{header}\nMIIEowIBAAKCAQEAorQjT/iV9NQDSUrRezFbC22FleahBGTRGJX3Hui+x35lNwYZ\n");
        let escaped =
            format!(r#""{header}\nMIIEowIBAAKCAQEAorQjT/iV9NQDSUrRezFbC22FleahBGTRGJX3Hui\n""#);
        let encrypted = format!(
            "{header}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F9A1C7E\n\nq7Lm2Vb9Np4Rt8Kw3Yc6Hd1Fg5Ss0ZxAe2Uq9IoKx9mQ2vL7\n"
        );
        for text in [real, escaped, encrypted] {
            assert!(accepts("pem", &text, header), "{text}");
        }
        for text in [
            format!("the file starts with {header} and ends with the END line"),
            format!("{header}\nMIIE...\n-----END RSA PRIVATE KEY-----"),
            format!("{header}\n<paste your key here>\n"),
        ] {
            assert!(!accepts("pem", &text, header), "{text}");
        }
    }

    #[test]
    fn discord_tokens_carry_a_numeric_id() {
        let token = "MTA4NzY1NDMyMTA5ODc2NTQzMg.GxYz12.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab";
        assert!(accepts("discord", token, token));
        let other = "MzRabcdefghijklmnopqrstuvwx.GxYz12.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab";
        assert!(!accepts("discord", other, other));
        assert!(accepts("discord", &format!("DISCORD_TOKEN={other}"), other));
    }
}
