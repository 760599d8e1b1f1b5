//! Abuse limits: one client over its allowance gets 429 with `Retry-After`; others go on.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_user_over_their_limit_is_slowed_down_and_others_are_not() {
    // 20 a minute allows a burst of 2.
    let app = spawn_app_with(&[("RATE_LIMIT_PER_USER_PER_MINUTE", "20")]).await;
    let (greedy, other) = (user("provider"), user("provider"));
    for _ in 0..2 {
        expect_status(app.get(&greedy, "/webrtc/calls").await, StatusCode::OK).await;
    }
    let r = app.get(&greedy, "/webrtc/calls").await;
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS, None).await;
    expect_status(app.get(&other, "/webrtc/calls").await, StatusCode::OK).await;
}

#[tokio::test]
async fn an_address_over_its_limit_is_refused_but_probes_still_answer() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "30")]).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get(&user("patient"), "/webrtc/calls").await.status());
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let r = app.http.get(app.url(probe)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{probe}");
    }
}

/// GET /webrtc/calls as `who`, claiming to come from `forwarded_for`.
async fn list_from(app: &TestApp, who: &User, forwarded_for: &str) -> StatusCode {
    app.http
        .get(app.url("/webrtc/calls"))
        .bearer_auth(&who.token)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("request")
        .status()
}

/// Creates a call as `provider` through a proxy that names `forwarded_for`, and returns the
/// client address the audit trail recorded for it.
async fn audited_address_of_a_call_created_from(app: &TestApp, provider: &User, forwarded_for: &str) -> Option<String> {
    use sqlx::Row;
    let r = app
        .http
        .post(app.url("/webrtc/calls"))
        .bearer_auth(&provider.token)
        .header("x-forwarded-for", forwarded_for)
        .json(&serde_json::json!({ "patientId": uuid::Uuid::new_v4() }))
        .send()
        .await
        .expect("request");
    expect_status(r, StatusCode::CREATED).await;
    sqlx::query("SELECT client_addr FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .expect("an audit entry")
        .try_get("client_addr")
        .expect("client_addr")
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit_and_audit_address() {
    // 30 a minute allows a burst of 3 per client address.
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
        ("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "30"),
    ])
    .await;
    let provider = user("provider");
    for _ in 0..3 {
        assert_eq!(list_from(&app, &provider, "198.51.100.1").await, StatusCode::OK);
    }
    assert_eq!(
        list_from(&app, &provider, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the greedy client is limited"
    );
    // A forged hop to the left of the proxy's own entry changes nothing.
    assert_eq!(
        list_from(&app, &provider, "192.0.2.99, 198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged leftmost hop does not reset the limit"
    );
    assert_eq!(
        list_from(&app, &provider, "203.0.113.5").await,
        StatusCode::OK,
        "another client behind the same proxy is not"
    );
    assert_eq!(
        audited_address_of_a_call_created_from(&app, &provider, "203.0.113.5")
            .await
            .as_deref(),
        Some("203.0.113.5")
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "30")]).await;
    let provider = user("provider");
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(list_from(&app, &provider, &format!("198.51.100.{i}")).await);
    }
    assert_eq!(
        statuses[4],
        StatusCode::TOO_MANY_REQUESTS,
        "rotating X-Forwarded-For does not escape the limit: {statuses:?}"
    );
    let app = spawn_app().await;
    let recorded = audited_address_of_a_call_created_from(&app, &provider, "198.51.100.1").await;
    assert!(
        matches!(recorded.as_deref(), Some("127.0.0.1" | "::1")),
        "the audit keeps the real peer: {recorded:?}"
    );
}

/// Sends a request head announcing `length` body bytes, then one byte every half second.
/// Returns the server's first response line, or None if nothing came within `patience`.
async fn trickle(app: &TestApp, length: usize, patience: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /webrtc/calls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        user("provider").token
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await.ok()?;
        for _ in 0..length {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            write.write_all(b" ").await.ok()?;
        }
        Some(())
    });
    let mut buf = vec![0u8; 512];
    let read_line = async {
        let n = read.read(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        text.lines().next().map(str::to_string)
    };
    let line = tokio::time::timeout(patience, read_line).await.ok().flatten();
    writer.abort();
    line
}

#[tokio::test]
async fn a_body_trickled_slowly_is_cut_off_at_the_request_timeout() {
    let app = spawn_app_with(&[("HTTP_REQUEST_TIMEOUT_SECONDS", "2")]).await;
    // 120 bytes at two a second would take a minute; the answer must come long before.
    let line = trickle(&app, 120, std::time::Duration::from_secs(30)).await;
    assert_eq!(line.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
    // The server is fine afterwards.
    expect_status(app.get(&user("provider"), "/webrtc/calls").await, StatusCode::OK).await;
}
