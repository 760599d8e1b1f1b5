//! The connections of one process to Redis: one for commands (presence), one for the
//! adapter's pub/sub, both [`ConnectionManager`]s that reconnect by themselves, and the
//! keep-alive that notices an outage while nothing is being published.

use super::pubsub::{self, PubSubDriver};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Commands fail after this long instead of hanging while Redis is away.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The connections to Redis of one process.
#[derive(Clone)]
pub struct RedisLink {
    pub(super) commands: ConnectionManager,
    pubsub: PubSubDriver,
    pub(super) prefix: String,
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
        let handlers: Arc<RwLock<pubsub::HandlerMap>> = Arc::default();
        let sink = handlers.clone();
        let config = base().set_automatic_resubscription().set_push_sender(move |msg| {
            pubsub::route_message(msg, &sink);
            Ok::<(), std::convert::Infallible>(())
        });
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisLink {
            commands,
            pubsub: PubSubDriver::new(handlers, conn),
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn driver(&self) -> PubSubDriver {
        self.pubsub.clone()
    }

    /// Publishes `body` on `channel` over the command connection; returns how many
    /// subscribers heard it (0: nobody listens there).
    pub async fn publish(&self, channel: &str, body: Vec<u8>) -> Result<i64, redis::RedisError> {
        use redis::AsyncCommands;
        self.commands.clone().publish(channel, body).await
    }

    /// Readiness: both connections answer.
    pub async fn ping(&self) -> Result<(), String> {
        let check = async {
            let mut a = self.commands.clone();
            let mut b = self.pubsub.connection();
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
