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

/// How long a TURN credential handed to a caller may live: the configured lifetime, but
/// never past the caller's own token, so a credential cannot outlast the access it came with
/// (a token that expires in 5 minutes gets a 5-minute relay, not a day's).
pub fn credential_ttl(now_unix: i64, token_expires_at_unix: i64, configured_ttl_seconds: i64) -> i64 {
    configured_ttl_seconds.min(token_expires_at_unix - now_unix).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_never_outlives_the_token_it_was_issued_for() {
        assert_eq!(credential_ttl(1_000, 1_300, 86_400), 300, "token expires first");
        assert_eq!(
            credential_ttl(1_000, 1_000_000, 3_600),
            3_600,
            "configured lifetime first"
        );
        assert_eq!(
            credential_ttl(1_000, 990, 3_600),
            0,
            "a token inside its leeway gets nothing to spare"
        );
    }

    #[test]
    fn matches_coturn_reference_value() {
        // Computed independently: printf '1700003600:alice' | openssl dgst -sha1 -hmac 'north' -binary | base64
        let c = rest_credential(b"north", "alice", 1_700_000_000, 3600);
        assert_eq!(c.username, "1700003600:alice");
        assert_eq!(c.credential, "wjwSXO2ch1B6VaLTLMy2Avn5O9o=");
    }
}
