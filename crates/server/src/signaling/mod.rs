//! WebRTC signaling over Socket.IO v4, namespace `/webrtc`, on the same port as the REST
//! API. The event names and payload fields are the seed design's wire contract, so a
//! frontend written against it works unchanged (see `docs/signaling.md`).
//!
//! - [`payload`]: the client→server events, parsed and validated.
//! - [`error`]: [`SignalingError`] and its one wire shape (ack or `error` event).
//! - [`presence`]: room names and the [`Presence`] interface (who is in which call).
//! - `session`: per-socket state and the ordered event queue.
//! - `handlers`: what each event does (through [`crate::calls::CallsService`]).
//! - `notifier`: REST-side call and recording changes turned into emits.
//!
//! Socket.IO runs each handler as its own task, which would let an ICE candidate overtake
//! the offer it belongs to. So the socket's handler only checks size and rate and queues
//! the event; one task per socket processes its queue in arrival order.

pub mod error;
mod handlers;
pub mod multinode;
pub mod notifier;
pub mod payload;
pub mod presence;
mod session;
pub mod wire;

use crate::auth::AuthError;
use crate::config::Settings;
use crate::state::AppState;
use crate::tasks::Jobs;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue};
use error::SignalingError;
pub use notifier::{Notices, SignalingNotifier};
use presence::{LocalPresence, Presence};
use serde_json::Value;
use session::Session;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::{SocketIo, SocketIoBuilder, TransportType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use vytalcall_domain::access::Caller;
use vytalcall_domain::presence::Departure;

pub const NAMESPACE: &str = "/webrtc";

/// The limits and intervals of signaling, from settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_event_bytes: usize,
    pub events_per_second: u32,
    pub event_burst: u32,
    pub grace_ms: i64,
    pub quality_sample_ms: i64,
    pub quality_silence_ms: i64,
    pub leeway_seconds: u64,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Limits {
        Limits {
            max_event_bytes: s.signaling.max_event_bytes,
            events_per_second: s.signaling.events_per_second,
            event_burst: s.signaling.event_burst,
            grace_ms: s.reconnect_grace_seconds as i64 * 1000,
            quality_sample_ms: s.signaling.quality_sample_seconds as i64 * 1000,
            quality_silence_ms: s.signaling.quality_stats_request_seconds as i64 * 1000,
            leeway_seconds: s.jwt.leeway_seconds,
        }
    }
}

/// Everything the signaling handlers share. Generic over the Socket.IO adapter: in
/// memory for one process, Redis when several processes serve the same calls.
pub struct Hub<A: Adapter> {
    io: SocketIo<A>,
    state: AppState,
    presence: Arc<dyn Presence>,
    limits: Limits,
    /// Departures the shared store could not take yet (Redis away), retried every second.
    pending_departures: std::sync::Mutex<Vec<presence::PendingDeparture>>,
}

/// The Socket.IO server's settings. The transport limit is far above the event limit: an
/// oversized event is refused with an error while its connection stays up.
fn builder(settings: &Settings) -> SocketIoBuilder {
    let transport_limit = (settings.signaling.max_event_bytes.saturating_mul(8)).max(2 << 20);
    SocketIo::builder()
        .transports([TransportType::Polling, TransportType::Websocket])
        .max_payload(transport_limit as u64)
        .ws_max_message_size(transport_limit)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .max_buffer_size(1024)
        .ack_timeout(Duration::from_secs(10))
        // Socket.IO keeps each transport connection (about 20 KiB) until it joins a namespace
        // or this time-out passes, even when the client already closed it (a refused
        // handshake never joins). Clients send the namespace connect right after the
        // transport opens, so a short time-out costs nothing and keeps what a
        // connect/disconnect flood can pin small (SECURITY.md, issue #8).
        .connect_timeout(CONNECT_TIMEOUT)
}

/// The WebSocket read buffer each connection keeps (the default is 4 KiB, filled on the first
/// read so all of it is resident). Signaling events are small (an ICE candidate is about
/// 350 bytes); a larger event (an SDP offer, about 5 KB) still arrives whole, the buffer is
/// grown for it, in a few more reads.
const WS_READ_BUFFER: usize = 1024;

/// How long a transport connection may wait for its namespace connect (the default is 45 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
            let (layer, io) = builder(&state.settings).build_layer();
            attach(&io, state, notices, Arc::new(presence), jobs);
            Ok(routes(layer, &origins))
        }
        Some(link) => {
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}-sio", link.prefix()))
                .with_request_timeout(Duration::from_secs(3));
            let ctr = socketioxide_redis::RedisAdapterCtr::new_with_driver(link.driver(), config);
            let (layer, io) = builder(&state.settings).with_adapter::<RedisAdapter>(ctr).build_layer();
            let presence = Arc::new(multinode::RedisPresence::new(&link));
            jobs.spawn("redis keep-alive", multinode::keep_alive(link.clone()));
            let init = attach(&io, state, notices, presence, jobs);
            init.await
                .map_err(|e| anyhow::anyhow!("cannot start the Redis adapter: {e}"))?;
            Ok(routes(layer, &origins))
        }
    }
}

/// The `/socket.io/` route, with CORS for the configured frontends.
fn routes<A: Adapter>(layer: socketioxide::layer::SocketIoLayer<A>, origins: &[String]) -> Router {
    let allowed: Vec<axum::http::HeaderValue> = origins
        .iter()
        .filter_map(|o| axum::http::HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE])
        .allow_credentials(true);
    Router::new()
        .route(
            "/socket.io/",
            axum::routing::any(|| async { axum::http::StatusCode::NOT_FOUND }),
        )
        .layer(layer)
        .layer(tower::util::MapRequestLayer::new(compact_request))
        .layer(cors)
}

/// Socket.IO keeps the HTTP request that opened a connection (its head) for the whole life
/// of the connection. As hyper hands it over, its URI and header values are slices of the
/// connection's read buffer (8 to 16 KiB), and its extensions carry the server's
/// per-connection state: kept as they are, they pinned that whole buffer for every idle
/// connection (the largest single cost in the heap profile, see
/// `docs/benchmarks/signaling.md`). So the head is rebuilt with owned copies of the URI and
/// headers, and only the extensions the transport and the handlers use: the upgrade
/// (WebSocket) and the client address.
fn compact_request(req: Request) -> Request {
    let (mut parts, body) = req.into_parts();
    let uri = parts
        .uri
        .to_string()
        .parse::<axum::http::Uri>()
        .unwrap_or_else(|_| parts.uri.clone());
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let copy = match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(mut v) => {
                v.set_sensitive(value.is_sensitive());
                v
            }
            Err(_) => value.clone(),
        };
        headers.append(name.clone(), copy);
    }
    let mut extensions = axum::http::Extensions::new();
    if let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
        extensions.insert(upgrade);
    }
    if let Some(addr) = parts.extensions.remove::<ConnectInfo<SocketAddr>>() {
        extensions.insert(addr);
    }
    parts.uri = uri;
    parts.headers = headers;
    parts.extensions = extensions;
    Request::from_parts(parts, body)
}

/// Registers the namespace and starts the background work (notices, grace expiry,
/// quality-stats requests). Call once, after the state exists.
fn attach<A: Adapter + socketioxide_core::adapter::DefinedAdapter>(
    io: &SocketIo<A>,
    state: AppState,
    notices: Notices,
    presence: Arc<dyn Presence>,
    jobs: &mut Jobs,
) -> A::InitRes {
    let hub = Arc::new(Hub {
        io: io.clone(),
        limits: Limits::from_settings(&state.settings),
        state,
        presence,
        pending_departures: Default::default(),
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
                None => Err(Refused("the server is shutting down".into())),
            };
            std::future::ready(result)
        }
    };
    let init = io.ns(NAMESPACE, on_connect.with(authenticate));
    jobs.spawn("signaling notices", notifier::deliver(hub.clone(), notices));
    jobs.every("signaling sweep", Duration::from_secs(1), move || hub.clone().sweep());
    init
}

/// Why a handshake was refused; the client's `connect_error` message.
#[derive(Debug, thiserror::Error)]
#[error("unauthorized: {0}")]
pub struct Refused(String);

const MAX_DEVICE_ID: usize = 128;

impl<A: Adapter> Hub<A> {
    /// The handshake: `auth: { token, deviceId? }` checked by the same rules as REST.
    fn authenticate(&self, s: &SocketRef<A>, auth: Option<Value>) -> Result<(), Refused> {
        let auth = auth.unwrap_or(Value::Null);
        let token = match auth.get("token") {
            None | Some(Value::Null) => return Err(Refused(AuthError::Missing.to_string())),
            Some(Value::String(t)) if t.is_empty() => {
                return Err(Refused(AuthError::Missing.to_string()));
            }
            Some(Value::String(t)) => t.trim_start_matches("Bearer ").to_string(),
            Some(_) => return Err(Refused(AuthError::Malformed.to_string())),
        };
        let identity = self.state.verifier.verify(&token).map_err(|e| {
            metrics::counter!("vytalcall_signaling_auth_refused_total").increment(1);
            Refused(e.to_string())
        })?;
        let device_id = match auth.get("deviceId") {
            Some(Value::String(d))
                if !d.is_empty()
                    && d.len() <= MAX_DEVICE_ID
                    && d.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
            {
                d.clone()
            }
            _ => s.id.to_string(),
        };
        let client_addr = s
            .req_parts()
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let caller = Caller {
            user: identity.user,
            role: identity.role,
        };
        let session = Session::new(
            caller,
            device_id,
            client_addr,
            s.id.to_string(),
            identity.expires_at,
            &self.limits,
        );
        s.extensions.insert(session);
        Ok(())
    }

    fn connected(self: Arc<Self>, s: SocketRef<A>) {
        let Some(session) = s.extensions.get::<Arc<Session>>() else {
            // The middleware always inserts it; a socket without one is not authenticated.
            let _ = s.disconnect();
            return;
        };
        metrics::gauge!("vytalcall_signaling_connected_sockets").increment(1.0);
        s.join(wire::user_room(session.caller.user));
        let consumer = session.claim_queue();
        session::register_events(&s, &session, &self.limits);
        if consumer {
            tokio::spawn(handlers::run(self.clone(), s.clone(), session.clone()));
        }
        tokio::spawn(expire_with_token(
            s.clone(),
            session.clone(),
            self.limits.leeway_seconds,
        ));
        // A connection that closed while this handler ran had no disconnect handler to call
        // yet, and Socket.IO already removed it from its rooms before the join above: undo
        // that join and handle the disconnect here, or the socket's task would wait forever.
        if !s.connected() {
            s.leave_all();
            session.on_disconnected();
        }
    }

    /// Once a second: end the grace of users who did not come back, and ask silent
    /// participants for quality stats.
    async fn sweep(self: Arc<Self>) {
        {
            let now = crate::now_millis();
            let store_answered = match self.presence.maintain(now).await {
                Ok(m) => {
                    if m.resync {
                        self.resync().await;
                    }
                    for (call, user) in m.dropped {
                        if let Err(e) = self.state.calls.devices_lost_with_node(call, user).await {
                            tracing::warn!(error = %e, call_id = %call, "could not close the devices of a dead node");
                        }
                        handlers::announce_disconnected(&self, call, user, now).await;
                    }
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "presence upkeep failed");
                    false
                }
            };
            // Only after an upkeep that reached the store (had it come back empty, that upkeep
            // published the departed devices again first, so their departures mean something)
            // and once the pub/sub link answers too, or the announcements would be lost.
            if store_answered && !self.pending_departures().is_empty() && self.redis_answers().await {
                self.retry_departures().await;
            }
            match self.presence.expire(now, self.limits.grace_ms).await {
                Ok(expired) => {
                    for expired in expired {
                        if let Err(e) = handlers::grace_expired(&self, &expired).await {
                            tracing::warn!(error = %e, call_id = %expired.call, "grace expiry failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "grace expiry sweep failed"),
            }
            self.request_silent_stats(now);
        }
    }

    fn pending_departures(&self) -> std::sync::MutexGuard<'_, Vec<presence::PendingDeparture>> {
        // Every change to the list is a single push or swap: a poisoned lock still holds a
        // consistent list.
        self.pending_departures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Both Redis connections answer (always true for a single process).
    async fn redis_answers(&self) -> bool {
        match &self.state.redis {
            None => true,
            Some(link) => link.ping().await.is_ok(),
        }
    }

    /// Hands a departure to presence: what it meant, and whether the call is now empty (only
    /// a `leave-call` can empty it; a dropped device leaves its user within the grace period).
    async fn depart(&self, d: &presence::PendingDeparture) -> presence::PresenceResult<(Departure, bool)> {
        match &d.how {
            presence::DepartureKind::Left(_) => self.presence.leave(d.call, d.user, d.device.clone()).await,
            presence::DepartureKind::Dropped(at) => self
                .presence
                .drop_device(d.call, d.user, d.device.clone(), *at)
                .await
                .map(|outcome| (outcome, false)),
        }
    }

    /// Hands a departure to presence and tells the call what it meant; if presence does not
    /// answer (Redis away), keeps it for the sweep to retry.
    async fn depart_or_retry(&self, d: presence::PendingDeparture) -> Result<(), SignalingError> {
        match self.depart(&d).await {
            Ok((outcome, empty)) => handlers::announce_departure(self, &d, outcome, empty).await,
            Err(e) => {
                tracing::warn!(error = %e, call_id = %d.call, "presence unavailable for a departure: retried");
                self.retry_later(d);
                Ok(())
            }
        }
    }

    /// Keeps a departure the presence store refused, to be retried by the sweep.
    fn retry_later(&self, departure: presence::PendingDeparture) {
        self.pending_departures().push(departure);
    }

    /// Gives presence the departures it refused while unavailable, oldest first, and tells
    /// the calls what they meant; what it still refuses waits for the next sweep.
    async fn retry_departures(&self) {
        let pending = std::mem::take(&mut *self.pending_departures());
        let mut iter = pending.into_iter();
        while let Some(d) = iter.next() {
            match self.depart(&d).await {
                Ok((outcome, empty)) => {
                    tracing::debug!(?outcome, call_id = %d.call, "a departure presence could not take earlier is taken");
                    if let Err(e) = handlers::announce_departure(self, &d, outcome, empty).await {
                        tracing::warn!(error = %e, call_id = %d.call, "could not announce a departure");
                    }
                }
                Err(_) => {
                    // Still away: keep this one and the rest, in order, for the next sweep.
                    let mut queue = self.pending_departures();
                    let newer = std::mem::take(&mut *queue);
                    queue.push(d);
                    queue.extend(iter);
                    queue.extend(newer);
                    return;
                }
            }
        }
    }

    /// The shared store lost this node's devices (or never had them): publish them again.
    async fn resync(&self) {
        let Some(ns) = self.io.of(NAMESPACE) else {
            return;
        };
        let mut devices = 0usize;
        for s in ns.sockets() {
            let Some(session) = s.extensions.get::<Arc<Session>>() else {
                continue;
            };
            let calls: Vec<_> = session.state().calls.keys().copied().collect();
            for call in calls {
                match self.presence.join(call, session.caller.user, session.sid.clone()).await {
                    Ok(_) => devices += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "presence resync failed");
                        return;
                    }
                }
            }
        }
        // Devices that went away during the outage are published too, so that their
        // departures, retried next, tell the call what happened (instead of the user
        // vanishing without a word).
        let departed: Vec<_> = self.pending_departures().clone();
        for d in departed {
            if let Err(e) = self.presence.join(d.call, d.user, d.device.clone()).await {
                tracing::warn!(error = %e, "presence resync failed");
                return;
            }
            devices += 1;
        }
        if devices > 0 {
            tracing::info!(devices, "presence published again after the store lost it");
        }
    }

    fn request_silent_stats(&self, now: i64) {
        let Some(ns) = self.io.of(NAMESPACE) else {
            return;
        };
        for s in ns.sockets() {
            let Some(session) = s.extensions.get::<Arc<Session>>() else {
                continue;
            };
            for call in session.silent_calls(now, self.limits.quality_silence_ms) {
                wire::emit(&s, &wire::RequestQualityStats { call_id: call });
            }
        }
    }

    /// Sends an error to one socket: the ack if the event asked for one, else `error`.
    fn reply_error(s: &SocketRef<A>, event: &str, ack: Option<session::Ack>, e: &SignalingError) {
        metrics::counter!("vytalcall_signaling_errors_total", "event" => event.to_string(), "code" => e.code())
            .increment(1);
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

/// Disconnects the socket when its token expires (plus the same leeway REST allows),
/// telling it why first.
async fn expire_with_token<A: Adapter>(s: SocketRef<A>, session: Arc<Session>, leeway: u64) {
    let deadline = session.expires_at.saturating_add(leeway as i64);
    // Ends as soon as the socket disconnects, so a closed socket is released at once rather
    // than held until the next wake-up (which a connect/disconnect flood would multiply).
    loop {
        let left = deadline - crate::now_millis() / 1000;
        if left <= 0 {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(left.min(15) as u64)) => {}
            _ = session.closed() => return,
        }
        if !s.connected() {
            return;
        }
    }
    if !s.connected() {
        return;
    }
    let error = wire::ErrorBody {
        code: "token-expired",
        message: "the access token has expired; reconnect with a fresh token".into(),
    };
    wire::emit(&s, &wire::ErrorEvent { event: None, error });
    wire::emit(
        &s,
        &wire::SessionExpired {
            reason: "token-expired",
        },
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = s.disconnect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_request_head_shares_nothing_with_the_read_buffer() {
        // As hyper does: the URI and header values are slices of one read buffer.
        let buffer =
            bytes::Bytes::from(b"/socket.io/?EIO=4&transport=websocket|Mozilla/5.0|dGhlIHNhbXBsZSBub25jZQ==".to_vec());
        let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
        let uri = axum::http::Uri::from_maybe_shared(buffer.slice(0..37)).expect("uri");
        let mut req = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("request");
        for (name, at) in [("user-agent", 38..49), ("sec-websocket-key", 50..74)] {
            let value = HeaderValue::from_maybe_shared(buffer.slice(at)).expect("value");
            req.headers_mut().insert(name, value);
        }
        let addr: SocketAddr = "192.0.2.7:4000".parse().expect("addr");
        req.extensions_mut().insert(ConnectInfo(addr));
        let original = axum::extract::OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        assert!(range.contains(&(req.uri().path().as_ptr() as usize)));

        let kept = compact_request(req);
        assert_eq!(kept.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert!(!range.contains(&(kept.uri().path().as_ptr() as usize)));
        assert_eq!(kept.headers().len(), 2);
        for (name, value) in kept.headers() {
            assert!(
                !range.contains(&(value.as_bytes().as_ptr() as usize)),
                "{name} is a copy"
            );
        }
        assert_eq!(kept.headers()["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            kept.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            Some(addr)
        );
        assert!(kept.extensions().get::<axum::extract::OriginalUri>().is_none());
    }
}
