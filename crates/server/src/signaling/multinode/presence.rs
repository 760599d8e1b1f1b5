//! [`RedisPresence`]: who is in which call, the reconnection grace, and the devices of
//! processes that died, shared by every node through Redis. The rules are
//! [`vytalcall_domain::presence::CallPresence`]'s, written as Lua scripts (in `lua/`) that
//! each run atomically, so two nodes never both claim the same change; the contract tests
//! (`presence_contract`) hold both implementations to the same behaviour.

use super::link::RedisLink;
use crate::signaling::presence::{Expired, Maintenance, Presence, PresenceError, PresenceResult};
use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::str::FromStr;
use vytalcall_domain::presence::{Arrival, Departure};
use vytalcall_domain::{CallId, Millis, UserId};

/// How long a node counts as alive after its last heartbeat (sent every second).
pub const NODE_TTL_MS: u64 = 5_000;

/// Presence shared by every node through Redis.
pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    join: Script,
    depart: Script,
    connected: Script,
    expire: Script,
    close: Script,
    heartbeat: Script,
    reap: Script,
}

fn unavailable(e: redis::RedisError) -> PresenceError {
    PresenceError(e.to_string())
}

fn parse_users(items: impl IntoIterator<Item = String>) -> Vec<UserId> {
    items.into_iter().filter_map(|u| UserId::from_str(&u).ok()).collect()
}

fn departure(word: &str) -> Departure {
    match word {
        "still" => Departure::StillHere,
        "left" => Departure::Left,
        "disconnected" => Departure::Disconnected,
        _ => Departure::Unknown,
    }
}

impl RedisPresence {
    pub fn new(link: &RedisLink) -> RedisPresence {
        RedisPresence {
            conn: link.commands.clone(),
            prefix: link.prefix.clone(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            join: Script::new(include_str!("lua/join.lua")),
            depart: Script::new(include_str!("lua/depart.lua")),
            connected: Script::new(include_str!("lua/connected.lua")),
            expire: Script::new(include_str!("lua/expire.lua")),
            close: Script::new(include_str!("lua/close.lua")),
            heartbeat: Script::new(include_str!("lua/heartbeat.lua")),
            reap: Script::new(include_str!("lua/reap.lua")),
        }
    }

    async fn depart_device(
        &self,
        call: &str,
        user: &str,
        device: &str,
        node: &str,
        dropped_at: Option<Millis>,
    ) -> PresenceResult<(Departure, bool)> {
        let dropped = dropped_at.map(|t| t.to_string()).unwrap_or_default();
        let out: Vec<String> = self
            .depart
            .arg(&self.prefix)
            .arg(call)
            .arg(user)
            .arg(device)
            .arg(node)
            .arg(dropped)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let d = out.first().map_or(Departure::Unknown, |w| departure(w));
        Ok((d, out.get(1).is_some_and(|e| e == "1")))
    }
}

impl Presence for RedisPresence {
    fn join(
        &self,
        call: CallId,
        user: UserId,
        device: String,
    ) -> BoxFuture<'_, PresenceResult<(Arrival, Vec<UserId>)>> {
        Box::pin(async move {
            let out: Vec<String> = self
                .join
                .arg(&self.prefix)
                .arg(call.to_string())
                .arg(user.to_string())
                .arg(&device)
                .arg(&self.node)
                .arg(NODE_TTL_MS)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            let mut out = out.into_iter();
            let arrival = match out.next().as_deref() {
                Some("another") => Arrival::AnotherDevice,
                Some("resumed") => Arrival::Resumed,
                _ => Arrival::First,
            };
            Ok((arrival, parse_users(out)))
        })
    }

    fn leave(&self, call: CallId, user: UserId, device: String) -> BoxFuture<'_, PresenceResult<(Departure, bool)>> {
        Box::pin(async move {
            self.depart_device(&call.to_string(), &user.to_string(), &device, &self.node, None)
                .await
        })
    }

    fn drop_device(
        &self,
        call: CallId,
        user: UserId,
        device: String,
        now: Millis,
    ) -> BoxFuture<'_, PresenceResult<Departure>> {
        Box::pin(async move {
            let (d, _) = self
                .depart_device(&call.to_string(), &user.to_string(), &device, &self.node, Some(now))
                .await?;
            Ok(d)
        })
    }

    fn is_participant(&self, call: CallId, user: UserId) -> BoxFuture<'_, PresenceResult<bool>> {
        Box::pin(async move {
            let key = format!("{}:presence:call:{call}:users", self.prefix);
            self.conn
                .clone()
                .sismember(key, user.to_string())
                .await
                .map_err(unavailable)
        })
    }

    fn connected_users(&self, call: CallId) -> BoxFuture<'_, PresenceResult<Vec<UserId>>> {
        Box::pin(async move {
            let out: Vec<String> = self
                .connected
                .arg(&self.prefix)
                .arg(call.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            Ok(parse_users(out))
        })
    }

    fn expire(&self, now: Millis, grace_ms: Millis) -> BoxFuture<'_, PresenceResult<Vec<Expired>>> {
        Box::pin(async move {
            let out: Vec<String> = self
                .expire
                .arg(&self.prefix)
                .arg(now - grace_ms)
                .arg(100)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            let mut expired = Vec::new();
            for chunk in out.chunks_exact(3) {
                if let (Ok(call), Ok(user)) = (CallId::from_str(&chunk[0]), UserId::from_str(&chunk[1])) {
                    expired.push(Expired {
                        call,
                        user,
                        call_empty: chunk[2] == "1",
                    });
                }
            }
            Ok(expired)
        })
    }

    fn close(&self, call: CallId) -> BoxFuture<'_, PresenceResult<()>> {
        Box::pin(async move {
            let _: i64 = self
                .close
                .arg(&self.prefix)
                .arg(call.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn maintain(&self, now: Millis) -> BoxFuture<'_, PresenceResult<Maintenance>> {
        Box::pin(async move {
            let fresh: i64 = self
                .heartbeat
                .arg(&self.prefix)
                .arg(&self.node)
                .arg(NODE_TTL_MS)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            let claimed: Vec<String> = self
                .reap
                .arg(&self.prefix)
                .arg(&self.node)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            let mut dropped = Vec::new();
            for pair in claimed.chunks_exact(2) {
                let (node, entry) = (&pair[0], &pair[1]);
                let mut parts = entry.splitn(3, '|');
                let (Some(call), Some(user), Some(device)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                let (d, _) = self.depart_device(call, user, device, node, Some(now)).await?;
                if d == Departure::Disconnected
                    && let (Ok(call), Ok(user)) = (CallId::from_str(call), UserId::from_str(user))
                {
                    dropped.push((call, user));
                }
            }
            Ok(Maintenance {
                resync: fresh == 1,
                dropped,
            })
        })
    }
}
