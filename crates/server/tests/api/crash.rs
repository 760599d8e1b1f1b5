//! Crash safety: the server is killed with SIGKILL in the middle of heavy REST traffic and
//! restarted on the same database. Every write it acknowledged is still there and the audit
//! chain still verifies.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn a_sigkill_under_load_loses_no_acknowledged_write() {
    let data_dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(data_dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut server = start_server_process(env!("CARGO_BIN_EXE_vytalcall"), &database_url, data_dir.path(), port);
    wait_ready(&http, &base, Duration::from_secs(10)).await;

    let provider = user("provider");
    let patient = user("patient");
    let acknowledged: Arc<Mutex<Vec<(String, &'static str)>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, base, provider, patient, acked) = (
            http.clone(),
            base.clone(),
            provider.clone(),
            patient.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            for _ in 0..10_000 {
                let created = http
                    .post(format!("{base}/webrtc/calls"))
                    .bearer_auth(&provider.token)
                    .json(&json!({ "patientId": patient.id }))
                    .send()
                    .await;
                let Ok(r) = created else { return };
                if r.status() != StatusCode::CREATED {
                    return;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else {
                    return;
                };
                let id = body["id"].as_str().unwrap_or_default().to_string();
                acked.lock().expect("lock").push((id.clone(), "ringing"));
                if w % 2 == 0 {
                    let answered = http
                        .post(format!("{base}/webrtc/calls/{id}/answer"))
                        .bearer_auth(&patient.token)
                        .send()
                        .await;
                    match answered {
                        Ok(r) if r.status() == StatusCode::OK => {
                            if let Some(last) = acked.lock().expect("lock").iter_mut().find(|(i, _)| *i == id) {
                                last.1 = "active";
                            }
                        }
                        _ => return,
                    }
                }
            }
        }));
    }
    // Kill once the load has produced some acknowledged writes and keeps producing them, at a
    // moment that depends on how fast this machine is, not on a fixed time.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() <= 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    for w in workers {
        let _ = w.await;
    }
    let acked = acknowledged.lock().expect("lock").clone();
    assert!(acked.len() > 20, "the load ran before the kill ({} calls)", acked.len());

    let mut server = start_server_process(env!("CARGO_BIN_EXE_vytalcall"), &database_url, data_dir.path(), port);
    wait_ready(&http, &base, Duration::from_secs(10)).await;
    let admin = user("admin");
    for (id, state) in &acked {
        let r = http
            .get(format!("{base}/webrtc/calls/{id}"))
            .bearer_auth(&admin.token)
            .send()
            .await
            .expect("get");
        let call = expect_status(r, StatusCode::OK).await;
        if *state == "active" {
            assert_eq!(call["status"], "active", "acknowledged answer of {id} survived");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &database_url)
        .env("DATA_DIR", data_dir.path())
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("verify");
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
