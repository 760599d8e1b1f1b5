//! Recording capacity benchmark (ignored: not part of the test suite; run through
//! `bench/recording/run`). For each N in `VYTALCALL_BENCH_CALLS` (default `1,2,4,8`) a fresh
//! server process (`VYTALCALL_BENCH_BIN`, default the debug binary) records N calls at once,
//! each fed by two sending peers (patient and provider, as in a real call) streaming
//! `VYTALCALL_BENCH_SECONDS` (default 10) of VP8 (25 fps) and Opus (50 frames/s) at real time. Afterwards every recording is stopped,
//! downloaded, and its packets counted with ffprobe: frames written vs frames sent. The
//! server's CPU time and resident memory come from /proc.

use super::{Sent, recorded_call, send_media_to};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn server_bin() -> String {
    std::env::var("VYTALCALL_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vytalcall").to_string())
}

/// CPU seconds (user + system) and resident/peak memory in KiB of a process.
fn proc_usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks as f64 / 100.0, kib("VmRSS:"), kib("VmHWM:"))
}

fn self_cpu() -> f64 {
    proc_usage(std::process::id()).0
}

/// Packets per stream type in a WebM file, as ffprobe counts them.
fn packets(file: &Path) -> (usize, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_type,nb_read_packets",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let (mut video, mut audio) = (0, 0);
    for s in v["streams"].as_array().cloned().unwrap_or_default() {
        let n: usize = s["nb_read_packets"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
        match s["codec_type"].as_str() {
            Some("video") => video += n,
            Some("audio") => audio += n,
            _ => {}
        }
    }
    (video, audio)
}

struct Round {
    calls: usize,
    sent: Sent,
    written: Sent,
    failed_peers: usize,
    server_cpu_pct: f64,
    client_cpu_pct: f64,
    rss_idle_kib: u64,
    rss_peak_kib: u64,
}

async fn round(n: usize, seconds: u64) -> Round {
    let data_dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(data_dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut server = start_server_process(server_bin(), &database_url, data_dir.path(), port);
    let pid = server.id();
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut sessions = Vec::new();
    for _ in 0..n {
        sessions.push(recorded_call(&http, &base).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, rss_idle_kib, _) = proc_usage(pid);
    let (cpu0, client0, t0) = (proc_usage(pid).0, self_cpu(), Instant::now());
    let senders: Vec<_> = sessions
        .iter()
        .flat_map(|(c, call, rec)| [(c.patient.clone(), call, rec), (c.provider.clone(), call, rec)])
        .map(|(who, call, rec)| {
            let (http, base, call, rec) = (http.clone(), base.clone(), call.clone(), rec.clone());
            tokio::spawn(async move { send_media_to(&http, &base, &who, &call, &rec, seconds, None).await })
        })
        .collect();
    let mut sent = Sent::default();
    let mut failed_peers = 0;
    for s in senders {
        match s.await {
            Ok(Ok(s)) => {
                sent.video += s.video;
                sent.audio += s.audio;
            }
            other => {
                failed_peers += 1;
                eprintln!("sending peer failed: {other:?}");
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, _, rss_peak_kib) = proc_usage(pid);
    let client1 = self_cpu();

    let mut written = Sent::default();
    for (i, (c, call, rec)) in sessions.iter().enumerate() {
        let r = http
            .post(format!("{base}/webrtc/calls/{call}/recordings/{rec}/stop"))
            .bearer_auth(&c.provider.token)
            .json(&json!({}))
            .send()
            .await
            .expect("stop");
        expect_status(r, StatusCode::OK).await;
        let r = http
            .get(format!("{base}/webrtc/calls/{call}/recordings/{rec}/media"))
            .bearer_auth(&c.provider.token)
            .send()
            .await
            .expect("media");
        let bytes = r.bytes().await.expect("bytes");
        let file = data_dir.path().join(format!("r{i}.webm"));
        std::fs::write(&file, &bytes).expect("write");
        let (v, a) = packets(&file);
        written.video += v;
        written.audio += a;
    }
    let _ = server.kill();
    let _ = server.wait();
    Round {
        calls: n,
        sent,
        written,
        failed_peers,
        server_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        client_cpu_pct: (client1 - client0) / wall * 100.0,
        rss_idle_kib,
        rss_peak_kib,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with bench/recording/run"]
async fn recording_capacity() {
    let counts: Vec<usize> = std::env::var("VYTALCALL_BENCH_CALLS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("VYTALCALL_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(12);
    println!("server binary: {}", server_bin());
    println!(
        "calls | video written/sent | audio written/sent | lost frames | failed peers | server CPU % | server CPU %/call | RSS idle MiB | RSS peak MiB | sender CPU %"
    );
    for n in counts {
        let r = round(n, seconds).await;
        let lost = (r.sent.video + r.sent.audio).saturating_sub(r.written.video + r.written.audio);
        println!(
            "{} | {}/{} | {}/{} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}",
            r.calls,
            r.written.video,
            r.sent.video,
            r.written.audio,
            r.sent.audio,
            lost,
            r.failed_peers,
            r.server_cpu_pct,
            r.server_cpu_pct / r.calls as f64,
            r.rss_idle_kib as f64 / 1024.0,
            r.rss_peak_kib as f64 / 1024.0,
            r.client_cpu_pct,
        );
    }
}
