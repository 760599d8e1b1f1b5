//! Health, readiness, metrics, ICE servers, and the OpenAPI document.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(expect_status(r, StatusCode::OK).await["status"], "ok");
    let r = app.http.get(app.url("/readyz")).send().await.expect("request");
    assert_eq!(expect_status(r, StatusCode::OK).await["database"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.pool.close().await;
    let r = app.http.get(app.url("/readyz")).send().await.expect("request");
    expect_problem(r, StatusCode::SERVICE_UNAVAILABLE, None).await;
    let r = app
        .post(
            &user("provider"),
            "/webrtc/calls",
            json!({ "patientId": uuid::Uuid::new_v4() }),
        )
        .await;
    expect_problem(r, StatusCode::SERVICE_UNAVAILABLE, None).await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_calls_by_state() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    app.get(&provider, &format!("/webrtc/calls/{id}")).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("vytalcall_http_requests_total{method=\"GET\",route=\"/webrtc/calls/{id}\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("vytalcall_http_request_duration_seconds_bucket"),
        "a histogram: {text}"
    );
    assert!(text.contains("vytalcall_calls{state=\"ringing\"} 1"), "{text}");
    assert!(!text.contains(&id), "metrics never carry ids");
}

#[tokio::test]
async fn ice_servers_give_time_limited_turn_credentials_in_coturns_scheme() {
    let app = spawn_app().await;
    // A token that outlives the default credential lifetime, so the lifetime shows.
    let mut who = user("patient");
    who.token = sign(json!({ "sub": who.id.to_string(), "role": "patient", "exp": now() + 3 * 86_400 }));
    let body = expect_status(app.get(&who, "/webrtc/ice-servers").await, StatusCode::OK).await;
    let servers = body["iceServers"].as_array().expect("iceServers");
    assert_eq!(
        servers[0]["urls"],
        json!(["stun:stun.l.google.com:19302", "stun:stun1.l.google.com:19302"])
    );
    let turn = &servers[1];
    assert_eq!(turn["urls"], json!(["turn:turn.example.org:3478"]));
    let username = turn["username"].as_str().expect("username");
    let (expiry, user_id) = username.split_once(':').expect("expiry:user");
    assert_eq!(user_id, who.id.to_string());
    let expiry: i64 = expiry.parse().expect("unix time");
    assert!((expiry - now() - 86_400).abs() < 5, "default lifetime one day");
    // password = base64(HMAC-SHA1(secret, username)), recomputed here independently.
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(b"turn-shared-secret").expect("key");
    mac.update(username.as_bytes());
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn["credential"], expected);
    assert!(body["expiresAt"].is_string());
}

#[tokio::test]
async fn a_turn_credential_expires_with_the_token_it_was_issued_for() {
    let app = spawn_app().await;
    let who = user("provider"); // its token expires in 600 s
    let body = expect_status(app.get(&who, "/webrtc/ice-servers").await, StatusCode::OK).await;
    let username = body["iceServers"][1]["username"].as_str().expect("username");
    let expiry: i64 = username
        .split_once(':')
        .expect("expiry:user")
        .0
        .parse()
        .expect("unix time");
    assert!(
        (expiry - (now() + 600)).abs() < 5,
        "credential ends with the token, not a day later"
    );
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().expect("expiresAt")).expect("RFC 3339");
    assert_eq!(expires_at.timestamp(), expiry);
}

#[tokio::test]
async fn ice_servers_fall_back_to_static_turn_credentials() {
    let app = spawn_app_with(&[
        ("TURN_SECRET", ""),
        ("WEBRTC_TURN_USERNAME", "static-user"),
        ("WEBRTC_TURN_PASSWORD", "static-pass"),
    ])
    .await;
    let body = expect_status(app.get(&user("provider"), "/webrtc/ice-servers").await, StatusCode::OK).await;
    assert_eq!(body["iceServers"][1]["username"], "static-user");
    assert_eq!(body["iceServers"][1]["credential"], "static-pass");
    assert!(body.get("expiresAt").is_none());
    let r = app
        .http
        .get(app.url("/webrtc/ice-servers"))
        .send()
        .await
        .expect("request");
    expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_schemas() {
    let app = spawn_app().await;
    let doc = app.public_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/webrtc/calls", "post"),
        ("/webrtc/calls", "get"),
        ("/webrtc/calls/{id}", "get"),
        ("/webrtc/calls/{id}/answer", "post"),
        ("/webrtc/calls/{id}/end", "post"),
        ("/webrtc/calls/{id}/cancel", "post"),
        ("/webrtc/calls/{id}/record", "post"),
        ("/webrtc/calls/{id}/recordings/{recordingId}/stop", "post"),
        ("/webrtc/calls/{id}/recordings/{recordingId}", "get"),
        ("/webrtc/stats", "get"),
        ("/webrtc/ice-servers", "get"),
        ("/webrtc/audit", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} documented"))[method];
        assert!(op.is_object(), "{method} {path}");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} responses"
        );
        if method == "post" && !path.contains("/stop") {
            assert!(op["requestBody"].is_object(), "{method} {path} request body");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "CallDetails",
        "CallView",
        "CallPage",
        "CallStats",
        "Problem",
        "CreateCallBody",
        "AnswerBody",
        "IceServers",
        "AuditPage",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let docs = app.http.get(app.url("/docs/")).send().await.expect("request");
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.expect("html");
    assert!(html.contains("swagger"), "a docs page");
    assert!(!html.contains("https://"), "served by the binary, no CDN");
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = spawn_app().await;
    let r = app.get(&user("provider"), "/webrtc/calls").await;
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(r.headers().get(h).and_then(|x| x.to_str().ok()), Some(v), "{h}");
    }
}

#[tokio::test]
async fn cors_admits_only_the_configured_frontend() {
    let app = spawn_app_with(&[("FRONTEND_URL", "https://app.example.org")]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/webrtc/calls"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let ok = preflight("https://app.example.org").await.expect("request");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.org")
    );
    let evil = preflight("https://evil.example").await.expect("request");
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    for partial in [&b""[..], &b"GET /healthz HTTP/1.1\r\nHost: x\r\n"[..]] {
        let mut stalled = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        stalled.write_all(partial).await.expect("write");
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), stalled.read(&mut buf)).await;
        assert!(
            closed.is_ok(),
            "a stalled connection ({} bytes sent) is closed",
            partial.len()
        );
    }
    // Well-behaved clients are unaffected.
    let r = app.http.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}

/// A stopped server lets go of its database connections. (The signaling handlers once held
/// the server in a reference cycle, so every server a process had started kept its pool
/// open until PostgreSQL refused new clients.)
#[test]
fn a_stopped_server_closes_its_database_connections() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let database_url = runtime().block_on(fresh_postgres_url());
    let name = database_url.rsplit('/').next().expect("database name").to_string();
    let server = runtime();
    server.block_on(async {
        let app = spawn_app_with(&[("DATABASE_URL", &database_url)]).await;
        let (provider, patient) = (user("provider"), user("patient"));
        app.create_call(&provider, &patient).await;
        let r = app.http.get(app.url("/readyz")).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::OK);
    });
    drop(server);
    let connections = runtime().block_on(async {
        let admin = sqlx::AnyPool::connect(&database_url.replace(&name, "postgres"))
            .await
            .expect("PostgreSQL is reachable");
        let mut left = -1;
        for _ in 0..50 {
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
            left = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&admin)
                .await
                .expect("count");
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        left
    });
    assert_eq!(connections, 0, "connections left open by a stopped server");
}
