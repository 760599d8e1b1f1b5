//! The two runs: `idle` (sockets held open) and `calls` (pairs through a call's signaling,
//! then a measured relay phase, saturating or open-loop), with the SDP and ICE bodies they send.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::measure::*;
use crate::socketio::*;
use crate::{Cli, Kind};

/// A WebRTC offer/answer of about 5 KB (Chrome-like: audio + video, many codecs), whose
/// session id carries the send stamp.
pub(crate) fn sdp(kind: &str, stamp: u64) -> String {
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

pub(crate) fn candidate_event(call: &str, target: &Uuid, stamp: u64, port: u32) -> String {
    format!(
        "42/webrtc,[\"ice-candidate\",{{\"callId\":\"{call}\",\"targetUserId\":\"{target}\",\"candidate\":{{\"candidate\":\"candidate:{stamp} 1 udp 2122260223 192.168.1.23 {port} typ host generation 0 ufrag Xy9z network-id 1\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"Xy9z\"}}}}]"
    )
}

pub(crate) struct Pair {
    pub(crate) call: String,
    pub(crate) provider: Arc<Conn>,
    pub(crate) patient: Arc<Conn>,
    pub(crate) provider_credit: Arc<Semaphore>,
    pub(crate) patient_credit: Arc<Semaphore>,
}

pub(crate) async fn call_script(p: &Pair, ice_burst: usize) -> Result<(), String> {
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

pub(crate) async fn run_idle(cli: &Cli, conns: usize, hold_secs: u64) -> Value {
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

pub(crate) async fn create_call(cli: &Cli, provider: Uuid, patient: Uuid) -> Result<String, String> {
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
pub(crate) async fn run_calls(
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
    let cli_ref: &'static Cli = Box::leak(Box::new(cli.clone_for_tasks()));

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
