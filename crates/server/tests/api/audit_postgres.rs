//! The audit trail on a PostgreSQL deployment as docs/audit-trail.md describes it: the schema
//! owned by a migration role, the server running under a role that may only INSERT and
//! SELECT the trail, and several servers appending to one database while it is verified.
//! These tests always use PostgreSQL.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const KEY: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";

fn vytalcall(database_url: &str, data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env("AUDIT_KEY", KEY)
        .env_remove("VYTALCALL_ENV")
        .env_remove("STORAGE_PROVIDER")
        .output()
        .expect("run vytalcall")
}

fn ok_or_show(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

async fn run_all(pool: &sqlx::AnyPool, statements: &[String]) {
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(s.clone()))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

#[tokio::test]
async fn the_serving_role_may_only_insert_and_select_the_trail() {
    let url = fresh_postgres_url().await;
    let database = url.rsplit('/').next().expect("database name").to_string();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (owner, serve) = (format!("vc_owner_{suffix}"), format!("vc_serve_{suffix}"));
    let admin = sqlx::AnyPool::connect(&url).await.expect("admin");
    run_all(
        &admin,
        &[
            format!("CREATE ROLE {owner} LOGIN"),
            format!("CREATE ROLE {serve} LOGIN"),
            format!("ALTER DATABASE {database} OWNER TO {owner}"),
            format!("ALTER SCHEMA public OWNER TO {owner}"),
        ],
    )
    .await;
    admin.close().await;
    let owner_url = url.replacen("postgres@", &format!("{owner}@"), 1);
    let serve_url = url.replacen("postgres@", &format!("{serve}@"), 1);
    let dir = tempfile::tempdir().expect("dir");
    // Migrations run under the owner, named on the command line.
    ok_or_show(&vytalcall(
        &serve_url,
        dir.path(),
        &["migrate", "--database-url", &owner_url],
    ));
    let owner_pool = sqlx::AnyPool::connect(&owner_url).await.expect("owner");
    run_all(
        &owner_pool,
        &[
            format!("GRANT USAGE ON SCHEMA public TO {serve}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {serve}"),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {serve}"),
            format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM {serve}"),
            format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {serve}"),
        ],
    )
    .await;
    owner_pool.close().await;

    // The server runs under the serving role and writes the trail.
    let app = spawn_app_with(&[("DATABASE_URL", &serve_url), ("AUDIT_KEY", KEY)]).await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.active_call(&provider, &patient).await;
    expect_status(
        app.post(&provider, &format!("/webrtc/calls/{id}/end"), json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert!(app.count("SELECT COUNT(*) FROM audit_log").await >= 3);

    // The same role cannot take anything back, nor disarm the guards.
    for s in [
        "TRUNCATE audit_log",
        "UPDATE audit_log SET outcome = 'denied' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "DROP TRIGGER audit_log_no_change ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
    ] {
        let e = sqlx::query(s).execute(&app.db.pool).await.expect_err(s);
        let text = e.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{s}: refused by privilege, not only by a trigger: {text}"
        );
    }
    let text = ok_or_show(&vytalcall(&serve_url, app.data_dir.path(), &["audit", "checkpoint"]));
    assert!(text.starts_with("vytalcall-audit-checkpoint/v1"), "{text}");
    let text = ok_or_show(&vytalcall(&serve_url, app.data_dir.path(), &["audit", "verify"]));
    assert!(text.starts_with("OK: "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_while_two_servers_append_to_one_database() {
    let url = fresh_postgres_url().await;
    let settings = [
        ("DATABASE_URL", &*url),
        ("AUDIT_KEY", KEY),
        ("AUDIT_CHECKPOINT_SECONDS", "1"),
    ];
    let (a, b) = (
        Arc::new(spawn_app_with(&settings).await),
        Arc::new(spawn_app_with(&settings).await),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|app| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let (provider, patient) = (user("provider"), user("patient"));
                while !stop.load(Ordering::Relaxed) {
                    let r = app
                        .post(&provider, "/webrtc/calls", json!({ "patientId": patient.id }))
                        .await;
                    assert_eq!(r.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let before = a.count("SELECT COUNT(*) FROM audit_log").await;
        let (url, dir) = (url.to_string(), a.data_dir.path().to_path_buf());
        let out = tokio::task::spawn_blocking(move || vytalcall(&url, &dir, &["audit", "verify"]))
            .await
            .expect("verify ran");
        let text = ok_or_show(&out);
        assert!(text.starts_with("OK: "), "{text}");
        let after = a.count("SELECT COUNT(*) FROM audit_log").await;
        seen.push((before, after));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    assert!(
        seen.iter().any(|(before, after)| after > before),
        "appends went on while verify ran: {seen:?}"
    );
    for app in [&a, &b] {
        let text = ok_or_show(&vytalcall(&url, app.data_dir.path(), &["audit", "checkpoint"]));
        assert!(text.starts_with("vytalcall-audit-checkpoint/v1"), "{text}");
        let text = ok_or_show(&vytalcall(&url, app.data_dir.path(), &["audit", "verify"]));
        assert!(text.contains("checked against the checkpoint"), "{text}");
    }
}

/// An auditor verifies under a PostgreSQL role that may only read the trail: `audit verify`
/// changes nothing (it does not migrate), so it needs no more than that.
#[tokio::test]
async fn verify_runs_under_a_role_that_may_only_read_the_trail() {
    let database_url = fresh_postgres_url().await;
    let app = spawn_app_with(&[("DATABASE_URL", &database_url), ("AUDIT_KEY", KEY)]).await;
    let (provider, patient) = (user("provider"), user("patient"));
    app.active_call(&provider, &patient).await;
    let role = format!("auditor_{}", uuid::Uuid::new_v4().simple());
    let database = database_url.rsplit('/').next().expect("database name");
    run_all(
        &app.db.pool,
        &[
            format!("CREATE ROLE {role} LOGIN"),
            format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
            format!("GRANT SELECT ON audit_log TO {role}"),
        ],
    )
    .await;
    let auditor_url = database_url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(auditor_url, database_url, "the test server URL names the postgres user");
    let stdout = ok_or_show(&vytalcall(&auditor_url, app.data_dir.path(), &["audit", "verify"]));
    assert!(stdout.starts_with("OK: "), "{stdout}");
    // The role really is read-only: it cannot write the trail.
    let auditor = sqlx::AnyPool::connect(&auditor_url).await.expect("auditor connects");
    assert!(
        sqlx::query("INSERT INTO audit_log (seq, occurred_at, action, outcome, detail, prev_hash, hash) VALUES (999, 0, 'x', 'x', '{}', 'x', 'x')")
            .execute(&auditor)
            .await
            .is_err()
    );
    auditor.close().await;
}
