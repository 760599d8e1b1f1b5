//! Load generator for vytalcall's signaling and the Node reference server (`bench/run`).
//!
//! It speaks Engine.IO v4 / Socket.IO v4 over WebSocket itself: `GET
//! /socket.io/?EIO=4&transport=websocket`, the namespace connect `40/webrtc,{"token":…}`,
//! events `42/webrtc,[…]`, acknowledgements `43/webrtc,<id>[…]`, and pongs to the server's
//! pings. Every socket authenticates through the real handshake with its own HS256 token.
//!
//! Two runs, each printing one JSON line on stdout (progress goes to stderr):
//! - `idle`: N authenticated sockets held open; server RSS before and after, set-up rate.
//! - `calls`: N/2 call pairs do a real call's signaling (join, offer/answer with ~5 KB SDP,
//!   a burst of ICE candidates, media update, quality report), then relay ICE candidates to
//!   each other for a fixed time, either saturating (a bounded window of relays in flight per
//!   socket: peak throughput) or open-loop at a fixed total rate (latency is measured from
//!   the *scheduled* send time, so queueing in the generator or the server is not hidden),
//!   then leave.

use clap::{Parser, Subcommand, ValueEnum};
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

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type AckMap = Mutex<HashMap<u64, oneshot::Sender<String>>>;

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Relays whose send stamp falls in [WINDOW_START, WINDOW_END) are counted and timed.
static WINDOW_START: AtomicU64 = AtomicU64::new(u64::MAX);
static WINDOW_END: AtomicU64 = AtomicU64::new(u64::MAX);

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Parser)]
#[command(about = "Socket.IO v4 signaling load generator")]
struct Cli {
    /// host:port of the server under test (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    secret: String,
    #[arg(long, value_enum)]
    server: Kind,
    /// The server's process id, for RSS and CPU from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Connection handshakes (and REST calls) in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// vytalcall: calls are created over REST first.
    Vytalcall,
    /// The Node reference server: any call id may be joined.
    Node,
}

#[derive(Subcommand)]
enum Cmd {
    /// Hold N idle authenticated sockets; report memory per socket and set-up rate.
    Idle {
        #[arg(long)]
        conns: usize,
        #[arg(long, default_value_t = 30)]
        hold_secs: u64,
    },
    /// Drive N/2 call pairs through a call and a relay phase.
    Calls {
        #[arg(long)]
        pairs: usize,
        /// Length of the measured relay window.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Relay before the window opens (not measured).
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        /// Total offered relays per second (open-loop); 0 saturates instead.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Relays in flight per socket when saturating.
        #[arg(long, default_value_t = 8)]
        window: usize,
        /// ICE candidates each side sends in the call's initial burst.
        #[arg(long, default_value_t = 10)]
        ice_burst: usize,
    },
}

#[derive(Default)]
struct Stats {
    latencies_ns: Mutex<Vec<u64>>,
    delivered: AtomicU64,
    relays_seen: AtomicU64,
    error_events: AtomicU64,
    /// The first `error` event's body (codes only; bodies carry no SDP), to say what failed.
    first_error_event: Mutex<Option<String>>,
    /// Readers that have ended: each hands its latency samples over as it ends.
    readers_done: AtomicU64,
}

struct Conn {
    user: Uuid,
    tx: mpsc::UnboundedSender<Message>,
    acks: Arc<AckMap>,
    next_ack: AtomicU64,
    alive: Arc<AtomicBool>,
}

impl Conn {
    fn send_raw(&self, text: String) {
        let _ = self.tx.send(Message::text(text));
    }

    async fn call(&self, event: &str, body: &Value) -> Result<Value, String> {
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

fn token(secret: &str, user: Uuid, role: &str) -> String {
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

async fn next_text(stream: &mut SplitStream<Ws>) -> Result<String, String> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err("closed during handshake".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

async fn connect(
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

async fn writer(mut rx: mpsc::UnboundedReceiver<Message>, mut sink: SplitSink<Ws, Message>) {
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

fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// The send stamp a relayed body carries: the ICE candidate's foundation, or the SDP's
/// session id (`o=- <stamp> …`).
fn stamp_of(event: &str, body: &str) -> Option<u64> {
    let marker = match event {
        "ice-candidate" => "\"candidate\":\"candidate:",
        "offer" | "answer" => "o=- ",
        _ => return None,
    };
    let at = body.find(marker)? + marker.len();
    leading_number(&body[at..])
}

async fn reader(
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

fn proc_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

struct CpuMark {
    at: Instant,
    server: u64,
    me: u64,
}

fn cpu_mark(pid: u32) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        server: proc_cpu_ticks(&pid.to_string()),
        me: proc_cpu_ticks("self"),
    }
}

/// CPU used since `m`, in percent of one core: (server, generator).
fn cpu_since(m: &CpuMark, pid: u32) -> (f64, f64) {
    let wall = m.at.elapsed().as_secs_f64().max(1e-9);
    let s = proc_cpu_ticks(&pid.to_string()).saturating_sub(m.server) as f64 / 100.0;
    let g = proc_cpu_ticks("self").saturating_sub(m.me) as f64 / 100.0;
    (100.0 * s / wall, 100.0 * g / wall)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn http_post(addr: &str, path: &str, token: &str, body: &str) -> Result<(u16, String), String> {
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

/// A WebRTC offer/answer of about 5 KB (Chrome-like: audio + video, many codecs), whose
/// session id carries the send stamp.
fn sdp(kind: &str, stamp: u64) -> String {
    let mut s = format!(
        "v=0\r\no=- {stamp} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n"
    );
    let setup = if kind == "offer" { "actpass" } else { "active" };
    for (mid, media, pts) in [("0", "audio", 111..=126), ("1", "video", 96..=127)] {
        let list: Vec<String> = pts.clone().map(|p| p.to_string()).collect();
        s.push_str(&format!(
            "m={media} 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xy9z\r\na=ice-pwd:7rJ2m4YbW1qLkV0sTnE8hQ3p\r\na=ice-options:trickle\r\na=fingerprint:sha-256 4F:2A:91:0C:7D:55:E3:18:6B:A0:9F:21:C4:3E:77:D8:12:5B:AE:60:F9:0D:34:8C:B1:E6:29:7F:4A:93:C5:0E\r\na=setup:{setup}\r\na=mid:{mid}\r\na=sendrecv\r\na=msid:stream track{mid}\r\na=rtcp-mux\r\n",
            list.join(" ")
        ));
        for p in pts {
            if media == "audio" {
                s.push_str(&format!(
                    "a=rtpmap:{p} opus/48000/2\r\na=fmtp:{p} minptime=10;useinbandfec=1\r\n"
                ));
            } else {
                s.push_str(&format!(
                    "a=rtpmap:{p} VP8/90000\r\na=rtcp-fb:{p} goog-remb\r\na=rtcp-fb:{p} transport-cc\r\na=rtcp-fb:{p} nack pli\r\n"
                ));
            }
        }
        s.push_str(&format!(
            "a=ssrc:{} cname:bench{mid}\r\n",
            1_000_000 + stamp % 1_000_000
        ));
    }
    s
}

fn candidate_event(call: &str, target: &Uuid, stamp: u64, port: u32) -> String {
    format!(
        "42/webrtc,[\"ice-candidate\",{{\"callId\":\"{call}\",\"targetUserId\":\"{target}\",\"candidate\":{{\"candidate\":\"candidate:{stamp} 1 udp 2122260223 192.168.1.23 {port} typ host generation 0 ufrag Xy9z network-id 1\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"Xy9z\"}}}}]"
    )
}

struct Pair {
    call: String,
    provider: Arc<Conn>,
    patient: Arc<Conn>,
    provider_credit: Arc<Semaphore>,
    patient_credit: Arc<Semaphore>,
}

async fn call_script(p: &Pair, ice_burst: usize) -> Result<(), String> {
    let call = p.call.as_str();
    p.provider.call("join-call", &json!({ "callId": call })).await?;
    p.patient.call("join-call", &json!({ "callId": call })).await?;
    let offer = json!({ "callId": call, "targetUserId": p.patient.user, "offer": { "type": "offer", "sdp": sdp("offer", now_ns()) } });
    p.provider.call("offer", &offer).await?;
    let answer = json!({ "callId": call, "targetUserId": p.provider.user, "answer": { "type": "answer", "sdp": sdp("answer", now_ns()) } });
    p.patient.call("answer", &answer).await?;
    for i in 0..ice_burst {
        p.provider
            .send_raw(candidate_event(call, &p.patient.user, now_ns(), 50000 + i as u32));
        p.patient
            .send_raw(candidate_event(call, &p.provider.user, now_ns(), 51000 + i as u32));
    }
    p.provider
        .call(
            "update-media",
            &json!({ "callId": call, "videoEnabled": true, "audioEnabled": true }),
        )
        .await?;
    p.patient
        .call("update-media", &json!({ "callId": call, "videoEnabled": false }))
        .await?;
    let metrics =
        json!({ "bandwidth": 1800, "latency": 42, "packetLoss": 0.4, "jitter": 6, "videoResolution": "1280x720" });
    p.provider
        .call("connection-quality", &json!({ "callId": call, "metrics": metrics }))
        .await?;
    p.patient
        .call("connection-quality", &json!({ "callId": call, "metrics": metrics }))
        .await?;
    Ok(())
}

async fn run_idle(cli: &Cli, conns: usize, hold_secs: u64) -> Value {
    let pid = cli.server_pid;
    let rss0 = proc_rss_kb(pid);
    let stats = Arc::new(Stats::default());
    let tokens: Vec<(Uuid, String)> = (0..conns)
        .map(|_| {
            let u = Uuid::new_v4();
            (u, token(&cli.secret, u, "patient"))
        })
        .collect();
    let sem = Arc::new(Semaphore::new(cli.concurrency));
    let mark = cpu_mark(pid);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (u, t) in tokens {
        let sem = sem.clone();
        let addr = cli.addr.clone();
        let stats = stats.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            connect(&addr, &t, u, stats, None).await
        });
    }
    let mut held = Vec::with_capacity(conns);
    let mut failed = 0usize;
    let mut first_error = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(c)) => held.push(c),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let setup_secs = t0.elapsed().as_secs_f64();
    let (srv_cpu_setup, gen_cpu_setup) = cpu_since(&mark, pid);
    eprintln!(
        "idle: {} connected, {failed} failed in {setup_secs:.2}s; holding {hold_secs}s",
        held.len()
    );
    tokio::time::sleep(Duration::from_secs(hold_secs)).await;
    let alive = held.iter().filter(|c| c.alive.load(Ordering::Relaxed)).count();
    let rss1 = proc_rss_kb(pid);
    let per_conn = if held.is_empty() {
        0.0
    } else {
        (rss1.saturating_sub(rss0) as f64 * 1024.0) / held.len() as f64
    };
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    json!({
        "run": "idle", "conns": conns, "connected": alive, "failed": failed,
        "first_error": first_error, "setup_secs": setup_secs,
        "setup_rate": (conns - failed) as f64 / setup_secs,
        "rss_before_kb": rss0, "rss_after_kb": rss1, "bytes_per_conn": per_conn,
        "hold_secs": hold_secs, "server_cpu_setup_pct": srv_cpu_setup, "gen_cpu_setup_pct": gen_cpu_setup,
    })
}

async fn create_call(cli: &Cli, provider: Uuid, patient: Uuid) -> Result<String, String> {
    match cli.server {
        Kind::Node => Ok(Uuid::new_v4().to_string()),
        Kind::Vytalcall => {
            let t = token(&cli.secret, provider, "provider");
            let body = json!({ "patientId": patient, "type": "video" }).to_string();
            let (status, body) = http_post(&cli.addr, "/webrtc/calls", &t, &body).await?;
            if status != 201 && status != 200 {
                return Err(format!("POST /webrtc/calls: {status} {body:.200}"));
            }
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            v.get("id")
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| "no call id".to_string())
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_calls(
    cli: &Cli,
    pairs: usize,
    secs: u64,
    warmup_secs: u64,
    rate: f64,
    window: usize,
    ice_burst: usize,
) -> Value {
    let pid = cli.server_pid;
    let stats = Arc::new(Stats::default());
    let sem = Arc::new(Semaphore::new(cli.concurrency));
    let cli_ref: &'static Cli = Box::leak(Box::new(Cli {
        addr: cli.addr.clone(),
        secret: cli.secret.clone(),
        server: cli.server,
        server_pid: cli.server_pid,
        concurrency: cli.concurrency,
        cmd: Cmd::Idle { conns: 0, hold_secs: 0 },
    }));

    // 1. Calls (REST for vytalcall) and 2. sockets through the real handshake.
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..pairs {
        let sem = sem.clone();
        let stats = stats.clone();
        set.spawn(async move {
            let (prov, pat) = (Uuid::new_v4(), Uuid::new_v4());
            let call = {
                let _p = sem.acquire().await;
                create_call(cli_ref, prov, pat).await?
            };
            let provider_credit = Arc::new(Semaphore::new(0));
            let patient_credit = Arc::new(Semaphore::new(0));
            let _p = sem.acquire().await;
            let pt = token(&cli_ref.secret, prov, "provider");
            let provider = connect(&cli_ref.addr, &pt, prov, stats.clone(), Some(patient_credit.clone())).await?;
            let qt = token(&cli_ref.secret, pat, "patient");
            let patient = connect(&cli_ref.addr, &qt, pat, stats.clone(), Some(provider_credit.clone())).await?;
            Ok::<_, String>(Pair {
                call,
                provider,
                patient,
                provider_credit,
                patient_credit,
            })
        });
    }
    let mut ps = Vec::with_capacity(pairs);
    let mut failures: Vec<String> = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(p)) => ps.push(Arc::new(p)),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let setup_secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "calls: {} pairs connected in {setup_secs:.2}s ({} failed)",
        ps.len(),
        failures.len()
    );

    // 3. The call's signaling, all pairs at once.
    let t1 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for p in &ps {
        let p = p.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire().await;
            let t = Instant::now();
            call_script(&p, ice_burst).await.map(|_| t.elapsed().as_nanos() as u64)
        });
    }
    let mut script_ns = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(ns)) => script_ns.push(ns),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    script_ns.sort_unstable();
    let script_secs = t1.elapsed().as_secs_f64();
    eprintln!("calls: signaling script done in {script_secs:.2}s");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 4. Relay phase: every socket sends ICE candidates to its peer.
    let senders = ps.len() * 2;
    let start = now_ns() + 200_000_000;
    let win_start = start + warmup_secs * 1_000_000_000;
    let win_end = win_start + secs * 1_000_000_000;
    WINDOW_START.store(win_start, Ordering::Relaxed);
    WINDOW_END.store(win_end, Ordering::Relaxed);
    let period_ns = if rate > 0.0 {
        (senders as f64 / rate * 1e9) as u64
    } else {
        0
    };
    let mut tasks = Vec::with_capacity(senders);
    for (i, p) in ps.iter().enumerate() {
        for side in 0..2 {
            let p = p.clone();
            let idx = (i * 2 + side) as u64;
            tasks.push(tokio::spawn(async move {
                let (me, peer, credit) = if side == 0 {
                    (&p.provider, &p.patient, &p.provider_credit)
                } else {
                    (&p.patient, &p.provider, &p.patient_credit)
                };
                let base = *EPOCH.get_or_init(Instant::now);
                let mut sent = 0u64;
                if period_ns == 0 {
                    // Relays of the call script returned credit too: start from exactly `window`.
                    credit.forget_permits(credit.available_permits());
                    credit.add_permits(window);
                    tokio::time::sleep_until((base + Duration::from_nanos(start)).into()).await;
                    while now_ns() < win_end {
                        let Ok(Ok(permit)) = tokio::time::timeout(Duration::from_millis(200), credit.acquire()).await
                        else {
                            continue;
                        };
                        permit.forget();
                        me.send_raw(candidate_event(
                            &p.call,
                            &peer.user,
                            now_ns(),
                            40000 + (sent % 20000) as u32,
                        ));
                        sent += 1;
                    }
                } else {
                    // Open loop: the k-th relay is due at a fixed time and stamped with it.
                    let offset = (idx * period_ns) / senders as u64;
                    let mut due = start + offset;
                    while due < win_end {
                        tokio::time::sleep_until((base + Duration::from_nanos(due)).into()).await;
                        me.send_raw(candidate_event(&p.call, &peer.user, due, 40000 + (sent % 20000) as u32));
                        sent += 1;
                        due += period_ns;
                    }
                }
                sent
            }));
        }
    }
    tokio::time::sleep_until((*EPOCH.get_or_init(Instant::now) + Duration::from_nanos(win_start)).into()).await;
    let mark = cpu_mark(pid);
    let rss_mid0 = proc_rss_kb(pid);
    tokio::time::sleep_until((*EPOCH.get_or_init(Instant::now) + Duration::from_nanos(win_end)).into()).await;
    let (srv_cpu, gen_cpu) = cpu_since(&mark, pid);
    let rss_load = proc_rss_kb(pid);
    let mut sent_total = 0u64;
    for t in tasks {
        sent_total += t.await.unwrap_or(0);
    }
    // Let relays in flight arrive (they are still timed; late ones count as late).
    let drain_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < drain_until
        && stats.relays_seen.load(Ordering::Relaxed) < sent_total + (2 * ice_burst * ps.len()) as u64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = stats.delivered.load(Ordering::Relaxed);

    // 5. Leave.
    let mut set = tokio::task::JoinSet::new();
    for p in &ps {
        let p = p.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire().await;
            let body = json!({ "callId": p.call, "reason": "visit complete" });
            p.provider.call("leave-call", &body).await?;
            p.patient.call("leave-call", &body).await?;
            Ok::<_, String>(())
        });
    }
    let mut leave_failed = 0usize;
    while let Some(r) = set.join_next().await {
        if !matches!(r, Ok(Ok(()))) {
            leave_failed += 1;
        }
    }
    // Close every socket: each reader hands over the samples it still holds as it ends.
    let sockets = (ps.len() * 2) as u64;
    drop(ps);
    let close_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < close_until && stats.readers_done.load(Ordering::Relaxed) < sockets {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lat = std::mem::take(&mut *stats.latencies_ns.lock().unwrap_or_else(|e| e.into_inner()));
    lat.sort_unstable();
    failures.truncate(3);
    json!({
        "run": "calls", "pairs": pairs, "mode": if rate > 0.0 { "open-loop" } else { "saturate" },
        "offered_rate": rate, "window": window, "secs": secs,
        "connect_secs": setup_secs, "connect_rate": (2 * pairs) as f64 / setup_secs,
        "script_secs": script_secs,
        "script_p50_ms": percentile(&script_ns, 50.0) / 1000.0, "script_p99_ms": percentile(&script_ns, 99.0) / 1000.0,
        "sent": sent_total, "delivered_in_window": delivered,
        "throughput": delivered as f64 / secs as f64,
        "p50_us": percentile(&lat, 50.0), "p99_us": percentile(&lat, 99.0),
        "p999_us": percentile(&lat, 99.9), "max_us": percentile(&lat, 100.0),
        "error_events": stats.error_events.load(Ordering::Relaxed),
        "first_error_event": stats.first_error_event.lock().ok().and_then(|f| f.clone()),
        "failures": failures, "leave_failed": leave_failed,
        "server_cpu_pct": srv_cpu, "gen_cpu_pct": gen_cpu,
        "server_rss_load_kb": rss_load.max(rss_mid0),
    })
}

#[tokio::main]
async fn main() {
    let _ = now_ns();
    let cli = Cli::parse();
    let out = match &cli.cmd {
        Cmd::Idle { conns, hold_secs } => run_idle(&cli, *conns, *hold_secs).await,
        Cmd::Calls {
            pairs,
            secs,
            warmup_secs,
            rate,
            window,
            ice_burst,
        } => run_calls(&cli, *pairs, *secs, *warmup_secs, *rate, *window, *ice_burst).await,
    };
    println!("{out}");
}
