//! The handshake and the life of a connection: the address's rate limit and socket cap, the
//! token check (the same rules as REST), the user's socket cap, the session it creates, the
//! socket's own task, and the disconnect when the token expires.

use super::session::{self, Session};
use super::{Hub, NAMESPACE, handlers, wire};
use crate::auth::{AuthError, Identity};
use axum::extract::ConnectInfo;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vytalcall_domain::UserId;
use vytalcall_domain::access::Caller;
use vytalcall_domain::connections::{Caps, Connections, TooMany};

/// Why a handshake was refused; the client's `connect_error` message, which starts with a
/// code (`unauthorized`, `rate-limited`, `too-many-connections`, `unavailable`) so a client
/// can tell a bad token (do not retry) from a limit (retry later).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refused {
    code: &'static str,
    message: String,
}

impl Refused {
    fn unauthorized(message: impl Into<String>) -> Refused {
        metrics::counter!("vytalcall_signaling_handshakes_refused_total", "reason" => "unauthorized").increment(1);
        Refused {
            code: "unauthorized",
            message: message.into(),
        }
    }

    fn limited(code: &'static str, message: String) -> Refused {
        metrics::counter!("vytalcall_signaling_handshakes_refused_total", "reason" => code).increment(1);
        Refused { code, message }
    }

    pub(super) fn unavailable(message: &str) -> Refused {
        Refused {
            code: "unavailable",
            message: message.into(),
        }
    }
}

impl From<TooMany> for Refused {
    fn from(e: TooMany) -> Refused {
        Refused::limited("too-many-connections", format!("{e}; close another first"))
    }
}

/// This node's open sockets by user and address ([`Connections`] behind a lock, shared with
/// every [`ConnectionSlot`]).
#[derive(Clone)]
pub(super) struct ConnectionTable(Arc<Mutex<Connections<IpAddr>>>);

impl ConnectionTable {
    pub(super) fn new(caps: Caps) -> ConnectionTable {
        ConnectionTable(Arc::new(Mutex::new(Connections::new(caps))))
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Connections<IpAddr>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn address_full(&self, address: Option<IpAddr>) -> Result<(), TooMany> {
        self.table().address_full(address.as_ref())
    }

    fn admit(&self, user: UserId, address: Option<IpAddr>) -> Result<ConnectionSlot, TooMany> {
        self.table().admit(user, address.as_ref())?;
        Ok(ConnectionSlot {
            table: self.clone(),
            user,
            address,
        })
    }
}

/// One admitted socket's place in the [`ConnectionTable`], given back when it is dropped:
/// by the session when the socket disconnects, or with the socket if it never connected.
pub struct ConnectionSlot {
    table: ConnectionTable,
    user: UserId,
    address: Option<IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.table.table().release(self.user, self.address.as_ref());
    }
}

const MAX_DEVICE_ID: usize = 128;

impl<A: Adapter> Hub<A> {
    /// The handshake: the address's rate limit and cap first, then `auth: { token,
    /// deviceId? }` checked by the same rules as REST, then the user's cap. Nothing is
    /// decoded or verified for an address that is over its limit.
    pub(super) fn authenticate(&self, s: &SocketRef<A>, auth: Option<Value>) -> Result<(), Refused> {
        let address = s
            .req_parts()
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = address
            && let Err(limited) = self.state.limits.check_address(ip)
        {
            return Err(Refused::limited(
                "rate-limited",
                format!(
                    "too many requests from this address; retry in {} s",
                    limited.retry_after_secs.max(1)
                ),
            ));
        }
        self.connections.address_full(address)?;
        let auth = auth.unwrap_or(Value::Null);
        let token = match auth.get("token") {
            None | Some(Value::Null) => return Err(Refused::unauthorized(AuthError::Missing.to_string())),
            Some(Value::String(t)) if t.is_empty() => {
                return Err(Refused::unauthorized(AuthError::Missing.to_string()));
            }
            Some(Value::String(t)) => t.trim_start_matches("Bearer ").to_string(),
            Some(_) => return Err(Refused::unauthorized(AuthError::Malformed.to_string())),
        };
        let identity = self.state.verifier.verify(&token).map_err(|e| {
            metrics::counter!("vytalcall_signaling_auth_refused_total").increment(1);
            Refused::unauthorized(e.to_string())
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
        let slot = self.connections.admit(identity.user, address)?;
        let client_addr = address.map(|ip| ip.to_string());
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
            Some(slot),
        );
        s.extensions.insert(session);
        // Recorded (`people`) once connected, before the socket's first event is handled.
        s.extensions.insert(identity);
        Ok(())
    }

    pub(super) fn connected(self: Arc<Self>, s: SocketRef<A>) {
        let Some(session) = s.extensions.get::<Arc<Session>>() else {
            // The middleware always inserts it; a socket without one is not authenticated.
            let _ = s.disconnect();
            return;
        };
        metrics::gauge!("vytalcall_signaling_connected_sockets").increment(1.0);
        s.join(wire::user_room(session.caller.user));
        let consumer = session.claim_queue();
        session::register_events(&s, &session, &self.limits);
        // The person's name and role are recorded before the socket's first event is handled
        // (its events wait in the session's queue meanwhile), so a `join-call` right after
        // connecting already finds this device's person named.
        let identity = s.extensions.get::<Identity>();
        let (hub, socket, queue) = (self.clone(), s.clone(), session.clone());
        tokio::spawn(async move {
            if let Some(identity) = identity {
                hub.state.people.seen(&identity).await;
            }
            if queue.caller.role == vytalcall_domain::Role::Provider {
                super::door::provider_connected(&hub, &socket, queue.caller.user).await;
            }
            if consumer {
                handlers::run(hub, socket, queue).await;
            }
        });
        tokio::spawn(expire_with_token(
            s.clone(),
            session.clone(),
            self.limits.leeway_seconds,
        ));
        // A connection that closed while this handler ran had no disconnect handler to call
        // yet, and Socket.IO already removed it from its rooms before the join above: undo
        // that join and handle the disconnect here, or the socket's task would wait forever.
        // One that closed just before this handler was called may even read as connected
        // (socketioxide marks a socket connected after it may have been closed and removed
        // from its namespace), so being gone from the namespace counts as closed too.
        let still_listed = self.io.of(NAMESPACE).is_some_and(|ns| ns.get_socket(s.id).is_some());
        if !s.connected() || !still_listed {
            s.leave_all();
            session.on_disconnected();
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
