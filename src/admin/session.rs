//! Dashboard sessions: signing in with the admin key once gives a cookie
//! that stands for it until it expires. The cookie is signed, not stored:
//! `v1.<expiry>.<nonce>.<mac>`, with an HMAC-SHA256 keyed from the admin
//! credential's hash, so every replica with the same `[admin]` accepts it,
//! nothing grows per session, and a changed admin key ends every session.
//! Signing out ends one session before it expires: its id is saved with
//! the admin changes (`admin::quota::end_session`) and refused from then on.
//! Each session has a CSRF token (an HMAC of its nonce) that a request
//! changing anything must carry in `x-csrf-token`.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const COOKIE: &str = "switchboard_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const LIFETIME_SECS: u64 = 8 * 3600;

/// A session that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub expires: u64,
    pub csrf: String,
    /// Names the session where it is ended before it expires (signing out):
    /// a hash of its nonce, so what is saved cannot rebuild the cookie.
    pub id: String,
}

fn id_of(nonce: &str) -> String {
    hex::encode(&Sha256::digest(nonce.as_bytes())[..16])
}

fn key(admin_key_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"switchboard dashboard session v1");
    hasher.update(admin_key_hash);
    hasher.finalize().into()
}

fn mac(admin_key_hash: &[u8; 32], parts: &[&str]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(&key(admin_key_hash)).expect("any key length");
    for part in parts {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.finalize().into_bytes().to_vec()
}

fn csrf_of(admin_key_hash: &[u8; 32], nonce: &str) -> String {
    hex::encode(mac(admin_key_hash, &["csrf", nonce]))
}

/// A new session's cookie value and the session it stands for.
pub fn issue(admin_key_hash: &[u8; 32], now: u64) -> (String, Session) {
    // 122 random bits from a v4 UUID's CSPRNG (as new keys are made).
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let expires = now + LIFETIME_SECS;
    let expiry = expires.to_string();
    let signature = hex::encode(mac(admin_key_hash, &["session", &expiry, &nonce]));
    let session = Session {
        expires,
        csrf: csrf_of(admin_key_hash, &nonce),
        id: id_of(&nonce),
    };
    (format!("v1.{expiry}.{nonce}.{signature}"), session)
}

/// The session a cookie value stands for, if its signature holds and it has
/// not expired.
pub fn verify(admin_key_hash: &[u8; 32], value: &str, now: u64) -> Option<Session> {
    let mut parts = value.split('.');
    let (Some("v1"), Some(expiry), Some(nonce), Some(signature), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let presented = hex::decode(signature).ok()?;
    let expected = mac(admin_key_hash, &["session", expiry, nonce]);
    if !bool::from(presented.ct_eq(&expected)) {
        return None;
    }
    let expires: u64 = expiry.parse().ok()?;
    (expires > now).then(|| Session {
        expires,
        csrf: csrf_of(admin_key_hash, nonce),
        id: id_of(nonce),
    })
}

/// The session the request's cookie stands for, now, if any.
pub fn of_request(admin_key_hash: &[u8; 32], headers: &HeaderMap) -> Option<Session> {
    verify(
        admin_key_hash,
        cookie_value(headers)?,
        crate::shapes::unix_seconds(),
    )
}

/// The session cookie's value among the request's cookies.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether a request carries its session's CSRF token.
pub fn csrf_matches(session: &Session, headers: &HeaderMap) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|token| bool::from(token.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// The `Set-Cookie` value that starts a session: HttpOnly, SameSite=Strict,
/// `Secure` when the gateway serves TLS.
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_until_it_expires_and_only_for_its_key() {
        let admin = [7u8; 32];
        let (cookie, session) = issue(&admin, 1_000);
        assert_eq!(verify(&admin, &cookie, 1_001), Some(session.clone()));
        assert_eq!(verify(&admin, &cookie, 1_000 + LIFETIME_SECS), None);
        assert_eq!(
            verify(&[8u8; 32], &cookie, 1_001),
            None,
            "another admin key"
        );
        // Any change to the value breaks the signature.
        let longer = cookie.replacen(
            &format!("v1.{}", 1_000 + LIFETIME_SECS),
            "v1.99999999999",
            1,
        );
        assert_eq!(verify(&admin, &longer, 1_001), None);
        assert_eq!(verify(&admin, "v1.x.y", 1_001), None);
        assert_eq!(verify(&admin, "", 1_001), None);
        let (other, other_session) = issue(&admin, 1_000);
        assert_ne!(other, cookie);
        assert_ne!(other_session.csrf, session.csrf, "a token per session");
        assert_ne!(other_session.id, session.id, "an id per session");
        assert!(!cookie.contains(&session.id), "the id is not in the cookie");
    }

    #[test]
    fn the_cookie_is_read_among_others_and_csrf_is_compared() {
        let admin = [1u8; 32];
        let (cookie, session) = issue(&admin, 0);
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("a=b; {COOKIE}={cookie}; c=d").parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers), Some(cookie.as_str()));
        assert!(!csrf_matches(&session, &headers));
        headers.insert(CSRF_HEADER, session.csrf.parse().unwrap());
        assert!(csrf_matches(&session, &headers));
        assert!(set_cookie("v", false).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie("v", true).ends_with("; Secure"));
    }
}
