//! Spool files a recording can leave behind on S3 storage (a crash between completing the
//! upload and removing the spool, a recording deleted meanwhile) are tidied by the upkeep
//! job: removed once their object is stored, uploaded first if it is not, and never while
//! their recording runs.

use crate::helpers::*;
use crate::recordings::{Moto, moto_with_bucket, spawn_s3_app, start, stop};
use reqwest::StatusCode;
use std::path::PathBuf;

/// A recording of a new call, started and stopped at once; returns the call, the
/// recording and its stored object's URL and bytes.
async fn stopped_recording(app: &TestApp, c: &Cast, moto: &Moto) -> (String, String, String, bytes::Bytes) {
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(app, c, &call).await;
    stop(app, c, &call, &rec).await;
    let url = format!("{}/recordings/recordings/{call}/{rec}.vrec", moto.endpoint);
    let object = app
        .http
        .get(&url)
        .send()
        .await
        .expect("object")
        .bytes()
        .await
        .expect("bytes");
    (call, rec, url, object)
}

async fn media(app: &TestApp, c: &Cast, call: &str, rec: &str) -> reqwest::Response {
    app.get(&c.provider, &format!("/webrtc/calls/{call}/recordings/{rec}/media"))
        .await
}

#[tokio::test]
async fn spool_files_of_recordings_running_nowhere_are_removed_once_their_object_is_stored() {
    let moto = moto_with_bucket().await;
    let s3 = reqwest::Client::new();
    let app = spawn_s3_app(&moto).await;
    let spool =
        |call: &str, rec: &str| -> PathBuf { app.data_dir.path().join(format!("spool/recordings/{call}/{rec}.vrec")) };
    let c = cast();

    // A completed recording whose object is stored, and whose spool a crash left behind.
    let (call, done, _, object) = stopped_recording(&app, &c, &moto).await;
    let played = media(&app, &c, &call, &done).await.bytes().await.expect("media");
    std::fs::write(spool(&call, &done), &object).expect("plant");

    // The same, but its object never made it to the store: the spool is the recording.
    let (call2, lost, lost_url, lost_object) = stopped_recording(&app, &c, &moto).await;
    assert!(s3.delete(&lost_url).send().await.expect("delete").status().is_success());
    assert!(
        !media(&app, &c, &call2, &lost).await.status().is_success(),
        "nothing to play"
    );
    std::fs::write(spool(&call2, &lost), &lost_object).expect("plant");

    // A spool of a recording that no longer exists (deleted by retention).
    let gone_call = uuid::Uuid::new_v4().to_string();
    let gone = uuid::Uuid::new_v4().to_string();
    std::fs::create_dir_all(spool(&gone_call, &gone).parent().expect("dir")).expect("dir");
    std::fs::write(spool(&gone_call, &gone), b"ciphertext nobody can read").expect("plant");

    // A recording still running keeps its spool.
    let call3 = app.active_call(&c.provider, &c.patient).await;
    let running = start(&app, &c, &call3).await;
    assert!(spool(&call3, &running).exists());

    // (The upkeep job may have tidied some already; the end state is what counts.)
    app.recordings.tidy(vytalcall::now_millis()).await.expect("tidy");
    assert!(!spool(&call, &done).exists(), "a stored recording's spool goes");
    assert!(!spool(&gone_call, &gone).exists(), "a deleted recording's spool goes");
    assert!(
        !spool(&call2, &lost).exists(),
        "an unstored recording's spool goes once uploaded"
    );
    assert!(spool(&call3, &running).exists(), "a running recording's spool stays");

    // Both closed recordings play as before, the lost one from the uploaded spool.
    assert_eq!(
        media(&app, &c, &call, &done).await.bytes().await.expect("media"),
        played
    );
    let restored = media(&app, &c, &call2, &lost).await;
    assert_eq!(restored.status(), StatusCode::OK);
    let restored_object = s3
        .get(&lost_url)
        .send()
        .await
        .expect("object")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(restored_object, lost_object, "the object is the spool, byte for byte");

    stop(&app, &c, &call3, &running).await;
    assert!(
        !spool(&call3, &running).exists(),
        "stopping removes the spool as always"
    );
}
