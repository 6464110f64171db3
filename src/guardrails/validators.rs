//! Checks a pattern match must pass before it counts: checksums (Luhn, IBAN
//! mod-97), number plans (SSN), parsers (IP addresses, JWT headers), and
//! tests that tell a real secret from a documentation placeholder.

use base64::Engine as _;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Iban,
    Ssn,
    Email,
    Ipv4,
    Ipv6,
    Phone,
    Jwt,
    /// Not a placeholder such as `AKIAIOSFODNN7EXAMPLE` or `<your-key>`.
    Secret,
    /// A placeholder check plus enough randomness to be a real credential.
    Entropy,
    /// A password in a connection string: not a placeholder, and not the
    /// user name again (`postgres:postgres@`, `User ID=sa;...;Password=sa`),
    /// which is a container image's or a tutorial's default account and
    /// tells nothing the text does not already show.
    Credential,
}

impl Validator {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "luhn" => Self::Luhn,
            "iban" => Self::Iban,
            "ssn" => Self::Ssn,
            "email" => Self::Email,
            "ipv4" => Self::Ipv4,
            "ipv6" => Self::Ipv6,
            "phone" => Self::Phone,
            "jwt" => Self::Jwt,
            "secret" => Self::Secret,
            "entropy" => Self::Entropy,
            "credential" => Self::Credential,
            _ => return None,
        })
    }

    /// Whether `text[start..end]` (a match inside `text`) passes.
    pub fn accepts(self, text: &str, start: usize, end: usize) -> bool {
        let Some(found) = text.get(start..end) else {
            return false;
        };
        match self {
            Self::Luhn => card(found),
            Self::Iban => iban(found),
            Self::Ssn => ssn(found),
            Self::Email => email(text, end, found),
            Self::Ipv4 => ipv4(text, start, end, found),
            Self::Ipv6 => ipv6(found),
            Self::Phone => phone(text, start, end, found),
            Self::Jwt => jwt(found),
            Self::Secret => !is_placeholder(found),
            Self::Entropy => !is_placeholder(found) && looks_random(found),
            Self::Credential => {
                !is_placeholder(found)
                    && user_beside(text, start).is_none_or(|user| !user.eq_ignore_ascii_case(found))
            }
        }
    }
}

fn digits(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().filter_map(|c| c.to_digit(10))
}

/// The Luhn checksum over the digits of `text`.
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = digits(text).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A payment card: 13–19 digits, an issuer prefix, consistent separators, Luhn.
fn card(found: &str) -> bool {
    let number: String = digits(found)
        .map(|d| char::from_digit(d, 10).unwrap_or('0'))
        .collect();
    let separators: Vec<char> = found.chars().filter(|c| !c.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let len = number.len();
    let prefix = |p: &str| number.starts_with(p);
    let two: u32 = number.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let four: u32 = number.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
    let issuer = prefix("4")
        || (51..=55).contains(&two)
        || (2221..=2720).contains(&four)
        || prefix("34")
        || prefix("37")
        || prefix("6011")
        || prefix("65")
        || (644..=649).contains(&(four / 10))
        || (3528..=3589).contains(&four)
        || prefix("36")
        || prefix("300")
        || prefix("62");
    (13..=19).contains(&len) && issuer && luhn(&number)
}

/// IBAN lengths by country (ISO 13616 registry, the common ones).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
    ("UA", 29),
];

/// An IBAN: known country, its length, and the ISO 7064 mod-97 check.
pub fn iban(found: &str) -> bool {
    let compact: String = found.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(country) = compact.get(..2) else {
        return false;
    };
    let Some(&(_, length)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return false;
    };
    if compact.len() != length || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = compact[4..].bytes().chain(compact[..4].bytes());
    let mut remainder: u32 = 0;
    for byte in rearranged {
        let value = match byte {
            b'0'..=b'9' => u32::from(byte - b'0'),
            b'A'..=b'Z' => u32::from(byte - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// A US SSN: never area 000, 666 or 9xx, group 00 or serial 0000.
fn ssn(found: &str) -> bool {
    let number: String = found.chars().filter(char::is_ascii_digit).collect();
    if number.len() != 9 {
        return false;
    }
    let area: u32 = number[..3].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && &number[3..5] != "00" && &number[5..] != "0000"
}

/// Reserved example domains (RFC 2606, RFC 6761) are placeholders, not
/// people; `git@host:path` is an SSH remote, not a mailbox.
fn email(text: &str, end: usize, found: &str) -> bool {
    let Some((local, domain)) = found.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    let reserved = ["example.com", "example.org", "example.net", "localhost"];
    let reserved_tld = [".example", ".test", ".invalid", ".localhost", ".local"];
    let ssh_remote = text[end..].starts_with(':');
    !(ssh_remote
        || reserved
            .iter()
            .any(|r| domain == *r || domain.ends_with(&format!(".{r}")))
        || reserved_tld.iter().any(|t| domain.ends_with(t))
        || local.is_empty()
        || domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| matches!(tld, "png" | "jpg" | "gif" | "svg" | "webp")))
}

/// A host's IPv4 address: not a version number (`v1.2.3.4`, `version
/// 1.2.3.4`), a network (`10.0.0.0/16`, `.0` last), a netmask, loopback,
/// unspecified or broadcast.
fn ipv4(text: &str, start: usize, end: usize, found: &str) -> bool {
    let Ok(address) = found.parse::<Ipv4Addr>() else {
        return false;
    };
    let before = text[..start].trim_end().to_ascii_lowercase();
    let versioned =
        before.ends_with('v') || before.ends_with("version") || before.ends_with("release");
    let network = text[end..].starts_with('/') || address.octets()[3] == 0;
    let bits = u32::from(address);
    let netmask = bits.leading_ones() + bits.trailing_zeros() == 32;
    !(versioned
        || network
        || netmask
        || address.is_loopback()
        || address.is_unspecified()
        || address.is_broadcast())
}

fn ipv6(found: &str) -> bool {
    found
        .parse::<Ipv6Addr>()
        .is_ok_and(|a| !a.is_loopback() && !a.is_unspecified() && found.len() >= 6)
}

/// 8–15 digits (E.164), not inside a longer run of digit groups or an id,
/// not an SSN's shape, not a placeholder of zeros, and a complete number
/// when it says `+1` (NANP numbers have 11 digits).
fn phone(text: &str, start: usize, end: usize, found: &str) -> bool {
    let number: String = found.chars().filter(char::is_ascii_digit).collect();
    let id_char = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '#'))
    };
    // `.` or `-` count as part of the number only between digits.
    let glued = |mut chars: std::str::Chars<'_>, forward: bool| {
        let mut next = || {
            if forward {
                chars.next()
            } else {
                chars.next_back()
            }
        };
        let first = next();
        id_char(first)
            || (matches!(first, Some('.' | '-')) && next().is_some_and(|c| c.is_ascii_digit()))
    };
    // A digit just before the separator: the tail of a longer number.
    let mut before = text[..start].chars().rev();
    let after_group =
        matches!(before.next(), Some(' ')) && before.next().is_some_and(|c| c.is_ascii_digit());
    let ssn_shaped = found.len() == 11
        && found.as_bytes().get(3) == Some(&b'-')
        && found.as_bytes().get(6) == Some(&b'-');
    let zeros = number.chars().rev().take(7).filter(|c| *c == '0').count() >= 6;
    let nanp_short = ["+1 ", "+1-", "+1.", "+1("]
        .iter()
        .any(|p| found.starts_with(p))
        && number.len() != 11;
    (8..=15).contains(&number.len())
        && !glued(text[..start].chars(), false)
        && !glued(text[end..].chars(), true)
        && !after_group
        && !ssn_shaped
        && !zeros
        && !nanp_short
}

/// A JWT: the header decodes to a JSON object naming an `alg`.
fn jwt(found: &str) -> bool {
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
fn user_beside(text: &str, start: usize) -> Option<&str> {
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
fn looks_random(found: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(validator: &str, cases: &[(&str, bool)]) {
        let v = Validator::parse(validator).unwrap();
        for (text, expected) in cases {
            assert_eq!(
                v.accepts(text, 0, text.len()),
                *expected,
                "{validator}: {text}"
            );
        }
    }

    #[test]
    fn checksums_and_number_plans() {
        check(
            "luhn",
            &[
                ("4111 1111 1111 1111", true),
                ("4111-1111-1111-1111", true),
                ("4111 1111-1111 1111", false),
                ("4111 1111 1111 1112", false),
                ("5500 0000 0000 0004", true),
                ("3782 822463 10005", true),
                ("1234 5678 9012 3452", false),
            ],
        );
        check(
            "iban",
            &[
                ("DE89 3704 0044 0532 0130 00", true),
                ("GB82 WEST 1234 5698 7654 32", true),
                ("GB82 WEST 1234 5698 7654 33", false),
                ("FR14 2004 1010 0505 0001 3M02 606", true),
                ("XX12 3456", false),
            ],
        );
        check(
            "ssn",
            &[
                ("123-45-6789", true),
                ("000-12-3456", false),
                ("666-12-3456", false),
                ("912-34-5678", false),
                ("123-00-4567", false),
            ],
        );
    }

    #[test]
    fn placeholders_and_parsers() {
        check(
            "email",
            &[
                ("jane.doe@acme.io", true),
                ("user@example.com", false),
                ("a@b.test", false),
                ("icon@2x.png", false),
            ],
        );
        check(
            "ipv4",
            &[
                ("203.0.113.7", true),
                ("127.0.0.1", false),
                ("999.1.1.1", false),
            ],
        );
        check(
            "ipv6",
            &[
                ("2001:db8::8a2e:370:7334", true),
                ("::1", false),
                ("12:30:45", false),
            ],
        );
        check(
            "secret",
            &[
                ("AKIAIOSFODNN7EXAMPLE", false),
                ("AKIA4QWERTYZXCVB7LMN", true),
                ("sk_live_000000000000000000000000", false),
            ],
        );
        check(
            "entropy",
            &[
                ("hunter2", false),
                ("Tr0ub4dor&3-xK9!pq", true),
                ("aaaaaaaaaaaaaaaa", false),
            ],
        );
        check(
            "jwt",
            &[
                ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", true),
                ("eyJmb28iOjF9.eyJzdWIiOiIxIn0.sig", false),
            ],
        );
        let text = "version 10.2.3.4";
        assert!(!Validator::Ipv4.accepts(text, 8, text.len()));
    }

    #[test]
    fn a_password_that_repeats_the_user_is_a_default_not_a_secret() {
        // (text, password) -> accepted
        let cases = [
            (
                "postgres://postgres:postgres@localhost/test",
                "postgres",
                false,
            ),
            ("amqp://Guest:guest@rabbit:5672", "guest", false),
            (
                "postgres://app_user:EeAJiwrPzWnTWHq4@db:5432/x",
                "EeAJiwrPzWnTWHq4",
                true,
            ),
            (
                "mysql://root:AMprfwPnr2yC@10.0.3.7/wp",
                "AMprfwPnr2yC",
                true,
            ),
            (
                "Server=db;User ID=sa_admin;Password=sa_admin;",
                "sa_admin",
                false,
            ),
            (
                "Server=db;Uid=svc_crm;Pwd=d30HV1pfrUxfeigOOy;",
                "d30HV1pfrUxfeigOOy",
                true,
            ),
            ("postgres://app:changeme@db/app", "changeme", false),
        ];
        for (text, password, expected) in cases {
            // The password itself, not a user name spelled the same.
            let start = text
                .rfind(&format!(":{password}@"))
                .or_else(|| text.rfind(&format!("={password};")))
                .unwrap()
                + 1;
            let end = start + password.len();
            assert_eq!(
                Validator::Credential.accepts(text, start, end),
                expected,
                "{text}"
            );
        }
    }
}
