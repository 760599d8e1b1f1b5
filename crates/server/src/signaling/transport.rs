//! The Socket.IO transport: the server's settings (payload limits, buffers, time-outs) and
//! the `/socket.io/` route with its CORS and the trimmed request head every connection keeps.

use crate::config::Settings;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue};
use socketioxide::adapter::Adapter;
use socketioxide::{SocketIo, SocketIoBuilder, TransportType};
use std::net::SocketAddr;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The Socket.IO server's settings. The transport limit is far above the event limit: an
/// oversized event is refused with an error while its connection stays up.
pub fn builder(settings: &Settings) -> SocketIoBuilder {
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

/// The `/socket.io/` route, with CORS for the configured frontends.
pub fn routes<A: Adapter>(layer: socketioxide::layer::SocketIoLayer<A>, origins: &[String]) -> Router {
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
