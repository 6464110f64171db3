//! What a value found by the `secrets` pack is: a placeholder or mask, a
//! reference to a value kept elsewhere, a hash or encrypted blob, something
//! that is not a secret at all (a URL, a UUID, a public key), or a password
//! or random-looking token; and where in the text it stands.

use super::is_placeholder;

pub(super) use super::context::{span_after as after, span_before as before};

/// Documented sample credentials: real-looking, published on purpose.
pub(super) const KNOWN_PUBLIC: &[&str] = &[
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

pub(super) fn known_public(found: &str) -> bool {
    KNOWN_PUBLIC.iter().any(|k| found.contains(k))
}

/// Masks and filler that no vendor key contains.
pub(super) const MASKS: &[&str] = &[
    "...", "\u{2026}", "***", "\u{2022}", "replace", "fake", "notreal", "not_real", "not-real",
];

pub(super) fn vendor_key(found: &str) -> bool {
    let lower = found.to_ascii_lowercase();
    !is_placeholder(found) && !MASKS.iter().any(|m| lower.contains(m)) && !known_public(found)
}

/// Filler beyond `is_placeholder`'s: masks, tutorial and default passwords.
#[rustfmt::skip]
pub(super) const FILLER: &[&str] = &[
    "...", "\u{2026}", "***", "\u{2022}", "xxx", "changeit", "change_me", "change-me",
    "replace", "fixme", "fake", "lorem", "notreal", "not_real", "not-real", "not-a-real",
    "password", "passwd", "p@ssw0rd", "passw0rd", "hunter2", "letmein", "qwerty", "123456",
    "abc123", "abcdefgh", "foobar", "test123", "test1234", "secret123", "mysecret",
    "supersecret", "s3cr3t", "admin123", "0123456789", "sesame",
];

pub(super) fn placeholder(value: &str) -> bool {
    let lower = value.to_lowercase();
    is_placeholder(value) || FILLER.iter().any(|f| lower.contains(f))
}

/// A value in a URL's query string: `?api_key=` or `&token=` just before.
pub(super) fn in_query(text: &str, start: usize) -> bool {
    let Some(name) = before(text, start, 40).strip_suffix('=') else {
        return false;
    };
    let name = name.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || "_.-".contains(c));
    name.ends_with('?') || name.ends_with('&')
}

/// The value a match stands for: without the rest of a query string and
/// without punctuation that ends a sentence or a structure.
pub(super) fn value_at(text: &str, start: usize, end: usize) -> &str {
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
pub(super) fn is_reference(value: &str) -> bool {
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
pub(super) fn dotted_words(value: &str) -> bool {
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
pub(super) fn env_name(value: &str) -> bool {
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
pub(super) fn is_encoded(value: &str, text: &str, start: usize) -> bool {
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
pub(super) const PUBLIC_BLOBS: &[&str] = &[
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
pub(super) fn not_a_secret(value: &str) -> bool {
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

pub(super) fn uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) fn email(value: &str) -> bool {
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
pub(super) fn entropy(value: &str) -> f64 {
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
pub(super) fn mean_run(value: &str) -> f64 {
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
pub(super) fn password_value(value: &str) -> bool {
    let len = value.chars().count();
    (8..=128).contains(&len)
        && value.chars().any(char::is_alphabetic)
        && value
            .chars()
            .any(|c| c.is_ascii_digit() || (!c.is_alphanumeric() && !"-_.".contains(c)))
}

/// A random-looking token: long enough, mixed, not words.
pub(super) fn token_value(value: &str, bare_key: bool, query: bool) -> bool {
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
