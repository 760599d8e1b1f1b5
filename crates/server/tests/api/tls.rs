//! TLS termination in the binary, and certificate renewal without a restart.

use crate::helpers::*;
use std::time::Duration;

fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

fn client_trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .resolve("localhost", "127.0.0.1:0".parse().expect("addr"))
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_server_speaks_tls_and_picks_up_a_renewed_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert1, key1) = self_signed();
    std::fs::write(&cert_file, &cert1).expect("write cert");
    std::fs::write(&key_file, &key1).expect("write key");
    let app = spawn_app_with(&[
        ("TLS_CERT_FILE", cert_file.to_str().expect("path")),
        ("TLS_KEY_FILE", key_file.to_str().expect("path")),
        ("TLS_RELOAD_SECONDS", "1"),
    ])
    .await;
    let port = app.base.rsplit(':').next().expect("port").to_string();
    let url = format!("https://localhost:{port}/healthz");

    let old = client_trusting(&cert1);
    let first = old.get(&url).send().await.expect("https");
    assert_eq!(first.status(), 200);
    assert_eq!(
        first
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap_or("")),
        Some("max-age=63072000; includeSubDomains"),
        "HSTS over TLS"
    );
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "no plain HTTP on a TLS port"
    );

    let (cert2, key2) = self_signed();
    std::fs::write(&cert_file, &cert2).expect("write cert");
    std::fs::write(&key_file, &key2).expect("write key");
    let new = client_trusting(&cert2);
    let mut renewed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if new.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
            renewed = true;
            break;
        }
    }
    assert!(renewed, "the renewed certificate is served");
    // A fresh client that only trusts the old certificate is now refused.
    assert!(client_trusting(&cert1).get(&url).send().await.is_err());
}

#[tokio::test]
async fn a_half_configured_tls_setting_is_refused() {
    let vars = std::collections::HashMap::from([("TLS_CERT_FILE".to_string(), "/tmp/cert.pem".to_string())]);
    let err = vytalcall::config::Settings::from_map(&vars).expect_err("key missing");
    assert!(err.to_string().starts_with("TLS_KEY_FILE"), "{err}");
}

#[tokio::test]
async fn plain_http_sends_no_hsts() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).send().await.expect("request");
    assert!(r.headers().get("strict-transport-security").is_none());
}
