//! `vytalcall token`: a signed development token.

use crate::auth::{Identity, Verifier};
use crate::config::Settings;
use vytalcall_domain::{Role, UserId};

/// Prints an HS256 token for `user` valid for `ttl` seconds.
pub(super) fn print(
    settings: &Settings,
    user: UserId,
    role: Role,
    name: Option<String>,
    ttl: i64,
) -> anyhow::Result<()> {
    let verifier = Verifier::new(&settings.jwt)?;
    let now = crate::now_millis() / 1000;
    let identity = Identity {
        user,
        role,
        name,
        expires_at: now + ttl,
    };
    match verifier.mint(&identity, now) {
        Some(token) => {
            println!("{token}");
            Ok(())
        }
        None => anyhow::bail!("minting tokens needs JWT_SECRET (a public key can only verify)"),
    }
}
