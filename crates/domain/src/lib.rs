//! vytalcall's domain: everything that decides, nothing that does I/O.
//!
//! This crate cannot reach a database, a socket or a clock. Callers pass time in and apply
//! the returned effects themselves (the sans-IO style of `str0m` and `mini-redis`), which is
//! why every rule here is tested in microseconds.
//!
//! - [`ids`]: parsed identifiers (`UserId`, `CallId`, ...), never raw strings.
//! - [`role`]: who a caller is (`patient`, `provider`, `admin`).
//! - [`call`]: the call state machine and the effects each transition produces.
//! - [`access`]: who may see and act on a call (and read the audit trail), and how many
//!   members a call can have.
//! - [`participation`]: joining from a device, who is credited with answering, and what
//!   becomes of a call everybody left.
//! - [`consent`]: recording consent, and when recordings expire.
//! - [`presence`]: who is in a call per device, and the reconnection grace period.
//! - [`quality`]: judging connection-quality reports into warnings and suggestions.
//! - [`rate`]: the token bucket that limits each socket's events.
//! - [`audit`]: the hash chain that makes the audit trail tamper-evident.
//! - [`interactive_time`]: minutes a patient spent with a provider, for RPM billing.
//! - [`turn`]: time-limited TURN credentials in coturn's `use-auth-secret` scheme.
//! - [`connections`]: how many sockets one user and one address may hold.
//! - [`denials`]: coalescing a socket's repeated refusals into few audit entries.
//! - [`text`]: the one rule for free text people type that others read.
//! - [`name`]: people's display names (the token's `name` claim), as others read them.
//! - [`invitation`]: guests' invitations to one call, how long they last, when they close.
//! - [`waiting_room`]: who waits to be let into a call, and who may let them in.
//! - [`webhook`]: Standard Webhooks signatures, event names, retry backoff and the SSRF rule.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod call;
pub mod connections;
pub mod consent;
pub mod denials;
pub mod ids;
pub mod interactive_time;
pub mod invitation;
pub mod name;
pub mod participation;
pub mod presence;
pub mod quality;
pub mod rate;
pub mod role;
pub mod text;
pub mod turn;
pub mod waiting_room;
pub mod webhook;

pub use ids::{CallId, RecordingId, UserId};
pub use role::Role;

/// Milliseconds since the Unix epoch. The domain never reads a clock: time is an input.
pub type Millis = i64;
