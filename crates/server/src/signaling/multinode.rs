//! Multi-node signaling on Redis: the pub/sub driver of the Socket.IO adapter (rooms and
//! emits across processes) and [`RedisPresence`] (who is in which call, reconnection grace,
//! and the devices of processes that died). Layout and rules: `docs/signaling.md`,
//! "Multi-node".
//!
//! Both use a [`ConnectionManager`], which reconnects by itself when Redis comes back and
//! re-subscribes the adapter's channels, so a node recovers from an outage without a restart.

use super::presence::{Expired, Maintenance, Presence, PresenceError, PresenceResult};
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, FromRedisValue, PushInfo, Script};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use vytalcall_domain::presence::{Arrival, Departure};
use vytalcall_domain::{CallId, Millis, UserId};

/// How long a node counts as alive after its last heartbeat (sent every second).
pub const NODE_TTL_MS: u64 = 5_000;
/// Commands fail after this long instead of hanging while Redis is away.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The connections to Redis of one process.
#[derive(Clone)]
pub struct RedisLink {
    commands: ConnectionManager,
    pubsub: PubSubDriver,
    prefix: String,
}

impl RedisLink {
    /// Connects (RESP3, which the adapter's pub/sub needs: Redis 7 or later).
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisLink> {
        let url = if url.contains("protocol=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        };
        let client = redis::Client::open(url)?;
        let base = || {
            ConnectionManagerConfig::new()
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_max_delay(Duration::from_secs(1))
                // One attempt per failed command: while Redis is away, commands fail at once
                // (and the once-a-second keep-alive retries) instead of waiting out a backoff.
                .set_number_of_retries(1)
        };
        let commands = ConnectionManager::new_with_config(client.clone(), base()).await?;
        let handlers: Arc<RwLock<HandlerMap>> = Arc::default();
        let sink = handlers.clone();
        let config = base().set_automatic_resubscription().set_push_sender(move |msg| {
            route_message(msg, &sink);
            Ok::<(), std::convert::Infallible>(())
        });
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisLink {
            commands,
            pubsub: PubSubDriver { handlers, conn },
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn driver(&self) -> PubSubDriver {
        self.pubsub.clone()
    }

    /// Readiness: both connections answer.
    pub async fn ping(&self) -> Result<(), String> {
        let check = async {
            let mut a = self.commands.clone();
            let mut b = self.pubsub.conn.clone();
            redis::cmd("PING").query_async::<String>(&mut a).await?;
            redis::cmd("PING").query_async::<String>(&mut b).await?;
            Ok::<(), redis::RedisError>(())
        };
        match tokio::time::timeout(RESPONSE_TIMEOUT, check).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }
}

/// Pings both connections once a second, so that a lost connection is noticed (and
/// re-established, channels re-subscribed) even while nothing is being published, and logs
/// the outage and the recovery once each.
pub async fn keep_alive(link: RedisLink) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut up = true;
    loop {
        tick.tick().await;
        match link.ping().await {
            Ok(()) if !up => {
                up = true;
                tracing::info!("redis is reachable again; multi-node signaling resumed");
            }
            Err(e) if up => {
                up = false;
                tracing::error!(error = %e, "redis is unreachable; signaling that needs other nodes is refused");
            }
            _ => {}
        }
    }
}

type HandlerMap = HashMap<String, mpsc::Sender<ChanItem>>;

/// The adapter's pub/sub over a reconnecting connection.
#[derive(Clone)]
pub struct PubSubDriver {
    handlers: Arc<RwLock<HandlerMap>>,
    conn: ConnectionManager,
}

fn route_message(msg: PushInfo, handlers: &RwLock<HandlerMap>) {
    if !matches!(msg.kind, redis::PushKind::Message | redis::PushKind::SMessage) {
        return;
    }
    let mut data = msg.data.into_iter();
    let (Some(chan), Some(body)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(chan), Ok(body)) = (String::from_redis_value(chan), Vec::<u8>::from_redis_value(body)) else {
        tracing::warn!("unreadable message from redis pub/sub");
        return;
    };
    let guard = match handlers.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(tx) = guard.get(&chan)
        && tx.try_send((chan, body)).is_err()
    {
        tracing::warn!("redis pub/sub channel full; a cross-node message was dropped");
    }
}

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct DriverError(#[from] redis::RedisError);

impl Driver for PubSubDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), DriverError> {
        self.conn.clone().publish::<_, _, redis::Value>(chan, val).await?;
        Ok(())
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, DriverError> {
        let (tx, rx) = mpsc::channel(size);
        match self.handlers.write() {
            Ok(mut h) => h.insert(chan.clone(), tx),
            Err(poisoned) => poisoned.into_inner().insert(chan.clone(), tx),
        };
        self.conn.clone().subscribe(chan.as_str()).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), DriverError> {
        match self.handlers.write() {
            Ok(mut h) => h.remove(&chan),
            Err(poisoned) => poisoned.into_inner().remove(&chan),
        };
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, DriverError> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }
}

// Scripts: each runs atomically in Redis, so two nodes never both claim the same change.
// ARGV[1] is always the key prefix.

const JOIN: &str = r#"
local P, call, user, dev, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local base = P .. ':presence:call:' .. call
local dkey = base .. ':user:' .. user
local had = redis.call('SCARD', dkey)
local resumed = redis.call('ZREM', P .. ':presence:grace', call .. '|' .. user)
redis.call('SADD', dkey, dev)
redis.call('SADD', base .. ':users', user)
redis.call('SADD', P .. ':presence:calls', call)
redis.call('SADD', P .. ':presence:node:' .. node .. ':devices', call .. '|' .. user .. '|' .. dev)
redis.call('SADD', P .. ':presence:nodes', node)
local arrival = 'first'
if had > 0 then arrival = 'another' elseif resumed > 0 then arrival = 'resumed' end
local out = {arrival}
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  if redis.call('SCARD', base .. ':user:' .. u) > 0 then table.insert(out, u) end
end
return out
"#;

const DEPART: &str = r#"
local P, call, user, dev, node, dropped = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local base = P .. ':presence:call:' .. call
local dkey = base .. ':user:' .. user
redis.call('SREM', P .. ':presence:node:' .. node .. ':devices', call .. '|' .. user .. '|' .. dev)
if redis.call('SREM', dkey, dev) == 0 then return {'unknown', '0'} end
if redis.call('SCARD', dkey) > 0 then return {'still', '0'} end
if dropped ~= '' then
  redis.call('ZADD', P .. ':presence:grace', tonumber(dropped), call .. '|' .. user)
  return {'disconnected', '0'}
end
redis.call('SREM', base .. ':users', user)
if redis.call('SCARD', base .. ':users') == 0 then
  redis.call('SREM', P .. ':presence:calls', call)
  return {'left', '1'}
end
return {'left', '0'}
"#;

const CONNECTED: &str = r#"
local base = ARGV[1] .. ':presence:call:' .. ARGV[2]
local out = {}
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  if redis.call('SCARD', base .. ':user:' .. u) > 0 then table.insert(out, u) end
end
return out
"#;

/// Claims the grace periods that ran out: the ZREM inside the script is what makes exactly
/// one node report each of them.
const EXPIRE: &str = r#"
local P = ARGV[1]
local g = P .. ':presence:grace'
local due = redis.call('ZRANGEBYSCORE', g, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', g, m)
  local sep = string.find(m, '|', 1, true)
  if sep then
    local call = string.sub(m, 1, sep - 1)
    local user = string.sub(m, sep + 1)
    local base = P .. ':presence:call:' .. call
    if redis.call('SCARD', base .. ':user:' .. user) == 0 then
      redis.call('SREM', base .. ':users', user)
      local empty = '0'
      if redis.call('SCARD', base .. ':users') == 0 then
        redis.call('SREM', P .. ':presence:calls', call)
        empty = '1'
      end
      table.insert(out, call)
      table.insert(out, user)
      table.insert(out, empty)
    end
  end
end
return out
"#;

const CLOSE: &str = r#"
local P, call = ARGV[1], ARGV[2]
local base = P .. ':presence:call:' .. call
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  redis.call('DEL', base .. ':user:' .. u)
  redis.call('ZREM', P .. ':presence:grace', call .. '|' .. u)
end
redis.call('DEL', base .. ':users')
redis.call('SREM', P .. ':presence:calls', call)
return 1
"#;

/// Heartbeat; returns 1 when this node's registration was missing (first start, or Redis
/// lost its data), so the node re-publishes its devices.
const HEARTBEAT: &str = r#"
local P, node = ARGV[1], ARGV[2]
local old = redis.call('SET', P .. ':presence:node:' .. node .. ':alive', '1', 'PX', tonumber(ARGV[3]), 'GET')
redis.call('SADD', P .. ':presence:nodes', node)
if old then return 0 end
return 1
"#;

/// Claims devices of nodes whose heartbeat stopped: SPOP hands each to exactly one node.
const REAP: &str = r#"
local P, me = ARGV[1], ARGV[2]
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', P .. ':presence:nodes')) do
  if node ~= me and redis.call('EXISTS', P .. ':presence:node:' .. node .. ':alive') == 0 then
    local key = P .. ':presence:node:' .. node .. ':devices'
    local popped = redis.call('SPOP', key, 100)
    for _, d in ipairs(popped) do
      table.insert(out, node)
      table.insert(out, d)
    end
    if redis.call('SCARD', key) == 0 then
      redis.call('SREM', P .. ':presence:nodes', node)
    end
  end
end
return out
"#;

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
            join: Script::new(JOIN),
            depart: Script::new(DEPART),
            connected: Script::new(CONNECTED),
            expire: Script::new(EXPIRE),
            close: Script::new(CLOSE),
            heartbeat: Script::new(HEARTBEAT),
            reap: Script::new(REAP),
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
