//! Time-limited TURN credentials as coturn's `use-auth-secret` (the "TURN REST API")
//! expects: username `<expiry unix seconds>:<user id>`, password
//! `base64(HMAC-SHA1(secret, username))`. coturn recomputes the password from the shared
//! secret, so no credential is ever stored.

use base64::Engine;
use hmac::{Hmac, Mac};

pub struct TurnCredential {
    pub username: String,
    pub credential: String,
    pub expires_at_unix: i64,
}

pub fn rest_credential(secret: &[u8], user: &str, now_unix: i64, ttl_seconds: i64) -> TurnCredential {
    let expires_at_unix = now_unix + ttl_seconds;
    let username = format!("{expires_at_unix}:{user}");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    TurnCredential {
        username,
        credential,
        expires_at_unix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coturn_reference_value() {
        // Computed independently: printf '1700003600:alice' | openssl dgst -sha1 -hmac 'north' -binary | base64
        let c = rest_credential(b"north", "alice", 1_700_000_000, 3600);
        assert_eq!(c.username, "1700003600:alice");
        assert_eq!(c.credential, "wjwSXO2ch1B6VaLTLMy2Avn5O9o=");
    }
}
