//! Every broken token is 401 with a problem body, and nothing else happens.

use crate::helpers::*;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

const RSA_PRIVATE: &str = include_str!("../fixtures/rsa.pem");
const RSA_PUBLIC: &str = include_str!("../fixtures/rsa.pub");
const EC_PRIVATE: &str = include_str!("../fixtures/ec.pem");
const EC_PUBLIC: &str = include_str!("../fixtures/ec.pub");

fn claims(role: &str, exp: i64) -> Value {
    json!({ "sub": uuid::Uuid::new_v4().to_string(), "role": role, "exp": exp })
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Sends a call creation with `authorization` and checks it is refused and changed nothing.
async fn assert_refused(app: &TestApp, authorization: Option<String>, label: &str) {
    let before = app.audit_entries().await.len();
    let mut req = app
        .http
        .post(app.url("/webrtc/calls"))
        .json(&json!({ "patientId": uuid::Uuid::new_v4() }));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.expect("request");
    assert_eq!(
        r.headers().get("www-authenticate").map(|v| v.to_str().unwrap_or("")),
        Some("Bearer error=\"invalid_token\""),
        "{label}"
    );
    expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM calls").await,
        0,
        "{label}: no call created"
    );
    assert_eq!(app.audit_entries().await.len(), before, "{label}: nothing written");
}

#[tokio::test]
async fn broken_tokens_are_refused_over_rest() {
    let app = spawn_app().await;
    let now = now();
    let sub = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("empty bearer", Some("Bearer ".into())),
        ("basic scheme", Some("Basic dXNlcjpwYXNz".into())),
        ("garbage", Some("Bearer not-a-jwt".into())),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&claims("admin", now + 600).to_string())
            )),
        ),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                sign_with(
                    claims("provider", now + 600),
                    Algorithm::HS256,
                    &EncodingKey::from_secret(b"other")
                )
            )),
        ),
        ("expired", Some(format!("Bearer {}", sign(claims("provider", now - 5))))),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                sign(json!({ "sub": sub, "role": "provider", "exp": now + 600, "nbf": now + 300 }))
            )),
        ),
        (
            "unknown role",
            Some(format!("Bearer {}", sign(claims("superuser", now + 600)))),
        ),
        (
            "role of wrong type",
            Some(format!(
                "Bearer {}",
                sign(json!({ "sub": sub, "role": 1, "exp": now + 600 }))
            )),
        ),
        (
            "missing sub",
            Some(format!(
                "Bearer {}",
                sign(json!({ "role": "provider", "exp": now + 600 }))
            )),
        ),
        (
            "sub not a uuid",
            Some(format!(
                "Bearer {}",
                sign(json!({ "sub": "alice", "role": "provider", "exp": now + 600 }))
            )),
        ),
        (
            "missing role",
            Some(format!("Bearer {}", sign(json!({ "sub": sub, "exp": now + 600 })))),
        ),
        (
            "missing exp",
            Some(format!("Bearer {}", sign(json!({ "sub": sub, "role": "provider" })))),
        ),
        (
            "tampered claims",
            Some({
                let good = sign(claims("patient", now + 600));
                let parts: Vec<&str> = good.split('.').collect();
                format!(
                    "Bearer {}.{}.{}",
                    parts[0],
                    b64(&claims("admin", now + 600).to_string()),
                    parts[2]
                )
            }),
        ),
        (
            "RS256 without a configured key",
            Some(format!(
                "Bearer {}",
                sign_with(
                    claims("provider", now + 600),
                    Algorithm::RS256,
                    &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key")
                )
            )),
        ),
    ];
    for (label, authorization) in cases {
        assert_refused(&app, authorization, label).await;
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_configured_public_key() {
    for (public, private, alg) in [
        (RSA_PUBLIC, RSA_PRIVATE, Algorithm::RS256),
        (EC_PUBLIC, EC_PRIVATE, Algorithm::ES256),
    ] {
        let app = spawn_app_with(&[("JWT_PUBLIC_KEY", public)]).await;
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private.as_bytes()),
            _ => EncodingKey::from_ec_pem(private.as_bytes()),
        }
        .expect("private key");
        let token = sign_with(claims("provider", now() + 600), alg, &key);
        let r = app
            .http
            .get(app.url("/webrtc/calls"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        expect_status(r, StatusCode::OK).await;

        // Key confusion: an HS256 token whose "secret" is the public key must not pass.
        let forged = sign_with(
            claims("admin", now() + 600),
            Algorithm::HS256,
            &EncodingKey::from_secret(public.as_bytes()),
        );
        let r = app
            .http
            .get(app.url("/webrtc/calls"))
            .bearer_auth(&forged)
            .send()
            .await
            .expect("request");
        let body = expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("signature") || d.contains("algorithm")),
            "{body}"
        );

        // The other asymmetric algorithm is refused: the key decides the algorithm.
        let other = match alg {
            Algorithm::RS256 => sign_with(
                claims("provider", now() + 600),
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec"),
            ),
            _ => sign_with(
                claims("provider", now() + 600),
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa"),
            ),
        };
        let r = app
            .http
            .get(app.url("/webrtc/calls"))
            .bearer_auth(&other)
            .send()
            .await
            .expect("request");
        expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
    }
}

#[tokio::test]
async fn the_refusal_says_why_without_echoing_the_token() {
    let app = spawn_app().await;
    let expired = sign(claims("provider", now() - 60));
    let r = app
        .http
        .get(app.url("/webrtc/calls"))
        .bearer_auth(&expired)
        .send()
        .await
        .expect("request");
    let body = expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
    assert_eq!(body["detail"], "token has expired");
    assert!(!body.to_string().contains(&expired));
    let r = app.http.get(app.url("/webrtc/calls")).send().await.expect("request");
    assert_eq!(
        expect_problem(r, StatusCode::UNAUTHORIZED, None).await["detail"],
        "missing bearer token"
    );
}

#[tokio::test]
async fn a_device_id_header_is_recorded_and_a_malformed_one_refused() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let r = app
        .http
        .post(app.url("/webrtc/calls"))
        .bearer_auth(&provider.token)
        .header("x-device-id", "laptop-1")
        .json(&json!({ "patientId": patient.id }))
        .send()
        .await
        .expect("request");
    expect_status(r, StatusCode::CREATED).await;
    use sqlx::Row;
    let row = sqlx::query("SELECT device_id, client_addr FROM audit_log WHERE action = 'call.create'")
        .fetch_one(&app.db.pool)
        .await
        .expect("audit row");
    assert_eq!(
        row.try_get::<Option<String>, _>("device_id").expect("device"),
        Some("laptop-1".into())
    );
    assert_eq!(
        row.try_get::<Option<String>, _>("client_addr").expect("addr"),
        Some("127.0.0.1".into())
    );

    let r = app
        .http
        .get(app.url("/webrtc/calls"))
        .bearer_auth(&provider.token)
        .header("x-device-id", "x".repeat(65))
        .send()
        .await
        .expect("request");
    expect_problem(r, StatusCode::BAD_REQUEST, Some("X-Device-Id")).await;
}

#[tokio::test]
async fn a_server_scoped_by_issuer_audience_and_lifetime_accepts_only_tokens_that_match() {
    let app = spawn_app_with(&[
        ("JWT_ISSUER", "https://platform.example"),
        ("JWT_AUDIENCE", "vytalcall"),
        ("JWT_MAX_LIFETIME_SECONDS", "3600"),
    ])
    .await;
    let now = now();
    let token = |extra: Value| {
        let mut c = json!({ "sub": uuid::Uuid::new_v4().to_string(), "role": "provider",
            "iat": now, "exp": now + 600, "iss": "https://platform.example", "aud": "vytalcall" });
        for (k, v) in extra.as_object().expect("object") {
            match v {
                Value::Null => {
                    c.as_object_mut().expect("object").remove(k);
                }
                v => c[k] = v.clone(),
            }
        }
        format!("Bearer {}", sign(c))
    };
    let ok = app
        .http
        .get(app.url("/webrtc/calls"))
        .header("authorization", token(json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK, "a token that matches every rule");
    let cases = [
        ("another issuer", json!({ "iss": "https://evil.example" })),
        ("no issuer", json!({ "iss": null })),
        ("another audience", json!({ "aud": "other-service" })),
        ("no audience", json!({ "aud": null })),
        ("no issued-at", json!({ "iat": null })),
        ("ten years to live", json!({ "exp": now + 10 * 365 * 86_400 })),
    ];
    for (label, extra) in cases {
        assert_refused(&app, Some(token(extra)), label).await;
    }
}

#[tokio::test]
async fn a_token_with_an_audience_is_accepted_by_a_server_that_asks_for_none() {
    let app = spawn_app().await;
    let t = sign(json!({ "sub": uuid::Uuid::new_v4().to_string(), "role": "provider",
        "exp": now() + 600, "aud": "vytalcall", "iss": "https://platform.example" }));
    let r = app
        .http
        .get(app.url("/webrtc/calls"))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}
