//! Token verification settings: the HS256 secret and/or the RS256/ES256 public key, and
//! the claims a token must carry (issuer, audience, lifetime).

use super::vars::{Files, Vars, invalid};
use super::{ConfigError, Mode};
use secrecy::SecretString;

/// Where JWTs are verified against. Both may be set: the token's `alg` picks the key, and
/// a key only ever verifies its own algorithm family (no HS/RS confusion).
#[derive(Clone, Debug, Default)]
pub struct JwtSettings {
    pub secret: Option<SecretString>,
    /// PEM of an RSA or EC public key (RS256 / ES256).
    pub public_key_pem: Option<String>,
    pub leeway_seconds: u64,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`: when set, every token must carry them.
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// `JWT_MAX_LIFETIME_SECONDS`: when set, `exp - iat` may not exceed it (and `iat` is required).
    pub max_lifetime_seconds: Option<u64>,
}

/// `JWT_SECRET`, `JWT_PUBLIC_KEY` (or the file `JWT_PUBLIC_KEY_FILE` names) and
/// `JWT_LEEWAY_SECONDS`. Production needs a key, and a secret of at least 32 characters.
pub(super) fn parse(v: &Vars, files: &Files, mode: Mode) -> Result<JwtSettings, ConfigError> {
    let public_key_pem = match (v.get("JWT_PUBLIC_KEY"), v.get("JWT_PUBLIC_KEY_FILE")) {
        (Some(pem), _) => Some(pem.replace("\\n", "\n")),
        (None, Some(path)) => Some(
            files
                .get(&path)
                .map_err(|e| invalid("JWT_PUBLIC_KEY_FILE", &path, &format!("cannot read it: {e}")))?
                .to_string(),
        ),
        (None, None) => None,
    };
    let jwt = JwtSettings {
        secret: v.get("JWT_SECRET").map(SecretString::from),
        public_key_pem,
        leeway_seconds: v.parse("JWT_LEEWAY_SECONDS", 30, "expected a number of seconds")?,
        issuer: v.get("JWT_ISSUER"),
        audience: v.get("JWT_AUDIENCE"),
        max_lifetime_seconds: match v.get("JWT_MAX_LIFETIME_SECONDS") {
            None => None,
            Some(text) => Some(text.parse::<u64>().ok().filter(|&s| s > 0).ok_or_else(|| {
                invalid(
                    "JWT_MAX_LIFETIME_SECONDS",
                    &text,
                    "expected a positive number of seconds",
                )
            })?),
        },
    };
    if mode == Mode::Production {
        if jwt.secret.is_none() && jwt.public_key_pem.is_none() {
            return Err(ConfigError::RequiredInProduction {
                var: "JWT_SECRET",
                why: "set JWT_SECRET (HS256) or JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE (RS256, ES256)",
            });
        }
        if v.get("JWT_SECRET").is_some_and(|secret| secret.len() < 32) {
            return Err(invalid(
                "JWT_SECRET",
                "(hidden)",
                "must be at least 32 characters in production",
            ));
        }
    }
    Ok(jwt)
}
