//! The generator's own Socket.IO v4 client over WebSocket (and a minimal HTTP/1.1 POST):
//! handshake with a real token, a writer and a reader task per socket, acknowledgements,
//! and the relay statistics the reader keeps.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub(crate) type AckMap = Mutex<HashMap<u64, oneshot::Sender<String>>>;

pub(crate) static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Relays whose send stamp falls in [WINDOW_START, WINDOW_END) are counted and timed.
pub(crate) static WINDOW_START: AtomicU64 = AtomicU64::new(u64::MAX);
pub(crate) static WINDOW_END: AtomicU64 = AtomicU64::new(u64::MAX);

pub(crate) fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) latencies_ns: Mutex<Vec<u64>>,
    pub(crate) delivered: AtomicU64,
    pub(crate) relays_seen: AtomicU64,
    pub(crate) error_events: AtomicU64,
    /// The first `error` event's body (codes only; bodies carry no SDP), to say what failed.
    pub(crate) first_error_event: Mutex<Option<String>>,
    /// Readers that have ended: each hands its latency samples over as it ends.
    pub(crate) readers_done: AtomicU64,
}

pub(crate) struct Conn {
    pub(crate) user: Uuid,
    pub(crate) tx: mpsc::UnboundedSender<Message>,
    pub(crate) acks: Arc<AckMap>,
    pub(crate) next_ack: AtomicU64,
    pub(crate) alive: Arc<AtomicBool>,
}

impl Conn {
    pub(crate) fn send_raw(&self, text: String) {
        let _ = self.tx.send(Message::text(text));
    }

    pub(crate) async fn call(&self, event: &str, body: &Value) -> Result<Value, String> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().map_err(|_| "ack lock")?.insert(id, tx);
        self.send_raw(format!("42/webrtc,{id}{}", json!([event, body])));
        let text = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| format!("{event}: ack timed out"))?
            .map_err(|_| format!("{event}: connection closed"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{event}: bad ack {e}"))?;
        let reply = v.get(0).cloned().unwrap_or(Value::Null);
        if reply.get("ok") == Some(&Value::Bool(true)) {
            Ok(reply)
        } else {
            Err(format!("{event}: {reply}"))
        }
    }
}

pub(crate) fn token(secret: &str, user: Uuid, role: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 3600;
    let claims = json!({ "sub": user.to_string(), "role": role, "exp": exp, "name": "bench" });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

pub(crate) async fn next_text(stream: &mut SplitStream<Ws>) -> Result<String, String> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err("closed during handshake".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

pub(crate) async fn connect(
    addr: &str,
    token: &str,
    user: Uuid,
    stats: Arc<Stats>,
    credit: Option<Arc<Semaphore>>,
) -> Result<Arc<Conn>, String> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let fut = async {
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = ws.split();
        let open = next_text(&mut stream).await?;
        if !open.starts_with('0') {
            return Err(format!("unexpected open packet {open:.40}"));
        }
        sink.send(Message::text(format!("40/webrtc,{}", json!({ "token": token }))))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let m = next_text(&mut stream).await?;
            if m.starts_with("40/webrtc,") {
                break;
            }
            if m.starts_with("44/webrtc") {
                return Err(format!("refused: {m:.120}"));
            }
            if m == "2" {
                sink.send(Message::text("3")).await.map_err(|e| e.to_string())?;
            }
        }
        Ok::<_, String>((sink, stream))
    };
    let (sink, stream) = tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .map_err(|_| "handshake timed out".to_string())??;
    let (tx, rx) = mpsc::unbounded_channel();
    let acks: Arc<AckMap> = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    tokio::spawn(writer(rx, sink));
    tokio::spawn(reader(
        stream,
        tx.downgrade(),
        acks.clone(),
        alive.clone(),
        stats,
        credit,
    ));
    Ok(Arc::new(Conn {
        user,
        tx,
        acks,
        next_ack: AtomicU64::new(0),
        alive,
    }))
}

pub(crate) async fn writer(mut rx: mpsc::UnboundedReceiver<Message>, mut sink: SplitSink<Ws, Message>) {
    while let Some(m) = rx.recv().await {
        if sink.feed(m).await.is_err() {
            return;
        }
        while let Ok(m) = rx.try_recv() {
            if sink.feed(m).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

pub(crate) fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// The send stamp a relayed body carries: the ICE candidate's foundation, or the SDP's
/// session id (`o=- <stamp> …`).
pub(crate) fn stamp_of(event: &str, body: &str) -> Option<u64> {
    let marker = match event {
        "ice-candidate" => "\"candidate\":\"candidate:",
        "offer" | "answer" => "o=- ",
        _ => return None,
    };
    let at = body.find(marker)? + marker.len();
    leading_number(&body[at..])
}

pub(crate) async fn reader(
    mut stream: SplitStream<Ws>,
    tx: mpsc::WeakUnboundedSender<Message>,
    acks: Arc<AckMap>,
    alive: Arc<AtomicBool>,
    stats: Arc<Stats>,
    credit: Option<Arc<Semaphore>>,
) {
    let mut local: Vec<u64> = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        let s = t.as_str();
        if s == "2" {
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(Message::text("3"));
            }
        } else if let Some(rest) = s.strip_prefix("42/webrtc,") {
            let Some(name_end) = rest.get(2..).and_then(|r| r.find('"')) else {
                continue;
            };
            let event = &rest[2..2 + name_end];
            if event == "error" {
                stats.error_events.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = stats.first_error_event.lock() {
                    first.get_or_insert_with(|| rest.chars().take(200).collect());
                }
                continue;
            }
            if let Some(stamp) = stamp_of(event, rest) {
                let now = now_ns();
                stats.relays_seen.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = &credit {
                    c.add_permits(1);
                }
                if stamp >= WINDOW_START.load(Ordering::Relaxed) && stamp < WINDOW_END.load(Ordering::Relaxed) {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    local.push(now.saturating_sub(stamp));
                    if local.len() >= 4096
                        && let Ok(mut l) = stats.latencies_ns.lock()
                    {
                        l.append(&mut local);
                    }
                }
            }
        } else if let Some(rest) = s.strip_prefix("43/webrtc,") {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if let Ok(id) = rest[..end].parse::<u64>() {
                let waiter = acks.lock().ok().and_then(|mut m| m.remove(&id));
                if let Some(w) = waiter {
                    let _ = w.send(rest[end..].to_owned());
                }
            }
        } else if s.starts_with("41/webrtc") || s == "1" {
            break;
        }
    }
    if let Ok(mut l) = stats.latencies_ns.lock() {
        l.append(&mut local);
    }
    stats.readers_done.fetch_add(1, Ordering::Relaxed);
    alive.store(false, Ordering::Relaxed);
    if let Ok(mut m) = acks.lock() {
        m.clear();
    }
}

pub(crate) async fn http_post(addr: &str, path: &str, token: &str, body: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
