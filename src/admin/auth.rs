//! Admin authentication: a credential of its own from `[admin]`, never a team
//! key. Held as a SHA-256 hash and compared in constant time.

use crate::auth::KeyStore;
use crate::auth::hash_key;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// Admits an admin request: by the admin key in a header, or by a
/// dashboard session cookie, which must also carry its CSRF token on
/// anything but a read.
pub fn authorize(
    gateway: &Gateway,
    method: &http::Method,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    if KeyStore::presented_key(headers).is_none()
        && super::session::cookie_value(headers).is_some()
        && let Some(admin) = &gateway.config.load().admin
    {
        let Some(session) = super::session::of_request(&admin.key_hash, headers) else {
            return Err(GatewayError::Unauthenticated(
                "the dashboard session has expired: sign in again",
            ));
        };
        if gateway.admin.session_ended(&session.id) {
            return Err(GatewayError::Unauthenticated(
                "the dashboard session has ended: sign in again",
            ));
        }
        let reads = matches!(*method, http::Method::GET | http::Method::HEAD);
        if !reads && !super::session::csrf_matches(&session, headers) {
            return Err(GatewayError::Forbidden {
                message: "a change through a dashboard session needs its `x-csrf-token`".into(),
            });
        }
        return Ok(());
    }
    authenticate(gateway, headers)
}

/// Checks the presented key (`Authorization: Bearer`, `api-key` or
/// `x-api-key`) against the configured admin key.
pub fn authenticate(gateway: &Gateway, headers: &HeaderMap) -> Result<(), GatewayError> {
    let config = gateway.config.load();
    let Some(admin) = &config.admin else {
        return Err(GatewayError::Forbidden {
            message: "the admin API is off: configure `[admin]` to use it".to_owned(),
        });
    };
    let presented = KeyStore::presented_key(headers)
        .filter(|key| !key.is_empty())
        .ok_or(GatewayError::Unauthenticated(
            "missing admin key: send `Authorization: Bearer <admin key>`",
        ))?;
    if bool::from(hash_key(presented).ct_eq(&admin.key_hash)) {
        Ok(())
    } else if gateway.keys.load().find(presented).is_some() {
        // A known caller without the right to administer: 403, not 401, so
        // clients do not keep retrying a key that will never be accepted here.
        Err(GatewayError::Forbidden {
            message: "team keys cannot use the admin API: send the admin key".to_owned(),
        })
    } else {
        Err(GatewayError::Unauthenticated("invalid admin key"))
    }
}
