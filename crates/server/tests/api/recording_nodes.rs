//! Recordings across nodes: two `vytalcall` processes share one PostgreSQL database, one
//! Redis (under a key prefix of this test's own) and one S3-compatible store (moto), each
//! with its own data directory, as a deployment behind a round-robin balancer runs them. A
//! recording's peer runs on the node that started it; stop, offers and consent withdrawal
//! that reach the other node are carried out there over Redis.
//!
//! Ignored in the plain API runs (they need no Redis); `scripts/test` runs them in a step of
//! their own, after PostgreSQL and Redis are up.

use crate::helpers::*;
use crate::recordings::{
    Moto, Sent, ffprobe, first_frame_secs, moto_with_bucket, plays_cleanly, recorded_call, send_media_to,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;
use vytalcall::recording::demux;

const MASTER_KEY: &str = "5f1c9a7e3b2d4c6e8a0b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c3a5b7d9f1e3c";
const AUDIT_KEY: &str = "a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5";

/// One node of the pair: its process, address and data directory.
struct Node {
    child: Child,
    base: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shared parts of a two-node deployment.
struct Shared {
    database: TestDatabase,
    prefix: String,
    moto: Moto,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        if let Ok(out) = Command::new("redis-cli")
            .args(["--scan", "--pattern", &pattern])
            .output()
        {
            for key in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("redis-cli").args(["del", key]).output();
            }
        }
    }
}

async fn shared() -> Shared {
    let moto = moto_with_bucket().await;
    Shared {
        database: fresh_postgres_url().await,
        prefix: format!("vc-rec-nodes-{}", uuid::Uuid::new_v4().simple()),
        moto,
    }
}

fn spawn(shared: &Shared, dir: &Path, port: u16) -> Child {
    let endpoint = shared.moto.endpoint.clone();
    start_server_process_with(
        env!("CARGO_BIN_EXE_vytalcall"),
        &shared.database,
        dir,
        port,
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_KEY_PREFIX", &shared.prefix),
            ("RECORDING_MASTER_KEY", MASTER_KEY),
            ("AUDIT_KEY", AUDIT_KEY),
            ("STORAGE_PROVIDER", "s3"),
            ("STORAGE_BUCKET", "recordings"),
            ("STORAGE_ENDPOINT", &endpoint),
            ("STORAGE_ACCESS_KEY_ID", "test"),
            ("STORAGE_SECRET_ACCESS_KEY", "test"),
        ],
    )
}

async fn node(shared: &Shared, http: &reqwest::Client) -> Node {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let child = spawn(shared, dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(http, &base, Duration::from_secs(30)).await;
    Node { child, base, port, dir }
}

fn spool_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.join("spool")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

async fn post(http: &reqwest::Client, base: &str, who: &User, path: &str, body: Value) -> reqwest::Response {
    http.post(format!("{base}{path}"))
        .bearer_auth(&who.token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Stops the recording through the node at `base`.
async fn stop(http: &reqwest::Client, base: &str, who: &User, call: &str, rec: &str) -> reqwest::Response {
    let path = format!("/webrtc/calls/{call}/recordings/{rec}/stop");
    post(http, base, who, &path, json!({})).await
}

async fn metadata(http: &reqwest::Client, base: &str, who: &User, call: &str, rec: &str) -> Value {
    let r = http
        .get(format!("{base}/webrtc/calls/{call}/recordings/{rec}"))
        .bearer_auth(&who.token)
        .send()
        .await
        .expect("metadata");
    expect_status(r, StatusCode::OK).await
}

async fn media(http: &reqwest::Client, base: &str, who: &User, call: &str, rec: &str, into: &Path) -> Vec<u8> {
    let r = http
        .get(format!("{base}/webrtc/calls/{call}/recordings/{rec}/media"))
        .bearer_auth(&who.token)
        .send()
        .await
        .expect("media");
    assert_eq!(r.status(), StatusCode::OK);
    let webm = r.bytes().await.expect("the whole recording is served").to_vec();
    std::fs::write(into, &webm).expect("write");
    webm
}

/// `who` sends `seconds` of the sample through `base`'s offer endpoint, in a task; returns
/// the task and the moment media started to flow.
async fn sending(
    http: &reqwest::Client,
    base: &str,
    who: &User,
    call: &str,
    rec: &str,
    seconds: u64,
) -> (tokio::task::JoinHandle<Result<Sent, String>>, std::time::Instant) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = {
        let (http, base, who, call, rec) = (
            http.clone(),
            base.to_string(),
            who.clone(),
            call.to_string(),
            rec.to_string(),
        );
        tokio::spawn(async move { send_media_to(&http, &base, &who, &call, &rec, seconds, Some(tx)).await })
    };
    let from = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("the sending peer connects in time")
        .expect("connected");
    (task, from)
}

/// The first and last media times (ms since the recording started) of the frames on `track`.
fn frame_span_ms(frames: &[vytalcall::recording::webm::Frame], track: u8) -> (u64, u64) {
    let times = frames.iter().filter(|f| f.track == track).map(|f| f.time_ms);
    (times.clone().min().unwrap_or(0), times.max().unwrap_or(0))
}

fn audit_verify(shared: &Shared, dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &*shared.database)
        .env("DATA_DIR", dir)
        .env("JWT_SECRET", SECRET)
        .env("RECORDING_MASTER_KEY", MASTER_KEY)
        .env("AUDIT_KEY", AUDIT_KEY)
        .env_remove("VYTALCALL_ENV")
        .output()
        .expect("audit verify");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and moto: scripts/test runs it in its multi-node recording step"]
async fn a_recording_started_on_one_node_takes_offers_withdrawal_and_stop_through_the_other() {
    let http = reqwest::Client::new();
    let shared = shared().await;
    let a = node(&shared, &http).await;
    let b = node(&shared, &http).await;

    // Started through A: its peer runs on A.
    let (c, call, rec) = recorded_call(&http, &a.base).await;

    // The provider's media goes through B's offer endpoint, the patient's through A's.
    let (provider_sending, provider_from) = sending(&http, &b.base, &c.provider, &call, &rec, 10).await;
    let (patient_sending, _) = sending(&http, &a.base, &c.patient, &call, &rec, 10).await;

    // Three seconds in, the patient withdraws through B: A drops them at once.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(provider_from.elapsed())).await;
    let r = post(
        &http,
        &b.base,
        &c.patient,
        &format!("/webrtc/calls/{call}/recording-consent"),
        json!({ "consented": false }),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let withdrawn_at = provider_from.elapsed().as_millis() as u64;

    // The provider's media keeps flowing; then B stops the recording A runs.
    let sent = provider_sending
        .await
        .expect("joined")
        .expect("the provider's media was sent");
    assert!(sent.video > 0 && sent.audio > 0, "{sent:?}");
    patient_sending.abort();
    let r = stop(&http, &b.base, &c.provider, &call, &rec).await;
    let stopped = expect_status(r, StatusCode::OK).await;
    assert_eq!(stopped["status"], "completed", "{stopped}");
    assert_eq!(
        metadata(&http, &a.base, &c.provider, &call, &rec).await["status"],
        "completed"
    );

    // The file is whole and plays: the provider's streams to the end, the patient's until
    // the withdrawal.
    let file = b.dir.path().join("across-nodes.webm");
    let webm = media(&http, &b.base, &c.provider, &call, &rec, &file).await;
    assert_eq!(Some(webm.len() as i64), stopped["sizeBytes"].as_i64(), "{stopped}");
    let probe = ffprobe(&file);
    assert_eq!(probe.kinds, vec!["audio/opus", "video/vp8", "audio/opus", "video/vp8"]);
    plays_cleanly(&file);
    // Tracks are audio then video per participant, the patient first (`launch::tracks_for`).
    let (_, frames) = demux::read(&webm).expect("demuxes");
    // Media times count from the recording's start; the provider's first frame is the moment
    // `provider_from` measured from, however long the connection took to set up.
    let (_, patient_audio) = frame_span_ms(&frames, 1);
    let (provider_first, provider_last) = frame_span_ms(&frames, 3);
    let provider_audio = provider_last.saturating_sub(provider_first);
    assert!(
        provider_audio >= 8_000,
        "the provider is recorded to the end: {provider_audio} ms"
    );
    assert!(
        patient_audio > 0 && patient_audio <= provider_first + withdrawn_at + 1_000,
        "the patient is recorded until the withdrawal at {withdrawn_at} ms, not after: {patient_audio} ms"
    );

    // Nothing is left on either node.
    assert_eq!(spool_files(a.dir.path()), Vec::<String>::new(), "no spool on A");
    assert_eq!(spool_files(b.dir.path()), Vec::<String>::new(), "no spool on B");
    drop(b);
    drop(a);
    let text = audit_verify(&shared, tempfile::tempdir().expect("dir").path());
    assert!(text.starts_with("OK"), "{text}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and moto: scripts/test runs it in its multi-node recording step"]
async fn a_recording_whose_node_is_killed_is_not_touched_by_the_other_and_is_partial_and_plays_after_restart() {
    let http = reqwest::Client::new();
    let shared = shared().await;
    let mut a = node(&shared, &http).await;
    let b = node(&shared, &http).await;
    let (c, call, rec) = recorded_call(&http, &a.base).await;

    // The patient sends through B (forwarded to A) for 12 s; A is killed about 6 s in.
    let (sending, from) = sending(&http, &b.base, &c.patient, &call, &rec, 12).await;
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(from.elapsed())).await;
    assert!(!sending.is_finished(), "media is still flowing when A is killed");
    a.child.kill().expect("SIGKILL");
    a.child.wait().expect("reaped");
    let killed_after = from.elapsed().as_secs_f64();
    sending.abort();

    // B cannot reach A's peer: the stop is refused and changes nothing.
    let r = stop(&http, &b.base, &c.provider, &call, &rec).await;
    let problem = expect_problem(r, StatusCode::SERVICE_UNAVAILABLE, None).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("recorder-unavailable")),
        "{problem}"
    );
    assert_eq!(
        metadata(&http, &b.base, &c.provider, &call, &rec).await["status"],
        "recording"
    );

    // A comes back on its data directory: the recording is closed as partial, its spool
    // uploaded and removed, and it plays (through B) up to the kill.
    a.child = spawn(&shared, a.dir.path(), a.port);
    wait_ready(&http, &a.base, Duration::from_secs(30)).await;
    let meta = metadata(&http, &b.base, &c.provider, &call, &rec).await;
    assert_eq!(meta["status"], "partial", "{meta}");
    let file = b.dir.path().join("partial.webm");
    let webm = media(&http, &b.base, &c.provider, &call, &rec, &file).await;
    assert_eq!(Some(webm.len() as i64), meta["sizeBytes"].as_i64(), "{meta}");
    // What was sent before the kill, counted from the first frame (the connection's set-up
    // before it is on the timeline too).
    let played = ffprobe(&file).duration - first_frame_secs(&webm);
    assert!(
        played >= killed_after - 5.0 && played <= killed_after + 1.0,
        "plays {played:.2} s of the {killed_after:.2} s sent before the kill"
    );
    plays_cleanly(&file);
    assert_eq!(spool_files(a.dir.path()), Vec::<String>::new(), "no spool left on A");
    assert_eq!(spool_files(b.dir.path()), Vec::<String>::new(), "none on B");
}
