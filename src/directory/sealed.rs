//! The admin document that replicas share through Redis is sealed: an
//! HMAC-SHA256 over it, keyed from the admin credential's hash, which every
//! replica's config holds and Redis never sees. A replica applies only a
//! document whose seal checks out, so write access to Redis alone cannot
//! add a key, change a team or register an MCP server. Without an `[admin]`
//! credential there is no admin API to share changes from, and replicas
//! apply no shared document at all.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub struct Seal {
    key: [u8; 32],
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal { key: *** }")
    }
}

impl Seal {
    /// The seal of the deployment whose admin credential hashes to
    /// `admin_key_hash`; its own key, so the hash itself is never the MAC key.
    pub fn new(admin_key_hash: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"switchboard shared admin document v1\0");
        hasher.update(admin_key_hash);
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // Any key length is accepted by HMAC.
        HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// `<hex tag>.<document>`.
    pub fn seal(&self, doc: &str) -> String {
        let mut mac = self.mac();
        mac.update(doc.as_bytes());
        format!("{}.{doc}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The document, if `sealed` carries a valid seal (compared in constant
    /// time); `None` for a forged, damaged or unsealed one.
    pub fn open<'a>(&self, sealed: &'a str) -> Option<&'a str> {
        let (tag, doc) = sealed.split_once('.')?;
        let tag = hex::decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(doc.as_bytes());
        mac.verify_slice(&tag).ok()?;
        Some(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_document_sealed_with_the_same_credential_opens() {
        let seal = Seal::new(&[1; 32]);
        let doc = r#"{"teams":{},"keys":{}}"#;
        let sealed = seal.seal(doc);
        assert_eq!(seal.open(&sealed), Some(doc));
        assert_eq!(Seal::new(&[2; 32]).open(&sealed), None);
        assert_eq!(seal.open(doc), None, "unsealed");
        let tampered = sealed.replace("keys", "kexs");
        assert_eq!(seal.open(&tampered), None);
        assert_eq!(seal.open("zz.{}"), None);
    }
}
