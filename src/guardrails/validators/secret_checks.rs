//! Validators of the `secrets` pack: they tell a credential from what only
//! looks like one. A vendor key must not be a documentation placeholder or a
//! well-known public sample; a value assigned to a name (`API_KEY=...`,
//! `"password": "..."`, `Authorization: Bearer ...`) must be a value, not a
//! reference (`${VAR}`, `os.environ[...]`, `{{ .Values.x }}`), a mask
//! (`****`), a hash, a UUID, a public key or an encrypted blob, and the name
//! must not say it is something else (`key_id`, `token_type`, `sha256`,
//! `public_key`, `next_token`).

use super::Validator;
use super::secret_names::*;
use super::secret_values::*;
use base64::Engine as _;

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
