//! WebRTC signaling over Socket.IO v4, namespace `/webrtc`, on the same port as the REST
//! API. The event names and payload fields are the seed design's wire contract, so a
//! frontend written against it works unchanged (see `docs/signaling.md`).
//!
//! - [`wire`]: every server→client event and reply as a type, the room names, the emits.
//! - [`payload`]: the client→server events, parsed and validated.
//! - [`error`]: [`SignalingError`] and its one wire shape (ack or `error` event).
//! - [`presence`]: the [`Presence`] interface (who is in which call) and its local store;
//!   [`multinode`]: the same on Redis, with the adapter's pub/sub.
//! - `transport`: the Socket.IO server's settings and the `/socket.io/` route.
//! - `handshake`: the token check, the connection's session and task, token expiry.
//! - `session`: per-socket state and the ordered event queue.
//! - `handlers`: what each event does (through [`crate::calls::CallsService`]).
//! - `departures`: a device leaving or dropping, told to presence and the call (or retried).
//! - `sweep`: the once-a-second upkeep (presence, retries, grace expiry, quality requests).
//! - `notifier`: REST-side call and recording changes turned into emits.
//!
//! This module builds the server ([`start`]) and holds what the parts share ([`Hub`]).
//!
//! Socket.IO runs each handler as its own task, which would let an ICE candidate overtake
//! the offer it belongs to. So the socket's handler only checks size and rate and queues
//! the event; one task per socket processes its queue in arrival order.

mod departures;
mod door;
pub mod error;
mod handlers;
mod handshake;
pub mod multinode;
pub mod notifier;
pub mod payload;
pub mod presence;
#[cfg(test)]
mod presence_contract;
mod refusals;
mod session;
mod sweep;
mod transport;
pub mod wire;

use crate::config::Settings;
use crate::state::AppState;
use crate::tasks::Jobs;
use axum::Router;
use error::SignalingError;
pub use notifier::{Notices, SignalingNotifier};
use presence::{LocalPresence, Presence};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use std::sync::Arc;
use std::time::Duration;

pub const NAMESPACE: &str = "/webrtc";

/// The limits and intervals of signaling, from settings.
#[derive(Clone, Copy, Debug)]
pub struct SignalingLimits {
    pub max_event_bytes: usize,
    pub events_per_second: u32,
    pub event_burst: u32,
    pub grace_ms: i64,
    pub quality_sample_ms: i64,
    pub quality_silence_ms: i64,
    pub leeway_seconds: u64,
    pub socket_caps: vytalcall_domain::connections::Caps,
    pub max_call_participants: usize,
}

impl SignalingLimits {
    pub fn from_settings(s: &Settings) -> SignalingLimits {
        SignalingLimits {
            max_event_bytes: s.signaling.max_event_bytes,
            events_per_second: s.signaling.events_per_second,
            event_burst: s.signaling.event_burst,
            grace_ms: s.reconnect_grace_seconds as i64 * 1000,
            quality_sample_ms: s.signaling.quality_sample_seconds as i64 * 1000,
            quality_silence_ms: s.signaling.quality_stats_request_seconds as i64 * 1000,
            leeway_seconds: s.jwt.leeway_seconds,
            socket_caps: vytalcall_domain::connections::Caps {
                per_user: s.signaling.max_sockets_per_user,
                per_address: s.signaling.max_sockets_per_address,
            },
            max_call_participants: s.signaling.max_call_participants,
        }
    }
}

/// Everything the signaling handlers share. Generic over the Socket.IO adapter: in
/// memory for one process, Redis when several processes serve the same calls.
pub struct Hub<A: Adapter> {
    io: SocketIo<A>,
    state: AppState,
    presence: Arc<dyn Presence>,
    limits: SignalingLimits,
    /// Departures the shared store could not take yet (Redis away), retried every second.
    pending_departures: std::sync::Mutex<Vec<presence::PendingDeparture>>,
    /// Open sockets by user and address on this node, for the caps the handshake enforces.
    connections: handshake::ConnectionTable,
    /// Where waiting-room admissions are published to every node (several nodes only).
    door_link: Option<multinode::RedisLink>,
}

/// The Redis adapter over the reconnecting pub/sub driver.
pub type RedisAdapter = socketioxide_redis::CustomRedisAdapter<socketioxide::adapter::Emitter, multinode::PubSubDriver>;

/// Builds the Socket.IO server (in memory, or on Redis when the state has a link), registers
/// the namespace and starts its background jobs in `jobs`; returns the `/socket.io/` routes.
pub async fn start(state: AppState, notices: Notices, jobs: &mut Jobs) -> anyhow::Result<Router> {
    let origins = state.settings.frontend_urls.clone();
    match state.redis.clone() {
        None => {
            // Alone, this process held every connection: whoever was in a call when it last
            // stopped is disconnected now, and may resume within the grace period.
            let interrupted = state.calls.recover_interrupted().await?;
            if !interrupted.is_empty() {
                tracing::info!(
                    participants = interrupted.len(),
                    "calls interrupted by the last stop: grace periods started"
                );
            }
            let presence = LocalPresence::restored(&interrupted, crate::now_millis());
            let (layer, io) = transport::builder(&state.settings).build_layer();
            attach(&io, state, notices, Arc::new(presence), None, jobs);
            Ok(transport::routes(layer, &origins))
        }
        Some(link) => {
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}-sio", link.prefix()))
                .with_request_timeout(Duration::from_secs(3));
            let ctr = socketioxide_redis::RedisAdapterCtr::new_with_driver(link.driver(), config);
            let (layer, io) = transport::builder(&state.settings)
                .with_adapter::<RedisAdapter>(ctr)
                .build_layer();
            let presence = Arc::new(multinode::RedisPresence::new(&link));
            jobs.spawn("redis keep-alive", multinode::keep_alive(link.clone()));
            let door_notices = {
                use socketioxide_redis::drivers::Driver;
                link.driver().subscribe(door::door_channel(link.prefix()), 64).await?
            };
            let init = attach(&io, state, notices, presence, Some((link, door_notices)), jobs);
            init.await
                .map_err(|e| anyhow::anyhow!("cannot start the Redis adapter: {e}"))?;
            Ok(transport::routes(layer, &origins))
        }
    }
}

/// Registers the namespace and starts the background work (notices, grace expiry,
/// quality-stats requests). Call once, after the state exists.
fn attach<A: Adapter + socketioxide_core::adapter::DefinedAdapter>(
    io: &SocketIo<A>,
    state: AppState,
    notices: Notices,
    presence: Arc<dyn Presence>,
    door: Option<(multinode::RedisLink, door::DoorNotices)>,
    jobs: &mut Jobs,
) -> A::InitRes {
    let (door_link, door_notices) = door.unzip();
    let limits = SignalingLimits::from_settings(&state.settings);
    let hub = Arc::new(Hub {
        io: io.clone(),
        connections: handshake::ConnectionTable::new(limits.socket_caps),
        limits,
        state,
        presence,
        pending_departures: Default::default(),
        door_link,
    });
    // The namespace's handlers hold the hub weakly: the hub holds `io`, and `io` holds its
    // handlers, so a strong reference would keep the whole server (and its database pool)
    // alive after its runtime is gone. The background tasks below own the hub.
    let on_connect = {
        let hub = Arc::downgrade(&hub);
        move |s: SocketRef<A>| {
            match hub.upgrade() {
                Some(hub) => hub.connected(s),
                None => {
                    let _ = s.disconnect();
                }
            }
            std::future::ready(())
        }
    };
    let authenticate = {
        let hub = Arc::downgrade(&hub);
        move |s: SocketRef<A>, TryData(auth): TryData<Value>| {
            let result = match hub.upgrade() {
                Some(hub) => hub.authenticate(&s, auth.ok()),
                None => Err(handshake::Refused::unavailable("the server is shutting down")),
            };
            std::future::ready(result)
        }
    };
    let init = io.ns(NAMESPACE, on_connect.with(authenticate));
    jobs.spawn("signaling notices", notifier::deliver(hub.clone(), notices));
    if let Some(notices) = door_notices {
        jobs.spawn("waiting-room notices", door::listen(Arc::downgrade(&hub), notices));
    }
    jobs.every("signaling sweep", Duration::from_secs(1), move || hub.clone().sweep());
    init
}

impl<A: Adapter> Hub<A> {
    /// Sends an error to one socket: the ack if the event asked for one, else `error`.
    fn reply_error(s: &SocketRef<A>, event: &str, ack: Option<session::Ack>, e: &SignalingError) {
        // The label is a known event name or `unknown`: client text never becomes a series.
        let label = payload::EventName::parse(event).map_or("unknown", |n| n.as_str());
        metrics::counter!("vytalcall_signaling_errors_total", "event" => label, "code" => e.code()).increment(1);
        if let SignalingError::Call(crate::calls::CallError::Store(err)) = e {
            tracing::error!(error = %err, event, "signaling storage failure");
        }
        match ack {
            Some(ack) => ack(wire::error_reply(e.body())),
            None => wire::emit(
                s,
                &wire::ErrorEvent {
                    event: Some(event.to_string()),
                    error: e.body(),
                },
            ),
        }
    }
}
