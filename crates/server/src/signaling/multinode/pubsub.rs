//! The pub/sub driver of the Socket.IO Redis adapter (rooms and emits across processes),
//! over a reconnecting connection whose pushed messages are routed to the adapter's
//! subscriptions.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, FromRedisValue, PushInfo};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

pub(super) type HandlerMap = HashMap<String, mpsc::Sender<ChanItem>>;

/// The adapter's pub/sub over a reconnecting connection.
#[derive(Clone)]
pub struct PubSubDriver {
    handlers: Arc<RwLock<HandlerMap>>,
    conn: ConnectionManager,
}

impl PubSubDriver {
    pub(super) fn new(handlers: Arc<RwLock<HandlerMap>>, conn: ConnectionManager) -> PubSubDriver {
        PubSubDriver { handlers, conn }
    }

    /// The pub/sub connection, for the readiness check.
    pub(super) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

pub(super) fn route_message(msg: PushInfo, handlers: &RwLock<HandlerMap>) {
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
