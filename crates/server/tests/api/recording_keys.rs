//! Deletion that destroys: each recording's data key lives in the database only, so deleting
//! a recording leaves every copy of its media (an object version, a backup, a crash's spool
//! file) as ciphertext without a key; and master keys rotate, with `recording rewrap`
//! moving every key under the new one, after which the old key is no longer needed.

use crate::helpers::*;
use crate::recordings::{moto, send_media_to, start, stop};
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vytalcall::recording::RecordingError;
use vytalcall::recording::crypto::{CryptoError, V2_HEADER_LEN};
use vytalcall::recording::keyring::MasterKey;
use vytalcall_domain::RecordingId;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A recording of `seconds` of real media, stopped; returns the call and recording ids.
async fn finished_recording(app: &TestApp, c: &Cast, seconds: u64) -> (String, String) {
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(app, c, &call).await;
    send_media_to(&app.http, &app.base, &c.patient, &call, &rec, seconds, None)
        .await
        .expect("media flows");
    stop(app, c, &call, &rec).await;
    (call, rec)
}

/// The playable WebM as the provider downloads it.
async fn media(app: &TestApp, c: &Cast, call: &str, rec: &str) -> Vec<u8> {
    let r = app
        .get(&c.provider, &format!("/webrtc/calls/{call}/recordings/{rec}/media"))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the recording plays");
    r.bytes().await.expect("media").to_vec()
}

fn stored_file(data_dir: &Path, call: &str, rec: &str) -> PathBuf {
    data_dir.join(format!("recordings/{call}/{rec}.vrec"))
}

fn id(rec: &str) -> RecordingId {
    rec.parse().expect("recording id")
}

async fn key_rows(app: &TestApp, rec: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM recording_keys WHERE recording_id = $1")
        .bind(rec)
        .fetch_one(&app.db.pool)
        .await
        .expect("count keys")
}

#[tokio::test]
async fn after_retention_deletes_a_recording_no_copy_of_its_object_or_spool_decrypts_with_anything_the_server_holds() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(&app, &c, &call).await;
    send_media_to(&app.http, &app.base, &c.patient, &call, &rec, 3, None)
        .await
        .expect("media flows");
    // While it records, the file being written (on S3 storage: the spool) holds whole chunks.
    let file = stored_file(app.data_dir.path(), &call, &rec);
    let spool_copy = copy_while_recording(&file).await;
    assert_eq!(spool_copy[8], 2, "new objects are format version 2");
    stop(&app, &c, &call, &rec).await;
    let object_copy = std::fs::read(&file).expect("copy of the stored object");
    assert_eq!(key_rows(&app, &rec).await, 1, "the key is in the database");

    // While the recording exists, both copies are readable by the server: the check below
    // fails for the right reason.
    let recordings = app.recordings.clone();
    let whole = recordings
        .decrypt_stored(id(&rec), &object_copy, true)
        .await
        .expect("the object decrypts");
    let partial = recordings
        .decrypt_stored(id(&rec), &spool_copy, false)
        .await
        .expect("the spool decrypts");
    assert!(!partial.is_empty() && whole.starts_with(&partial));

    let deleted = recordings
        .run_retention(vytalcall::now_millis() + 400 * DAY_MS)
        .await
        .expect("retention runs");
    assert!(deleted >= 1);
    assert_eq!(key_rows(&app, &rec).await, 0, "the key went with the recording");
    assert!(!file.exists(), "the object is deleted too");
    let entries = app.audit_entries().await;
    assert!(
        entries
            .iter()
            .any(|(a, o, _, call_id)| a == "recording.delete" && o == "success" && call_id.as_deref() == Some(&call)),
        "{entries:?}"
    );

    for (copy, whole) in [(&object_copy, true), (&spool_copy, false)] {
        let err = recordings
            .decrypt_stored(id(&rec), copy, whole)
            .await
            .expect_err("a deleted recording's copy stays ciphertext");
        assert!(matches!(err, RecordingError::Integrity(CryptoError::NoKey)), "{err}");
        assert!(err.to_string().contains("no key"), "{err}");
    }
}

/// Waits until the file being written at `path` holds whole chunks, and copies it.
async fn copy_while_recording(path: &Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(path).map_or(0, |m| m.len()) < (V2_HEADER_LEN + 1000) as u64 {
        assert!(Instant::now() < deadline, "no chunk was written while recording");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::read(path).expect("copy of the file being written")
}

#[tokio::test]
async fn on_versioned_s3_storage_the_old_object_version_and_the_spool_copy_of_a_deleted_recording_stay_ciphertext() {
    let moto = moto();
    let http = reqwest::Client::new();
    let bucket = format!("{}/recordings", moto.endpoint);
    let created = http.put(&bucket).send().await.expect("create bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let versioning = http
        .put(format!("{bucket}?versioning"))
        .body(
            r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#,
        )
        .send()
        .await
        .expect("enable versioning");
    assert!(versioning.status().is_success(), "{}", versioning.status());
    let app = crate::recordings::spawn_s3_app(&moto).await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(&app, &c, &call).await;
    send_media_to(&app.http, &app.base, &c.patient, &call, &rec, 3, None)
        .await
        .expect("media flows");
    let spool = app.data_dir.path().join(format!("spool/recordings/{call}/{rec}.vrec"));
    let spool_copy = copy_while_recording(&spool).await;
    stop(&app, &c, &call, &rec).await;
    let object_url = format!("{bucket}/recordings/{call}/{rec}.vrec");
    let object = http.get(&object_url).send().await.expect("get object");
    assert_eq!(object.status(), StatusCode::OK);
    let version = object.headers()["x-amz-version-id"]
        .to_str()
        .expect("version id")
        .to_string();
    let object_copy = object.bytes().await.expect("object").to_vec();
    let recordings = app.recordings.clone();
    recordings
        .decrypt_stored(id(&rec), &object_copy, true)
        .await
        .expect("the object decrypts while the recording exists");

    recordings
        .run_retention(vytalcall::now_millis() + 400 * DAY_MS)
        .await
        .expect("retention runs");
    assert_eq!(
        http.get(&object_url).send().await.expect("get").status(),
        StatusCode::NOT_FOUND,
        "deleted"
    );
    // The bucket keeps the old version, byte for byte, and the spool copy is still around.
    let kept = http
        .get(format!("{object_url}?versionId={version}"))
        .send()
        .await
        .expect("get the old version");
    assert_eq!(kept.status(), StatusCode::OK);
    let kept = kept.bytes().await.expect("old version").to_vec();
    assert_eq!(kept, object_copy);
    for (copy, whole) in [(&kept, true), (&spool_copy, false)] {
        let err = recordings
            .decrypt_stored(id(&rec), copy, whole)
            .await
            .expect_err("ciphertext without a key");
        assert!(matches!(err, RecordingError::Integrity(CryptoError::NoKey)), "{err}");
    }
}

/// A server on a database and data directory the test keeps across restarts.
async fn serve(url: &str, data_dir: &Path, keys: &[(&str, &str)]) -> TestApp {
    let data = data_dir.display().to_string();
    let mut vars = vec![("DATABASE_URL", url), ("DATA_DIR", data.as_str())];
    vars.extend_from_slice(keys);
    spawn_app_with(&vars).await
}

/// An operator command against the test server's database and data directory, with the
/// given master keys.
fn cli(database_url: &str, data_dir: &Path, keys: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vytalcall"));
    cmd.args(args)
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env_remove("STORAGE_PROVIDER")
        .env_remove("RECORDING_MASTER_KEY")
        .env_remove("RECORDING_MASTER_KEYS_OLD")
        .env_remove("VYTALCALL_ENV");
    for (k, v) in keys {
        cmd.env(k, v);
    }
    cmd.output().expect("run vytalcall")
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn after_rotating_the_master_key_recordings_play_and_after_a_resumed_rewrap_they_play_and_export_without_the_old_key()
 {
    let dir = tempfile::tempdir().expect("dir");
    let database = fresh_database_url(dir.path()).await;
    let url = database.to_string();
    let (old, new) = (
        "11".repeat(32),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
    );
    let app = serve(&url, dir.path(), &[("RECORDING_MASTER_KEY", &old)]).await;
    let c = cast();
    let mut recordings = Vec::new();
    for _ in 0..2 {
        let (call, rec) = finished_recording(&app, &c, 2).await;
        let played = media(&app, &c, &call, &rec).await;
        recordings.push((call, rec, played));
    }
    drop(app);

    // Rotated: the new key is current, the old one still unwraps.
    let both = [
        ("RECORDING_MASTER_KEY", new.as_str()),
        ("RECORDING_MASTER_KEYS_OLD", old.as_str()),
    ];
    let app = serve(&url, dir.path(), &both).await;
    for (call, rec, played) in &recordings {
        assert_eq!(&media(&app, &c, call, rec).await, played, "plays after rotation");
    }
    let only_new = [("RECORDING_MASTER_KEY", new.as_str())];
    let (_, first, _) = &recordings[0];
    let early = dir.path().join("early.webm");
    let refused = cli(
        &url,
        dir.path(),
        &only_new,
        &["recording", "export", first, early.to_str().expect("path")],
    );
    assert!(!refused.status.success(), "before rewrap the old key is still needed");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("RECORDING_MASTER_KEYS_OLD"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let blind = cli(&url, dir.path(), &only_new, &["recording", "rewrap"]);
    assert!(!blind.status.success(), "a key it cannot open fails the run");
    let blind_out = String::from_utf8_lossy(&blind.stdout);
    assert!(
        blind_out.contains(&format!("cannot rewrap recording {first}"))
            && blind_out.contains("2 recording key(s) remain"),
        "{blind_out}"
    );
    let zero = cli(&url, dir.path(), &both, &["recording", "rewrap", "--max", "0"]);
    assert!(!zero.status.success(), "--max 0 is refused");
    let run = stdout(&cli(
        &url,
        dir.path(),
        &both,
        &["recording", "rewrap", "--max", "1", "--operator", "ops-k"],
    ));
    assert!(run.contains("rewrapped 1 "), "{run}");
    assert!(run.contains("stopped at --max"), "{run}");
    assert!(run.contains("1 recording key(s) remain"), "{run}");
    let rerun = stdout(&cli(
        &url,
        dir.path(),
        &both,
        &["recording", "rewrap", "--operator", "ops-k"],
    ));
    assert!(rerun.contains("rewrapped 1 "), "the rerun continues: {rerun}");
    assert!(rerun.contains("0 recording key(s) remain"), "{rerun}");
    let done = stdout(&cli(&url, dir.path(), &both, &["recording", "rewrap"]));
    assert!(done.contains("rewrapped 0 "), "nothing left: {done}");

    let new_id = MasterKey::parse(&new).expect("key").id().to_string();
    let under_new: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recording_keys WHERE master_key_id = $1")
        .bind(&new_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(under_new, 2);
    let rewraps: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|(a, _, _, _)| a == "recording.rewrap")
        .collect();
    assert_eq!(rewraps.len(), 2, "one audited entry per recording: {rewraps:?}");
    assert!(
        rewraps
            .iter()
            .all(|(_, o, actor, _)| o == "success" && actor.as_deref() == Some("ops-k"))
    );
    drop(app);

    // The old key is gone from the configuration: everything still plays and exports.
    let app = serve(&url, dir.path(), &only_new).await;
    for (i, (call, rec, played)) in recordings.iter().enumerate() {
        assert_eq!(&media(&app, &c, call, rec).await, played, "plays without the old key");
        let out = dir.path().join(format!("export-{i}.webm"));
        stdout(&cli(
            &url,
            dir.path(),
            &only_new,
            &["recording", "export", rec, out.to_str().expect("path")],
        ));
        assert_eq!(&std::fs::read(&out).expect("export"), played, "exports byte for byte");
    }
    drop(app);
    drop(database);
}

/// An object in the old format (version 1), built from the layout in docs/recording.md
/// alone: a new data key wrapped in the header under the master key `master_hex`, `body` in
/// STREAM chunks, and `head` sealed as the row keeps it (returned in base64).
fn v1_object(master_hex: &str, recording: uuid::Uuid, head: &[u8], body: &[u8]) -> (Vec<u8>, String) {
    use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
    use aes_gcm::Aes256Gcm;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine;
    use rand::RngCore;
    let master: [u8; 32] = hex::decode(master_hex).expect("hex").try_into().expect("32 bytes");
    let (mut data_key, mut wrap_nonce, mut prefix, mut head_nonce) = ([0u8; 32], [0u8; 12], [0u8; 7], [0u8; 12]);
    let mut rng = rand::rng();
    for bytes in [&mut data_key[..], &mut wrap_nonce, &mut prefix, &mut head_nonce] {
        rng.fill_bytes(bytes);
    }
    let mut wrap_aad = b"VYTLREC1\x01".to_vec();
    wrap_aad.extend_from_slice(recording.as_bytes());
    let wrapped = Aes256Gcm::new(&master.into())
        .encrypt(
            &wrap_nonce.into(),
            Payload {
                msg: &data_key,
                aad: &wrap_aad,
            },
        )
        .expect("wrap");
    let master_id = hex::decode(MasterKey::parse(master_hex).expect("key").id().to_string()).expect("id");
    let mut header = b"VYTLREC1\x01".to_vec();
    for part in [&master_id[..], &wrap_nonce, &wrapped, &prefix] {
        header.extend_from_slice(part);
    }
    assert_eq!(header.len(), 84);
    let stream: StreamBE32<Aes256Gcm> = StreamBE32::new(&data_key.into(), &prefix.into());
    let mut object = header.clone();
    let pieces: Vec<&[u8]> = body.chunks(40_000).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let end_ms = (i as u32 + 1) * 1000;
        let mut aad = header.clone();
        aad.extend_from_slice(&end_ms.to_be_bytes());
        let sealed = stream
            .encrypt(i as u32, i + 1 == pieces.len(), Payload { msg: piece, aad: &aad })
            .expect("seal");
        object.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
        object.extend_from_slice(&end_ms.to_be_bytes());
        object.extend_from_slice(&sealed);
    }
    let mut head_aad = header.clone();
    head_aad.extend_from_slice(recording.as_bytes());
    let mut sealed_head = head_nonce.to_vec();
    sealed_head.extend(
        Aes256Gcm::new(&data_key.into())
            .encrypt(
                &head_nonce.into(),
                Payload {
                    msg: head,
                    aad: &head_aad,
                },
            )
            .expect("seal head"),
    );
    (object, base64::engine::general_purpose::STANDARD.encode(sealed_head))
}

#[tokio::test]
async fn a_version_1_recording_still_plays_from_its_header_key_and_rewrap_moves_that_key_into_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let database = fresh_database_url(dir.path()).await;
    let url = database.to_string();
    let (old, new) = ("33".repeat(32), "44".repeat(32));
    let app = serve(&url, dir.path(), &[("RECORDING_MASTER_KEY", &old)]).await;
    let c = cast();
    let (call, rec) = finished_recording(&app, &c, 2).await;
    let webm = media(&app, &c, &call, &rec).await;
    // The same recording as a server before format version 2 would have stored it.
    let file = stored_file(dir.path(), &call, &rec);
    let body = app
        .recordings
        .decrypt_stored(id(&rec), &std::fs::read(&file).expect("object"), true)
        .await
        .expect("decrypts");
    let (head, rest) = webm.split_at(webm.len() - body.len());
    assert_eq!(rest, &body[..]);
    let (object, sealed_head) = v1_object(&old, id(&rec).0, head, &body);
    std::fs::write(&file, &object).expect("replace the object");
    sqlx::query("UPDATE call_recordings SET media_head = $1 WHERE id = $2")
        .bind(&sealed_head)
        .bind(&rec)
        .execute(&app.db.pool)
        .await
        .expect("old head");
    sqlx::query("DELETE FROM recording_keys WHERE recording_id = $1")
        .bind(&rec)
        .execute(&app.db.pool)
        .await
        .expect("no key row, as before");
    assert_eq!(media(&app, &c, &call, &rec).await, webm, "plays from its header key");
    drop(app);

    let both = [
        ("RECORDING_MASTER_KEY", new.as_str()),
        ("RECORDING_MASTER_KEYS_OLD", old.as_str()),
    ];
    let app = serve(&url, dir.path(), &both).await;
    assert_eq!(media(&app, &c, &call, &rec).await, webm, "plays after rotation");
    let run = stdout(&cli(
        &url,
        dir.path(),
        &both,
        &["recording", "rewrap", "--operator", "ops-v1"],
    ));
    assert!(run.contains("moved 1 key(s) from version-1 headers"), "{run}");
    assert!(run.contains("0 recording key(s) remain"), "{run}");
    assert_eq!(key_rows(&app, &rec).await, 1, "its key is in the database now");
    let again = stdout(&cli(&url, dir.path(), &both, &["recording", "rewrap"]));
    assert!(again.contains("rewrapped 0 ") && again.contains("moved 0 "), "{again}");
    assert!(
        app.audit_entries()
            .await
            .iter()
            .any(|(a, o, actor, _)| a == "recording.rewrap" && o == "success" && actor.as_deref() == Some("ops-v1"))
    );
    drop(app);

    let app = serve(&url, dir.path(), &[("RECORDING_MASTER_KEY", &new)]).await;
    assert_eq!(
        media(&app, &c, &call, &rec).await,
        webm,
        "plays without the key its header names"
    );
    drop(app);
    drop(database);
}
