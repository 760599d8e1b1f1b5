//! `spawn_app()`: a real vytalcall server on a random port with a database of its own, and
//! typed helpers to talk to it.
//!
//! The database is SQLite in a temporary directory, or, with `VYTALCALL_TEST_DB=postgres`,
//! a fresh PostgreSQL database on `VYTALCALL_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`). Either is removed when the test that made it ends
//! ([`TestDatabase`]); databases a killed run left behind are swept at the next run's start.
//!
//! The servers' logs are discarded unless `TEST_LOG` is set (`TEST_LOG=1 cargo test ...`):
//! then they go to stdout, filtered by `RUST_LOG`, and servers started as processes keep
//! their output too.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;
use vytalcall::config::{LogFormat, Mode, Settings};
use vytalcall::startup::Application;
use vytalcall::storage::Db;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: Db,
    pub database_url: String,
    /// The server's recording service (its key ring, its decrypt path), for tests that
    /// look behind the API.
    pub recordings: std::sync::Arc<vytalcall::recording::RecordingService>,
    /// Dropped first: tells the server to stop.
    _stop: tokio::sync::oneshot::Sender<()>,
    /// The database this app made for itself (none when the test passed `DATABASE_URL`).
    _database: Option<TestDatabase>,
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

/// Whether the servers' logs are wanted (`TEST_LOG` set, as in zero2prod).
pub fn test_log() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

/// Sends the in-process servers' logs to stdout when `TEST_LOG` is set; otherwise no
/// subscriber is installed and logs go nowhere.
fn init_test_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if test_log() {
            vytalcall::telemetry::init_logging_to(LogFormat::Text, std::io::stdout);
        }
    });
}

/// One test's database, removed when this value is dropped (at the end of the test that
/// made it, also when it fails). It reads as its URL.
///
/// A PostgreSQL database is dropped `WITH (FORCE)`, so connections a server still holds do
/// not keep it alive; SQLite lives in the test's temporary directory and goes with it.
pub struct TestDatabase {
    url: String,
    /// The PostgreSQL server's URL and the database's name.
    postgres: Option<(String, String)>,
}

impl std::ops::Deref for TestDatabase {
    type Target = str;
    fn deref(&self) -> &str {
        &self.url
    }
}

impl AsRef<str> for TestDatabase {
    fn as_ref(&self) -> &str {
        &self.url
    }
}

impl AsRef<std::ffi::OsStr> for TestDatabase {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.url.as_ref()
    }
}

impl std::fmt::Display for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.url)
    }
}

impl PartialEq<TestDatabase> for String {
    fn eq(&self, other: &TestDatabase) -> bool {
        *self == other.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop may run inside a test's runtime, which cannot be blocked on: a thread of its
        // own runs the statement on a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = sqlx::AnyPool::connect(&format!("{server}/postgres")).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let result = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                admin.close().await;
                result.map(|_| ())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(name)
        })
        .join();
        match dropped {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("could not drop a test database: {e}"),
            Err(_) => eprintln!("could not drop a test database: the dropping thread panicked"),
        }
    }
}

/// A fresh, empty database for one test.
pub async fn fresh_database_url(data_dir: &std::path::Path) -> TestDatabase {
    if !test_database_is_postgres() {
        return TestDatabase {
            url: format!("sqlite://{}?mode=rwc", data_dir.join("test.db").display()),
            postgres: None,
        };
    }
    fresh_postgres_url().await
}

/// Test databases are named `vytalcall_test_<unix seconds>_<random>`: the time lets the sweep
/// tell a database left by a killed run from one a running test is using.
const TEST_DATABASE_PREFIX: &str = "vytalcall_test_";

/// A database whose name is older than this was left by a run that did not end normally.
const LEFT_BEHIND_AFTER_SECONDS: u64 = 3600;

/// A new, empty PostgreSQL database (whatever `VYTALCALL_TEST_DB` says).
pub async fn fresh_postgres_url() -> TestDatabase {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    let server = std::env::var("VYTALCALL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!(
        "{TEST_DATABASE_PREFIX}{now}_{}",
        &Uuid::new_v4().simple().to_string()[..16]
    );
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL is reachable");
    if !SWEPT.swap(true, Ordering::SeqCst) {
        sweep_left_behind(&admin, now).await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    TestDatabase {
        url: format!("{server}/{name}"),
        postgres: Some((server, name)),
    }
}

/// Drops the test databases that runs killed before their end left behind (named more than
/// an hour ago). A database still in use is never dropped: without `FORCE`, PostgreSQL
/// refuses while anyone is connected, and that refusal is ignored.
async fn sweep_left_behind(admin: &sqlx::AnyPool, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'vytalcall_test_%'")
            .fetch_all(admin)
            .await
            .unwrap_or_else(|e| {
                eprintln!("could not list test databases to sweep: {e}");
                Vec::new()
            });
    for name in names {
        let created = name
            .strip_prefix(TEST_DATABASE_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(secs, _)| secs.parse::<u64>().ok());
        let left_behind = created.is_some_and(|t| now.saturating_sub(t) > LEFT_BEHIND_AFTER_SECONDS);
        let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if left_behind && plain {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                .execute(admin)
                .await;
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a server with extra environment-style settings on top of the test defaults. A
/// `DATABASE_URL` among them is used as it is (the caller owns that database); otherwise
/// the app makes a fresh one, removed when the app is dropped.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    init_test_logging();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let given_url = extra
        .iter()
        .find(|(k, _)| *k == "DATABASE_URL")
        .map(|(_, v)| v.to_string());
    let (database_url, own_database) = match given_url {
        Some(url) => (url, None),
        None => {
            let database = fresh_database_url(data_dir.path()).await;
            (database.to_string(), Some(database))
        }
    };
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
    let mut settings = Settings::from_map(&vars).expect("valid test settings");
    if settings.mode == Mode::Development {
        // As the CLI does before serving: the recording master key is generated into the
        // data directory, where the operator commands the tests run find it too.
        vytalcall::demo::fill_development_secrets(&mut settings).expect("development secrets");
    }
    let app = Application::build(settings).await.expect("server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let recordings = app.state().recordings.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        http: reqwest::Client::new(),
        db,
        database_url,
        recordings,
        _stop: stop,
        _database: own_database,
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

    /// A public document (no token), parsed as JSON.
    pub async fn public_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
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
/// rate limits off, output discarded (kept, with `RUST_LOG` as set, when `TEST_LOG` is set).
pub fn start_server_process(
    bin: impl AsRef<std::ffi::OsStr>,
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
) -> std::process::Child {
    start_server_process_with(bin, database_url, data_dir, port, &[])
}

/// [`start_server_process`] with more settings (`extra`, applied last).
pub fn start_server_process_with(
    bin: impl AsRef<std::ffi::OsStr>,
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
    extra: &[(&str, &str)],
) -> std::process::Child {
    let mut command = std::process::Command::new(bin);
    command
        .args(["--port", &port.to_string()])
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
        .env("RATE_LIMIT_PER_USER_PER_MINUTE", "0")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG")
                .ok()
                .filter(|_| test_log())
                .unwrap_or_else(|| "warn".into()),
        )
        .env_remove("STORAGE_PROVIDER")
        .env_remove("RECORDING_MASTER_KEY")
        .env_remove("VYTALCALL_ENV")
        .stdout(output())
        .stderr(output());
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().expect("start vytalcall")
}

/// Where a server process's output goes: nowhere, or the test's own with `TEST_LOG`.
fn output() -> std::process::Stdio {
    if test_log() {
        std::process::Stdio::inherit()
    } else {
        std::process::Stdio::null()
    }
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
