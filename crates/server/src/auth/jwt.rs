//! JWT verification and development token minting.
//!
//! HS256 tokens are checked against `JWT_SECRET`, RS256 or ES256 tokens against the
//! configured public key. The token's header picks the key, and each key only verifies its
//! own algorithm, so an RS256 public key can never be used as an HS256 secret (the classic
//! key-confusion attack). `alg: none` is never accepted.

use crate::config::JwtSettings;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use vytalcall_domain::{Role, UserId};

/// The verified identity a token carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub role: Role,
    /// The `name` claim when it is a usable display name (`vytalcall_domain::name`); a name
    /// that breaks the rule is ignored, not refused (see [`display_name`]).
    pub name: Option<String>,
    /// Unix seconds; sockets are disconnected when it passes.
    pub expires_at: i64,
}

/// Names are PHI: `Debug` never prints the name, so logging an identity cannot leak one.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RawClaims {
    sub: Option<serde_json::Value>,
    role: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct MintClaims<'a> {
    sub: String,
    role: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// Why a token was refused. The text is safe to show to the client: it never echoes the
/// token or its claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("invalid token signature")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token is missing the {0} claim")]
    MissingClaim(&'static str),
    #[error("token has an invalid {0} claim")]
    InvalidClaim(&'static str),
    #[error("token was issued by another issuer")]
    Issuer,
    #[error("token is meant for another audience")]
    Audience,
    #[error("token lives longer than this server allows")]
    Lifetime,
}

enum PublicKey {
    Rsa(DecodingKey),
    Ec(DecodingKey),
}

pub struct Verifier {
    hs: Option<(DecodingKey, EncodingKey)>,
    public: Option<PublicKey>,
    leeway: u64,
    issuer: Option<String>,
    audience: Option<String>,
    max_lifetime_seconds: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("JWT_PUBLIC_KEY is not a PEM-encoded RSA or EC (P-256) public key")]
pub struct BadPublicKey;

impl Verifier {
    pub fn new(settings: &JwtSettings) -> Result<Verifier, BadPublicKey> {
        let hs = settings.secret.as_ref().map(|s| {
            let bytes = s.expose_secret().as_bytes();
            (DecodingKey::from_secret(bytes), EncodingKey::from_secret(bytes))
        });
        let public = match &settings.public_key_pem {
            None => None,
            Some(pem) => Some(
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map(PublicKey::Rsa)
                    .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()).map(PublicKey::Ec))
                    .map_err(|_| BadPublicKey)?,
            ),
        };
        Ok(Verifier {
            hs,
            public,
            leeway: settings.leeway_seconds,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            max_lifetime_seconds: settings.max_lifetime_seconds,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => AuthError::Algorithm,
            _ => AuthError::Malformed,
        })?;
        let (key, alg) = match (header.alg, &self.hs, &self.public) {
            (Algorithm::HS256, Some((key, _)), _) => (key, Algorithm::HS256),
            (Algorithm::RS256, _, Some(PublicKey::Rsa(key))) => (key, Algorithm::RS256),
            (Algorithm::ES256, _, Some(PublicKey::Ec(key))) => (key, Algorithm::ES256),
            _ => return Err(AuthError::Algorithm),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        // `iss` and `aud` are checked only when configured: the platform scopes its tokens
        // to vytalcall with them, and a token that carries an `aud` is fine when we ask for none.
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<RawClaims>(token, key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
            ErrorKind::InvalidIssuer => AuthError::Issuer,
            ErrorKind::InvalidAudience => AuthError::Audience,
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(match claim.as_str() {
                "iss" => "iss",
                "aud" => "aud",
                _ => "exp",
            }),
            ErrorKind::InvalidClaimFormat(_) => AuthError::InvalidClaim("exp"),
            _ => AuthError::Malformed,
        })?;
        if let Some(max) = self.max_lifetime_seconds {
            check_lifetime(&data.claims, max)?;
        }
        identity_from_claims(data.claims)
    }

    /// Mints an HS256 token (development and tests). Needs `JWT_SECRET`.
    pub fn mint(&self, identity: &Identity, now_unix: i64) -> Option<String> {
        let (_, key) = self.hs.as_ref()?;
        let claims = MintClaims {
            sub: identity.user.to_string(),
            role: identity.role.as_str(),
            exp: identity.expires_at,
            iat: now_unix,
            name: identity.name.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key).ok()
    }
}

/// `JWT_MAX_LIFETIME_SECONDS`: a token must say when it was issued, and `exp - iat` may not
/// exceed the maximum, so a leaked long-lived token is refused however far off its `exp`.
fn check_lifetime(claims: &RawClaims, max_seconds: u64) -> Result<(), AuthError> {
    let seconds = |v: &Option<serde_json::Value>, name: &'static str| match v {
        None | Some(serde_json::Value::Null) => Err(AuthError::MissingClaim(name)),
        Some(v) => v.as_f64().ok_or(AuthError::InvalidClaim(name)),
    };
    let issued = seconds(&claims.iat, "iat")?;
    let expires = seconds(&claims.exp, "exp")?;
    if expires - issued > max_seconds as f64 {
        return Err(AuthError::Lifetime);
    }
    Ok(())
}

fn identity_from_claims(claims: RawClaims) -> Result<Identity, AuthError> {
    let text = |v: Option<serde_json::Value>, name: &'static str| match v {
        None | Some(serde_json::Value::Null) => Err(AuthError::MissingClaim(name)),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    };
    let user = text(claims.sub, "sub")?
        .parse()
        .map_err(|_| AuthError::InvalidClaim("sub"))?;
    let role = text(claims.role, "role")?
        .parse()
        .map_err(|_| AuthError::InvalidClaim("role"))?;
    let expires_at = claims
        .exp
        .and_then(|v| v.as_f64())
        .ok_or(AuthError::InvalidClaim("exp"))? as i64;
    let name = match claims.name {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => display_name(&s),
        Some(_) => return Err(AuthError::InvalidClaim("name")),
    };
    Ok(Identity {
        user,
        role,
        name,
        expires_at,
    })
}

/// The `name` claim as a display name. A string that breaks the rule (over 100 characters,
/// control or bidirectional formatting characters) is ignored rather than refused: the token
/// still proves who the person is, and refusing it would keep a patient out of their visit
/// over how the platform spelled their name. They then keep the name the server holds (or
/// none), and the app names them by role. A `name` that is not a string at all is a broken
/// token and stays refused (`token has an invalid name claim`).
fn display_name(raw: &str) -> Option<String> {
    match vytalcall_domain::name::DisplayName::parse(raw) {
        Ok(name) => name.map(|n| n.into_string()),
        Err(_) => {
            metrics::counter!("vytalcall_auth_names_ignored_total").increment(1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn verifier() -> Verifier {
        Verifier::new(&JwtSettings {
            secret: Some(SecretString::from("test-secret-test-secret-test-secret")),
            public_key_pem: None,
            leeway_seconds: 0,
            ..JwtSettings::default()
        })
        .expect("no public key to parse")
    }

    fn scoped_verifier() -> Verifier {
        Verifier::new(&JwtSettings {
            secret: Some(SecretString::from(SECRET)),
            issuer: Some("https://platform.example".into()),
            audience: Some("vytalcall".into()),
            max_lifetime_seconds: Some(3600),
            ..JwtSettings::default()
        })
        .expect("no public key to parse")
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    #[test]
    fn a_token_carrying_an_audience_is_accepted_when_none_is_configured() {
        let t = sign(
            serde_json::json!({"sub": USER, "role": "patient", "exp": future(), "aud": "someone", "iss": "anyone"}),
            SECRET,
        );
        assert!(verifier().verify(&t).is_ok());
    }

    #[test]
    fn a_configured_issuer_audience_and_lifetime_are_required_and_checked() {
        let v = scoped_verifier();
        let claims = |extra: serde_json::Value| {
            let mut c = serde_json::json!({"sub": USER, "role": "patient", "exp": now() + 600, "iat": now(),
                "iss": "https://platform.example", "aud": "vytalcall"});
            for (k, val) in extra.as_object().expect("object") {
                if val.is_null() {
                    c.as_object_mut().expect("object").remove(k);
                } else {
                    c[k] = val.clone();
                }
            }
            sign(c, SECRET)
        };
        assert!(v.verify(&claims(serde_json::json!({}))).is_ok());
        assert!(
            v.verify(&claims(serde_json::json!({"aud": ["other", "vytalcall"]})))
                .is_ok(),
            "one of several audiences"
        );
        let cases = [
            (serde_json::json!({"iss": "https://evil.example"}), AuthError::Issuer),
            (serde_json::json!({"iss": null}), AuthError::MissingClaim("iss")),
            (serde_json::json!({"aud": "other-service"}), AuthError::Audience),
            (serde_json::json!({"aud": null}), AuthError::MissingClaim("aud")),
            (serde_json::json!({"iat": null}), AuthError::MissingClaim("iat")),
            (
                serde_json::json!({"exp": now() + 10 * 365 * 86_400}),
                AuthError::Lifetime,
            ),
            (
                serde_json::json!({"iat": now() - 7200, "exp": now() + 600}),
                AuthError::Lifetime,
            ),
            (serde_json::json!({"iat": "yesterday"}), AuthError::InvalidClaim("iat")),
        ];
        for (extra, expected) in cases {
            assert_eq!(v.verify(&claims(extra.clone())), Err(expected.clone()), "{extra}");
        }
    }

    fn sign(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    const SECRET: &str = "test-secret-test-secret-test-secret";
    const USER: &str = "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b";

    fn future() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64 + 600
    }

    #[test]
    fn a_name_that_breaks_the_rule_is_ignored_and_the_token_still_admits() {
        let v = verifier();
        let named = |name: serde_json::Value| {
            let t = sign(
                serde_json::json!({"sub": USER, "role": "patient", "exp": future(), "name": name}),
                SECRET,
            );
            v.verify(&t)
        };
        for bad in [
            "x".repeat(101),
            "Ada\nLovelace".into(),
            "Dr\u{202E}htimS".into(),
            "   ".into(),
        ] {
            let id = named(serde_json::json!(bad)).expect("the token is valid");
            assert_eq!(id.name, None);
        }
        let id = named(serde_json::json!("  Zoë Ñúñez ")).expect("valid");
        assert_eq!(id.name.as_deref(), Some("Zoë Ñúñez"));
        assert_eq!(named(serde_json::json!(42)), Err(AuthError::InvalidClaim("name")));
        assert!(!format!("{id:?}").contains("Zo"), "Debug redacts the name");
    }

    #[test]
    fn a_valid_token_gives_its_identity() {
        let t = sign(
            serde_json::json!({"sub": USER, "role": "provider", "exp": future(), "name": "Dr A"}),
            SECRET,
        );
        let id = verifier().verify(&t).expect("valid");
        assert_eq!(id.role, Role::Provider);
        assert_eq!(id.user.to_string(), USER);
        assert_eq!(id.name.as_deref(), Some("Dr A"));
    }

    #[test]
    fn every_broken_token_is_refused_with_its_reason() {
        let v = verifier();
        let past = jsonwebtoken::get_current_timestamp() as i64 - 60;
        let cases = [
            (
                sign(
                    serde_json::json!({"sub": USER, "role": "patient", "exp": future()}),
                    "wrong",
                ),
                AuthError::Signature,
            ),
            (
                sign(serde_json::json!({"sub": USER, "role": "patient", "exp": past}), SECRET),
                AuthError::Expired,
            ),
            (
                sign(
                    serde_json::json!({"sub": USER, "role": "nurse", "exp": future()}),
                    SECRET,
                ),
                AuthError::InvalidClaim("role"),
            ),
            (
                sign(
                    serde_json::json!({"sub": "bob", "role": "patient", "exp": future()}),
                    SECRET,
                ),
                AuthError::InvalidClaim("sub"),
            ),
            (
                sign(serde_json::json!({"role": "patient", "exp": future()}), SECRET),
                AuthError::MissingClaim("sub"),
            ),
            (
                sign(serde_json::json!({"sub": USER, "exp": future()}), SECRET),
                AuthError::MissingClaim("role"),
            ),
            (
                sign(serde_json::json!({"sub": USER, "role": "patient"}), SECRET),
                AuthError::MissingClaim("exp"),
            ),
            (
                sign(
                    serde_json::json!({"sub": USER, "role": "patient", "exp": future(), "nbf": future()}),
                    SECRET,
                ),
                AuthError::NotYetValid,
            ),
            ("not.a.token".to_string(), AuthError::Malformed),
            (String::new(), AuthError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected}");
        }
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(r#"{{"sub":"{USER}","role":"admin","exp":{}}}"#, future()))
        );
        assert!(verifier().verify(&token).is_err());
    }

    #[test]
    fn minted_tokens_verify() {
        let v = verifier();
        let id = Identity {
            user: USER.parse().expect("uuid"),
            role: Role::Admin,
            name: None,
            expires_at: future(),
        };
        let token = v.mint(&id, 0).expect("has secret");
        assert_eq!(v.verify(&token), Ok(id));
    }
}
