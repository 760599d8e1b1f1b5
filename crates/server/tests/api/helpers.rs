//! `spawn_app()`: a real vytalcall server on a random port with a database of its own, and
//! typed helpers to talk to it.
//!
//! The database is SQLite in a temporary directory, or, with `VYTALCALL_TEST_DB=postgres`,
//! a fresh PostgreSQL database on `VYTALCALL_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), dropped at the end of the run by nobody: each test
//! uses a unique name, so runs never see each other's data.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use vytalcall::config::Settings;
use vytalcall::startup::Application;
use vytalcall::storage::Db;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: Db,
    pub database_url: String,
    pub data_dir: tempfile::TempDir,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub role: &'static str,
    pub token: String,
}

pub fn test_database_is_postgres() -> bool {
    std::env::var("VYTALCALL_TEST_DB").is_ok_and(|v| v == "postgres")
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database_url(data_dir: &std::path::Path) -> String {
    if !test_database_is_postgres() {
        return format!("sqlite://{}?mode=rwc", data_dir.join("test.db").display());
    }
    fresh_postgres_url().await
}

/// A new, empty PostgreSQL database (whatever `VYTALCALL_TEST_DB` says).
pub async fn fresh_postgres_url() -> String {
    let server = std::env::var("VYTALCALL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("vytalcall_test_{}", Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL is reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    format!("{server}/{name}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a server with extra environment-style settings on top of the test defaults.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database_url(data_dir.path()).await;
    let mut vars: HashMap<String, String> = [
        ("PORT", "0"),
        ("JWT_SECRET", SECRET),
        ("JWT_LEEWAY_SECONDS", "0"),
        ("TURN_SECRET", "turn-shared-secret"),
        ("WEBRTC_TURN_SERVERS", "turn:turn.example.org:3478"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("DATA_DIR".into(), data_dir.path().display().to_string());
    vars.insert("DATABASE_URL".into(), database_url.clone());
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_map(&vars).expect("valid test settings");
    let app = Application::build(settings).await.expect("server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        base,
        http: reqwest::Client::new(),
        db,
        database_url,
        data_dir,
    }
}

pub fn sign(claims: Value) -> String {
    sign_with(claims, Algorithm::HS256, &EncodingKey::from_secret(SECRET.as_bytes()))
}

pub fn sign_with(claims: Value, alg: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("sign")
}

pub fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

pub fn user(role: &'static str) -> User {
    let id = Uuid::new_v4();
    let token = sign(json!({ "sub": id.to_string(), "role": role, "exp": now() + 600, "name": "Test User" }));
    User { id, role, token }
}

/// The cast of the access matrix: a call's patient and provider, and strangers to it.
pub struct Cast {
    pub patient: User,
    pub provider: User,
    pub other_patient: User,
    pub other_provider: User,
    pub admin: User,
}

pub fn cast() -> Cast {
    Cast {
        patient: user("patient"),
        provider: user("provider"),
        other_patient: user("patient"),
        other_provider: user("provider"),
        admin: user("admin"),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, who: &User, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&who.token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, who: &User, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Places an immediate video call from `provider` to `patient`; returns its id.
    pub async fn create_call(&self, provider: &User, patient: &User) -> String {
        let r = self
            .post(
                provider,
                "/webrtc/calls",
                json!({ "patientId": patient.id, "type": "video" }),
            )
            .await;
        let body = expect_status(r, StatusCode::CREATED).await;
        body["id"].as_str().expect("call id").to_string()
    }

    /// A call that has been answered by the patient (state `active`).
    pub async fn active_call(&self, provider: &User, patient: &User) -> String {
        let id = self.create_call(provider, patient).await;
        let r = self
            .post(patient, &format!("/webrtc/calls/{id}/answer"), json!({}))
            .await;
        expect_status(r, StatusCode::OK).await;
        id
    }

    pub async fn audit_entries(&self) -> Vec<(String, String, Option<String>, Option<String>)> {
        use sqlx::Row;
        sqlx::query("SELECT action, outcome, actor_id, call_id FROM audit_log ORDER BY seq")
            .fetch_all(&self.db.pool)
            .await
            .expect("read audit log")
            .iter()
            .map(|r| {
                (
                    r.try_get("action").expect("action"),
                    r.try_get("outcome").expect("outcome"),
                    r.try_get("actor_id").expect("actor"),
                    r.try_get("call_id").expect("call"),
                )
            })
            .collect()
    }

    pub async fn count(&self, table_query: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(table_query)
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
            .try_get(0)
            .expect("n")
    }
}

/// Asserts the status and returns the JSON body; shows the body when the status is wrong.
pub async fn expect_status(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if !got.is_success() {
        assert_eq!(
            content_type, "application/problem+json",
            "errors are problem+json: {text}"
        );
    }
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts a problem response naming `field`.
pub async fn expect_problem(r: Response, status: StatusCode, field: Option<&str>) -> Value {
    let body = expect_status(r, status).await;
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "a detail: {body}"
    );
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
    body
}

/// A free loopback port, for a server started as a process of its own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The server binary `bin` as an operator starts it: development mode (the recording master
/// key is generated into the data directory on first start and read from there afterwards),
/// rate limits off, output discarded.
pub fn start_server_process(
    bin: impl AsRef<std::ffi::OsStr>,
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
) -> std::process::Child {
    std::process::Command::new(bin)
        .args(["--port", &port.to_string()])
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
        .env("RATE_LIMIT_PER_USER_PER_MINUTE", "0")
        .env("RUST_LOG", "warn")
        .env_remove("STORAGE_PROVIDER")
        .env_remove("RECORDING_MASTER_KEY")
        .env_remove("VYTALCALL_ENV")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start vytalcall")
}

/// Waits until the server at `base` answers `/readyz` with 200, polling every 100 ms.
pub async fn wait_ready(http: &reqwest::Client, base: &str, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("server did not become ready");
}
