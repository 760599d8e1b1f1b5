//! Token verification and the Authorization header: any bytes are refused or accepted,
//! never a panic, and nothing unsigned is ever accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vytalcall::auth::Verifier;
use vytalcall::auth::extract::bearer_token;
use vytalcall::config::JwtSettings;

const RSA_PUBLIC: &str = include_str!("../../crates/server/tests/fixtures/rsa.pub");

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::new(&JwtSettings {
            secret: Some(secrecy::SecretString::from("fuzz-secret-fuzz-secret-fuzz-secret")),
            public_key_pem: Some(RSA_PUBLIC.to_string()),
            leeway_seconds: 0,
            ..JwtSettings::default()
        })
        .expect("fixture key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let token = bearer_token(text).unwrap_or(text);
    // The fuzzer cannot forge an HMAC or RSA signature: acceptance would be a bug.
    assert!(verifier().verify(token).is_err());
});
