//! The recording peer: the server's own WebRTC endpoint in a recorded call.
//!
//! It follows str0m's sans-IO loop: one task per recorded call owns a UDP socket and one
//! `Rtc` per participant connection; it waits for a datagram, a command or the earliest
//! timeout, feeds it in, and drains every output (datagrams to send, events). Frames go to a
//! [`MediaSink`]; the peer never touches storage itself.
//!
//! The peer is ICE-lite with one host candidate (`RECORDING_RTC_PUBLIC_IP` and the socket's
//! port), receive-only, Opus and VP8. Each participant negotiates with it by sending an SDP
//! offer (see `POST .../recordings/{id}/offer`); the answer carries the candidate, so no
//! trickle is needed. Only participants the service admitted (consent on record) get an
//! `Rtc`; their audio and video land on the tracks declared for them when the recording
//! started. Video is written from a key frame on: the peer asks for one (PLI) when a video
//! stream appears, when packets were lost, and every few seconds until one arrives.

use super::RecordingError;
use super::sink::MediaSink;
use super::webm::Frame;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use vytalcall_domain::UserId;

/// Offers larger than this are refused before parsing.
pub const MAX_SDP: usize = 64 * 1024;
/// At most this many participant connections per recorded call.
const MAX_CONNECTIONS: usize = 16;
const KEYFRAME_RETRY: Duration = Duration::from_secs(2);
/// Browsers send a keyframe only when asked; without regular ones a player seeking in the
/// recording (or decoding one participant's video from the middle) finds nothing to start
/// from. So each video stream is asked for a keyframe when its last is this old.
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(4);

pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone()
}

/// The Matroska track numbers of one participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParticipantTracks {
    pub audio: u8,
    pub video: u8,
}

enum Command {
    Offer {
        user: UserId,
        tracks: ParticipantTracks,
        sdp: String,
        reply: oneshot::Sender<Result<String, RecordingError>>,
    },
    Drop {
        user: UserId,
    },
    Stop,
}

/// Talks to a running peer task.
#[derive(Clone)]
pub struct PeerHandle {
    tx: mpsc::Sender<Command>,
}

impl PeerHandle {
    /// Negotiates a participant's connection: their SDP offer in, the peer's answer out.
    pub async fn offer(&self, user: UserId, tracks: ParticipantTracks, sdp: String) -> Result<String, RecordingError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Offer {
                user,
                tracks,
                sdp,
                reply,
            })
            .await
            .map_err(|_| RecordingError::NotRunning)?;
        answer.await.map_err(|_| RecordingError::NotRunning)?
    }

    /// Stops recording a participant (consent withdrawn, or they left).
    pub async fn drop_participant(&self, user: UserId) {
        let _ = self.tx.send(Command::Drop { user }).await;
    }
}

struct Stream {
    track: u8,
    video: bool,
    first: Option<(u64, u64)>,
    waiting_for_key: bool,
    last_request: Option<Instant>,
    last_keyframe: Option<Instant>,
}

struct Conn {
    user: UserId,
    rtc: Rtc,
    tracks: ParticipantTracks,
    streams: HashMap<Mid, Stream>,
}

/// A recording peer task: bind the socket, then run until stopped. Returns the sink.
pub struct Peer<S: MediaSink + 'static> {
    handle: PeerHandle,
    task: tokio::task::JoinHandle<S>,
    stop: mpsc::Sender<Command>,
    pub local_addr: SocketAddr,
}

impl<S: MediaSink + 'static> Peer<S> {
    pub async fn start(bind: IpAddr, public_ip: Option<IpAddr>, sink: S) -> Result<Peer<S>, RecordingError> {
        let socket = UdpSocket::bind(SocketAddr::new(bind, 0))
            .await
            .map_err(|e| RecordingError::Peer(e.to_string()))?;
        let local_addr = socket.local_addr().map_err(|e| RecordingError::Peer(e.to_string()))?;
        let announced = SocketAddr::new(public_ip.unwrap_or_else(|| announced_ip(bind)), local_addr.port());
        let (tx, rx) = mpsc::channel(32);
        let task = tokio::spawn(run(socket, announced, rx, sink));
        Ok(Peer {
            handle: PeerHandle { tx: tx.clone() },
            task,
            stop: tx,
            local_addr: announced,
        })
    }

    pub fn handle(&self) -> PeerHandle {
        self.handle.clone()
    }

    /// Disconnects every participant and hands back the sink.
    pub async fn stop(self) -> Result<S, RecordingError> {
        let _ = self.stop.send(Command::Stop).await;
        self.task.await.map_err(|e| RecordingError::Peer(e.to_string()))
    }
}

/// The address to announce when binding to all interfaces: the one that routes outwards.
fn announced_ip(bind: IpAddr) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip())
}

fn accept(sdp: &str, announced: SocketAddr) -> Result<(Rtc, String), RecordingError> {
    if sdp.len() > MAX_SDP {
        return Err(RecordingError::BadOffer("the offer is too large".into()));
    }
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|_| RecordingError::BadOffer("not a valid SDP offer".into()))?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(crypto_provider())
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .build(Instant::now());
    let candidate = Candidate::host(announced, "udp").map_err(|e| RecordingError::Peer(e.to_string()))?;
    // Datagrams are handed to str0m as addressed to this candidate (see `run`), so behind
    // NAT the bound address and the announced one may differ.
    let _ = rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| RecordingError::BadOffer(e.to_string()))?;
    Ok((rtc, answer.to_sdp_string()))
}

async fn run<S: MediaSink>(
    socket: UdpSocket,
    announced: SocketAddr,
    mut rx: mpsc::Receiver<Command>,
    mut sink: S,
) -> S {
    let started = Instant::now();
    let mut conns: Vec<Conn> = Vec::new();
    let mut buf = vec![0u8; 2000];
    loop {
        let now = Instant::now();
        let mut next = now + Duration::from_millis(100);
        for conn in &mut conns {
            drain(conn, &socket, &mut sink, started, &mut next).await;
        }
        conns.retain(|c| c.rtc.is_alive());
        sink.tick(started.elapsed().as_millis() as u64);
        let wait = next.saturating_duration_since(Instant::now());
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None | Some(Command::Stop) => break,
                Some(Command::Drop { user }) => {
                    for c in conns.iter_mut().filter(|c| c.user == user) {
                        c.rtc.disconnect();
                    }
                    conns.retain(|c| c.user != user);
                }
                Some(Command::Offer { user, tracks, sdp, reply }) => {
                    if conns.len() >= MAX_CONNECTIONS {
                        let _ = reply.send(Err(RecordingError::BadOffer("too many connections to the recording".into())));
                        continue;
                    }
                    let result = accept(&sdp, announced).map(|(rtc, answer)| {
                        // A participant's new connection replaces their old one.
                        for c in conns.iter_mut().filter(|c| c.user == user) {
                            c.rtc.disconnect();
                        }
                        conns.retain(|c| c.user != user);
                        conns.push(Conn { user, rtc, tracks, streams: HashMap::new() });
                        answer
                    });
                    let _ = reply.send(result);
                }
            },
            received = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else { continue };
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: announced, contents });
                if let Some(conn) = conns.iter_mut().find(|c| c.rtc.accepts(&input))
                    && conn.rtc.handle_input(input).is_err()
                {
                    conn.rtc.disconnect();
                }
            }
            _ = tokio::time::sleep(wait) => {
                let now = Instant::now();
                for conn in &mut conns {
                    if conn.rtc.handle_input(Input::Timeout(now)).is_err() {
                        conn.rtc.disconnect();
                    }
                }
            }
        }
    }
    for conn in &mut conns {
        conn.rtc.disconnect();
        let mut ignored = Instant::now();
        drain(conn, &socket, &mut sink, started, &mut ignored).await;
    }
    sink
}

/// Drains one connection's outputs: sends datagrams, turns media into frames.
async fn drain<S: MediaSink>(conn: &mut Conn, socket: &UdpSocket, sink: &mut S, started: Instant, next: &mut Instant) {
    loop {
        match conn.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                *next = (*next).min(t);
                break;
            }
            Ok(Output::Transmit(t)) => {
                let _ = socket.send_to(&t.contents, t.destination).await;
            }
            Ok(Output::Event(event)) => on_event(conn, event, sink, started),
            Err(e) => {
                tracing::warn!(error = %e, "recording peer connection failed");
                conn.rtc.disconnect();
                break;
            }
        }
    }
    request_missing_keyframes(conn);
}

fn on_event<S: MediaSink>(conn: &mut Conn, event: Event, sink: &mut S, started: Instant) {
    match event {
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => conn.rtc.disconnect(),
        Event::MediaAdded(added) => {
            let video = added.kind == MediaKind::Video;
            let track = if video { conn.tracks.video } else { conn.tracks.audio };
            // One stream of each kind per participant: a second one of a kind is ignored.
            if conn.streams.values().any(|s| s.video == video) {
                return;
            }
            conn.streams.insert(
                added.mid,
                Stream {
                    track,
                    video,
                    first: None,
                    waiting_for_key: video,
                    last_request: None,
                    last_keyframe: None,
                },
            );
        }
        Event::MediaData(data) => {
            let Some(stream) = conn.streams.get_mut(&data.mid) else {
                return;
            };
            let codec = data.params.spec().codec;
            if !matches!(codec, Codec::Opus | Codec::Vp8) || data.data.is_empty() {
                return;
            }
            let keyframe = if stream.video { data.data[0] & 1 == 0 } else { true };
            if stream.video && !data.contiguous && !keyframe {
                stream.waiting_for_key = true;
            }
            if stream.waiting_for_key {
                if !keyframe {
                    return;
                }
                stream.waiting_for_key = false;
            }
            if stream.video && keyframe {
                stream.last_keyframe = Some(Instant::now());
            }
            let media_us = data.time.as_micros();
            let arrival_ms = data.network_time.saturating_duration_since(started).as_millis() as u64;
            let (first_media_us, first_arrival_ms) = *stream.first.get_or_insert((media_us, arrival_ms));
            let time_ms = first_arrival_ms + media_us.saturating_sub(first_media_us) / 1000;
            sink.frame(Frame {
                track: stream.track,
                time_ms,
                keyframe,
                data: data.data.to_vec(),
            });
        }
        _ => {}
    }
}

fn request_missing_keyframes(conn: &mut Conn) {
    let now = Instant::now();
    let due: Vec<Mid> = conn
        .streams
        .iter()
        .filter(|(_, s)| {
            let stale = s.last_keyframe.is_some_and(|t| now - t >= KEYFRAME_INTERVAL);
            s.video && (s.waiting_for_key || stale) && s.last_request.is_none_or(|t| now - t >= KEYFRAME_RETRY)
        })
        .map(|(mid, _)| *mid)
        .collect();
    for mid in due {
        let Some(mut writer) = conn.rtc.writer(mid) else {
            continue;
        };
        if writer.request_keyframe(None, KeyframeRequestKind::Pli).is_ok()
            && let Some(s) = conn.streams.get_mut(&mid)
        {
            s.last_request = Some(now);
        }
    }
}
