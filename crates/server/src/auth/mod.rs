//! Who is calling. The platform issues bearer JWTs; this module verifies them
//! ([`jwt::Verifier`]) and turns a request into an [`AuthUser`] (in [`extract`]). Socket.IO
//! handshakes use the same verifier, so REST and signaling accept exactly the same tokens.

pub mod extract;
pub mod jwt;

pub use extract::AuthUser;
pub use jwt::{AuthError, Identity, Verifier};
