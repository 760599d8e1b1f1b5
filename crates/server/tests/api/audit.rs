//! The audit trail is append-only and hash-chained; `vytalcall audit verify` finds the first
//! entry anyone altered, even with direct database access.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;

fn verify(app: &TestApp) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.database_url)
        .env("DATA_DIR", app.data_dir.path())
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("run vytalcall audit verify");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

async fn some_history(app: &TestApp) {
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.active_call(&provider, &patient).await;
    expect_status(
        app.post(&provider, &format!("/webrtc/calls/{id}/end"), json!({})).await,
        StatusCode::OK,
    )
    .await;
    app.get(&user("patient"), &format!("/webrtc/calls/{id}")).await;
}

/// Lets a test play a privileged attacker who can bypass the append-only trigger.
async fn drop_append_only_guard(app: &TestApp) {
    let statements: &[&'static str] = if test_database_is_postgres() {
        &["ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"]
    } else {
        &["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"]
    };
    for s in statements {
        sqlx::query(*s).execute(&app.db.pool).await.expect("drop guard");
    }
}

#[tokio::test]
async fn an_untouched_trail_verifies() {
    let app = spawn_app().await;
    some_history(&app).await;
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.starts_with("OK: "), "{out}");
    let n: i64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(n, app.audit_entries().await.len() as i64);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_entries() {
    let app = spawn_app().await;
    some_history(&app).await;
    assert!(
        sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 1")
            .execute(&app.db.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(&app.db.pool)
            .await
            .is_err()
    );
    assert!(verify(&app).0);
}

#[tokio::test]
async fn an_edited_entry_is_named_by_verify() {
    let app = spawn_app().await;
    some_history(&app).await;
    drop_append_only_guard(&app).await;
    sqlx::query("UPDATE audit_log SET actor_role = 'admin' WHERE seq = 3")
        .execute(&app.db.pool)
        .await
        .expect("tamper");
    let (ok, out) = verify(&app);
    assert!(!ok, "{out}");
    assert!(out.starts_with("BROKEN at entry 3:"), "{out}");
}

#[tokio::test]
async fn deleted_and_reordered_entries_are_detected() {
    let app = spawn_app().await;
    some_history(&app).await;
    drop_append_only_guard(&app).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&app.db.pool)
        .await
        .expect("tamper");
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.starts_with("BROKEN at entry 3:"), "{out}");

    let app = spawn_app().await;
    some_history(&app).await;
    drop_append_only_guard(&app).await;
    for s in [
        "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 1000",
    ] {
        sqlx::query(s).execute(&app.db.pool).await.expect("reorder");
    }
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.starts_with("BROKEN at entry 2:"), "{out}");

    let app = spawn_app().await;
    some_history(&app).await;
    drop_append_only_guard(&app).await;
    let last = app.audit_entries().await.len();
    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM audit_log WHERE seq = {last}")))
        .execute(&app.db.pool)
        .await
        .expect("truncate");
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.contains("removed from the end"), "{out}");
}

#[tokio::test]
async fn concurrent_writers_never_fork_the_chain() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let creates = (0..12).map(|_| app.post(&provider, "/webrtc/calls", json!({ "patientId": patient.id })));
    for r in futures_util::future::join_all(creates).await {
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 12);
}

/// An auditor verifies under a PostgreSQL role that may only read the trail: `audit verify`
/// changes nothing (it does not migrate), so it needs no more than that.
#[tokio::test]
async fn verify_runs_under_a_role_that_may_only_read_the_trail() {
    let database_url = fresh_postgres_url().await;
    let app = spawn_app_with(&[("DATABASE_URL", &database_url)]).await;
    some_history(&app).await;
    let role = format!("auditor_{}", uuid::Uuid::new_v4().simple());
    let database = database_url.rsplit('/').next().expect("database name");
    for s in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
        format!("GRANT SELECT ON audit_log, audit_head TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(s))
            .execute(&app.db.pool)
            .await
            .expect("auditor role");
    }
    let auditor_url = database_url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(auditor_url, database_url, "the test server URL names the postgres user");
    let out = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &auditor_url)
        .env("DATA_DIR", app.data_dir.path())
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("run vytalcall audit verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("OK: "), "{stdout}");
    // The role really is read-only: it cannot write the trail.
    let auditor = sqlx::AnyPool::connect(&auditor_url).await.expect("auditor connects");
    assert!(
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&auditor)
            .await
            .is_err()
    );
    auditor.close().await;
}
