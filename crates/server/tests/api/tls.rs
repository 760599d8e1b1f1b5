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

/// A raw HTTP/2 connection over TLS to `port`, trusting `cert_pem`: the client half and the
/// connection, which must be polled (it is spawned).
async fn h2_connect(port: &str, cert_pem: &str) -> h2::client::SendRequest<bytes::Bytes> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem");
    roots.add(der).expect("root");
    let mut config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the server offers HTTP/2"
    );
    let (client, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client.ready().await.expect("ready")
}

/// HTTP/2 multiplexes many requests on one connection; its limits hold per connection:
/// the server announces at most 100 concurrent streams, and a stream whose body trickles in
/// is cut at the request deadline like an HTTP/1 request.
#[tokio::test]
async fn http2_over_tls_bounds_streams_per_connection_and_cuts_a_trickled_body_at_the_deadline() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert, key) = self_signed();
    std::fs::write(&cert_file, &cert).expect("write cert");
    std::fs::write(&key_file, &key).expect("write key");
    let app = spawn_app_with(&[
        ("TLS_CERT_FILE", cert_file.to_str().expect("path")),
        ("TLS_KEY_FILE", key_file.to_str().expect("path")),
        ("HTTP_REQUEST_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    let port = app.base.rsplit(':').next().expect("port").to_string();
    let mut client = h2_connect(&port, &cert).await;

    // The announced stream limit reaches the client once the server's settings are in.
    let mut announced = client.current_max_send_streams();
    for _ in 0..50 {
        if announced == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        announced = client.current_max_send_streams();
    }
    assert_eq!(announced, 100, "at most 100 concurrent streams per connection");

    // A plain request on the connection works, with HSTS.
    let request = axum::http::Request::get(format!("https://localhost:{port}/healthz"))
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));

    // A body sent a byte at a time, never finished: 408 at the deadline, and the
    // connection still serves others.
    client = client.ready().await.expect("ready");
    let request = axum::http::Request::post(format!("https://localhost:{port}/webrtc/calls"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", user("provider").token))
        .body(())
        .expect("request");
    let started = std::time::Instant::now();
    let (response, mut body) = client.send_request(request, false).expect("send");
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            if body.send_data(bytes::Bytes::from_static(b" "), false).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let response = tokio::time::timeout(Duration::from_secs(20), response)
        .await
        .expect("answered well before the trickle ends")
        .expect("response");
    assert_eq!(response.status(), 408, "the trickled body is cut at the deadline");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the deadline: {:?}",
        started.elapsed()
    );
    trickle.abort();
    client = client.ready().await.expect("the connection is still usable");
    let request = axum::http::Request::get(format!("https://localhost:{port}/healthz"))
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    assert_eq!(response.await.expect("response").status(), 200);
}
