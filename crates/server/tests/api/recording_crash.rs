//! Crash safety of recordings: the real `vytalcall` binary records a call while a sending peer
//! streams VP8 and Opus into it, is killed with SIGKILL mid-recording and restarted on the
//! same data directory and database. The recording is then `partial`, and what it serves
//! decrypts, is read by ffprobe and plays up to at most 5 s before the kill.

use crate::helpers::*;
use crate::recordings::{ffprobe, first_frame_secs, plays_cleanly, recorded_call, send_media_to};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use vytalcall::recording::demux;

async fn json_ok(r: reqwest::Response, status: StatusCode) -> Value {
    expect_status(r, status).await
}

#[tokio::test]
async fn a_recording_killed_with_sigkill_is_partial_and_plays_up_to_the_kill() {
    let data_dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(data_dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut server = start_server_process(env!("CARGO_BIN_EXE_vytalcall"), &database_url, data_dir.path(), port);
    wait_ready(&http, &base, Duration::from_secs(20)).await;

    let (c, call, rec) = recorded_call(&http, &base).await;

    // The patient streams the 12 s sample; the server dies about 8 s into it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = {
        let (http, base, patient, call, rec) =
            (http.clone(), base.clone(), c.patient.clone(), call.clone(), rec.clone());
        tokio::spawn(async move { send_media_to(&http, &base, &patient, &call, &rec, 12, Some(tx)).await })
    };
    let media_from = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("the sending peer connects in time")
        .expect("connected");
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(media_from.elapsed())).await;
    assert!(
        !sender.is_finished(),
        "media is still flowing when the server is killed"
    );
    server.kill().expect("SIGKILL");
    let elapsed = media_from.elapsed().as_secs_f64();
    server.wait().expect("reaped");
    sender.abort();

    let mut server = start_server_process(env!("CARGO_BIN_EXE_vytalcall"), &database_url, data_dir.path(), port);
    wait_ready(&http, &base, Duration::from_secs(20)).await;
    let meta_url = format!("{base}/webrtc/calls/{call}/recordings/{rec}");
    let mut meta = Value::Null;
    for _ in 0..100 {
        let r = http
            .get(&meta_url)
            .bearer_auth(&c.provider.token)
            .send()
            .await
            .expect("metadata");
        meta = json_ok(r, StatusCode::OK).await;
        if meta["status"] != "recording" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(meta["status"], "partial", "{meta}");

    let r = http
        .get(format!("{meta_url}/media"))
        .bearer_auth(&c.provider.token)
        .send()
        .await
        .expect("media");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/webm");
    let webm = r.bytes().await.expect("the whole partial recording is served").to_vec();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(Some(webm.len() as i64), meta["sizeBytes"].as_i64(), "{meta}");

    let file = data_dir.path().join("partial.webm");
    std::fs::write(&file, &webm).expect("write");
    let probe = ffprobe(&file);
    // The head was written when the recording started and a crash never rewrites it, so
    // the provider's tracks are still declared; only the patient's carry frames.
    assert_eq!(
        probe.kinds,
        vec!["audio/opus", "video/vp8", "audio/opus", "video/vp8"],
        "a track per participant stream, as declared at the start"
    );
    let (tracks, frames) = demux::read(&webm).expect("the partial recording demuxes");
    let sending: Vec<&str> = tracks
        .iter()
        .filter(|t| frames.iter().any(|f| f.track == t.number))
        .map(|t| t.codec.as_str())
        .collect();
    assert_eq!(
        sending,
        vec!["A_OPUS", "V_VP8"],
        "only the patient's streams carry media"
    );
    // Counted from the first frame: the connection's set-up is on the timeline too.
    let played = probe.duration - first_frame_secs(&webm);
    assert!(
        played >= elapsed - 5.0,
        "plays {played:.2} s of the {elapsed:.2} s before the kill"
    );
    assert!(
        played <= elapsed + 1.0,
        "no more media than was sent: {played:.2} s of {elapsed:.2} s"
    );
    plays_cleanly(&file);
}
