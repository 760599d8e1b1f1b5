//! Recordings far larger than one S3 part, against a real S3-compatible server (moto): the
//! store streams them as a multipart upload while they grow, completes it on finish, and
//! after a crash uploads the spool file whole. A recording of a long consultation is tens of
//! megabytes, so the part boundaries are where a mistake would show.

use crate::recordings::moto;
use rand::RngCore;
use reqwest::StatusCode;
use vytalcall::config::{StorageProvider, StorageSettings};
use vytalcall::recording::store::Store;

const MIB: usize = 1024 * 1024;

/// A bucket on a fresh moto server and a store writing into it, spooling under `spool_dir`.
async fn s3_store(endpoint: &str, spool_dir: &std::path::Path) -> Store {
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/large"))
        .send()
        .await
        .expect("create bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let settings = StorageSettings {
        provider: StorageProvider::S3,
        bucket: Some("large".into()),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.to_string()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".to_string().into()),
    };
    Store::from_settings(&settings, spool_dir).expect("s3 store")
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The number of parts S3 reports for a completed multipart object: its ETag is
/// `"<md5 of part md5s>-<parts>"`.
async fn parts_of(endpoint: &str, key: &str) -> Option<u32> {
    let head = reqwest::Client::new()
        .head(format!("{endpoint}/large/{key}"))
        .send()
        .await
        .expect("head object");
    assert_eq!(head.status(), StatusCode::OK, "the object exists");
    let etag = head.headers().get("etag")?.to_str().ok()?.trim_matches('"').to_string();
    etag.rsplit_once('-')?.1.parse().ok()
}

#[tokio::test]
async fn a_recording_larger_than_a_part_is_uploaded_in_parts_and_reads_back_exactly() {
    let moto = moto();
    let spool = tempfile::tempdir().expect("temp dir");
    let store = s3_store(&moto.endpoint, spool.path()).await;
    let key = "recordings/large/whole.vrec";
    let content = random_bytes(12 * MIB + 12_345);

    let mut upload = store.create(key).await.expect("create");
    // Appends of the size the recorder writes (a few chunks at a time), not part-aligned.
    for piece in content.chunks(300_001) {
        upload.append(piece).await.expect("append");
    }
    assert_eq!(upload.finish().await.expect("finish"), content.len() as u64);

    assert_eq!(parts_of(&moto.endpoint, key).await, Some(3), "5 MiB + 5 MiB + the rest");
    assert_eq!(store.size(key).await.expect("size"), content.len() as u64);
    // A range across the first part boundary reads back byte for byte.
    let boundary = (5 * MIB) as u64;
    let range = store
        .read_range(key, boundary - 1000..boundary + 1000)
        .await
        .expect("range");
    assert_eq!(&range[..], &content[5 * MIB - 1000..5 * MIB + 1000]);
    let mut whole = Vec::new();
    let mut stream = store.read_from(key, 0).await.expect("stream");
    while let Some(bytes) = futures_util::StreamExt::next(&mut stream).await {
        whole.extend_from_slice(&bytes.expect("chunk"));
    }
    assert!(whole == content, "the whole object is what was written");
    assert!(
        !spool.path().join("spool").join(key).exists(),
        "the spool file is removed once the upload completes"
    );
}

#[tokio::test]
async fn after_a_crash_the_spool_file_is_uploaded_whole() {
    let moto = moto();
    let spool = tempfile::tempdir().expect("temp dir");
    let store = s3_store(&moto.endpoint, spool.path()).await;
    let key = "recordings/large/crashed.vrec";
    let content = random_bytes(7 * MIB);

    let mut upload = store.create(key).await.expect("create");
    for piece in content.chunks(256 * 1024) {
        upload.append(piece).await.expect("append");
    }
    // The process dies here: the upload is never finished, only the spool file remains.
    drop(upload);
    assert_eq!(
        store.size(key).await.err().map(|e| e.to_string()),
        Some("the recording's stored object does not exist".to_string()),
        "an unfinished multipart upload is not an object"
    );

    store.recover(key).await.expect("recover");
    assert_eq!(parts_of(&moto.endpoint, key).await, Some(2));
    let all = store.read_range(key, 0..content.len() as u64).await.expect("read");
    assert!(all[..] == content[..], "the recovered object is the spool file");
    assert!(!spool.path().join("spool").join(key).exists());
    // Recovering again (a second restart) finds nothing left to do and changes nothing.
    store.recover(key).await.expect("recover again");
    assert_eq!(store.size(key).await.expect("size"), content.len() as u64);
}
