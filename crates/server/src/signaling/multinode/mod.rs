//! Multi-node signaling on Redis. Layout and rules: `docs/signaling.md`, "Multi-node".
//!
//! - `link`: [`RedisLink`], the process's two connections (commands, pub/sub), which
//!   reconnect by themselves when Redis comes back, and [`keep_alive`];
//! - `pubsub`: [`PubSubDriver`], the Socket.IO adapter's pub/sub (rooms and emits across
//!   processes), re-subscribed after an outage;
//! - `presence`: [`RedisPresence`] (who is in which call, reconnection grace, devices of
//!   dead nodes), its scripts in `lua/`.

mod link;
mod presence;
mod pubsub;

pub use link::{RedisLink, keep_alive};
pub use presence::{NODE_TTL_MS, RedisPresence};
pub use pubsub::{DriverError, PubSubDriver};
