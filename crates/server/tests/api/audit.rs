//! The audit trail holds against the database's own users: every entry is keyed under
//! AUDIT_KEY, checkpoints of the head live outside the database, and `vytalcall audit
//! verify` names what an attacker with the database did, with the triggers dropped first.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use std::process::{Command, Output};
use vytalcall_domain::audit::{AuditFact, GENESIS_HASH, link_hash};

fn vytalcall(database_url: &str, data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env_remove("AUDIT_KEY")
        .env_remove("VYTALCALL_ENV")
        .env_remove("STORAGE_PROVIDER")
        .output()
        .expect("run vytalcall")
}

fn verify_with(app: &TestApp, extra: &[&str]) -> (bool, String) {
    let args: Vec<&str> = ["audit", "verify"].iter().chain(extra).copied().collect();
    let out = vytalcall(&app.database_url, app.data_dir.path(), &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn verify(app: &TestApp) -> (bool, String) {
    verify_with(app, &[])
}

/// `vytalcall audit checkpoint`: signs and stores the current head, returns the printed line.
fn checkpoint(app: &TestApp) -> String {
    let out = vytalcall(&app.database_url, app.data_dir.path(), &["audit", "checkpoint"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn assert_broken(app: &TestApp, needle: &str) -> String {
    let (ok, out) = verify(app);
    assert!(!ok, "verify passed a tampered trail: {out}");
    assert!(out.starts_with("BROKEN"), "{out}");
    assert!(out.contains(needle), "expected {needle:?} in: {out}");
    out
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

async fn exec(app: &TestApp, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&app.db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Plays a privileged attacker: drops every trigger that guards the trail.
async fn drop_append_only_guard(app: &TestApp) {
    let statements: &[&'static str] = if test_database_is_postgres() {
        &[
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "DROP TRIGGER audit_log_no_truncate ON audit_log",
        ]
    } else {
        &["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"]
    };
    for s in statements {
        exec(app, s.to_string()).await;
    }
}

async fn count(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM audit_log").await
}

async fn hash_of(app: &TestApp, seq: i64) -> String {
    sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(&app.db.pool)
        .await
        .expect("entry")
        .try_get(0)
        .expect("hash")
}

/// SQLite keeps a head row; an attacker moves it to match what they left.
async fn move_head(app: &TestApp, seq: i64, hash: &str) {
    if !test_database_is_postgres() {
        exec(
            app,
            format!("UPDATE audit_head SET seq = {seq}, hash = '{hash}' WHERE id = 1"),
        )
        .await;
    }
}

async fn tampered_app() -> TestApp {
    let app = spawn_app().await;
    some_history(&app).await;
    some_history(&app).await;
    checkpoint(&app);
    drop_append_only_guard(&app).await;
    app
}

#[tokio::test]
async fn an_untouched_trail_verifies_against_its_checkpoint() {
    let app = spawn_app().await;
    some_history(&app).await;
    checkpoint(&app);
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.starts_with("OK: "), "{out}");
    let n: i64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(n, count(&app).await);
    assert!(out.contains(&format!("checkpoint of entry {n}")), "{out}");
    assert!(!out.contains("legacy"), "{out}");
}

#[tokio::test]
async fn the_database_refuses_to_change_delete_or_truncate_audit_entries() {
    let app = spawn_app().await;
    some_history(&app).await;
    for s in [
        "UPDATE audit_log SET outcome = 'denied' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ] {
        assert!(sqlx::query(s).execute(&app.db.pool).await.is_err(), "{s}");
    }
    if test_database_is_postgres() {
        let e = sqlx::query("TRUNCATE audit_log")
            .execute(&app.db.pool)
            .await
            .expect_err("TRUNCATE refused");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    assert!(verify(&app).0);
}

#[tokio::test]
async fn an_edited_entry_is_named_as_altered() {
    let app = tampered_app().await;
    exec(&app, "UPDATE audit_log SET actor_role = 'admin' WHERE seq = 3".into()).await;
    let out = assert_broken(&app, "altered");
    assert!(out.starts_with("BROKEN at entry 3:"), "{out}");
}

#[tokio::test]
async fn an_entry_deleted_from_the_middle_is_named_as_missing() {
    let app = tampered_app().await;
    exec(&app, "DELETE FROM audit_log WHERE seq = 2".into()).await;
    let out = assert_broken(&app, "entry 2 is missing");
    assert!(out.starts_with("BROKEN at entry 3:"), "{out}");
}

#[tokio::test]
async fn reordered_entries_are_named_as_out_of_order() {
    let app = tampered_app().await;
    for s in [
        "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 1000",
    ] {
        exec(&app, s.into()).await;
    }
    let out = assert_broken(&app, "out of order");
    assert!(out.starts_with("BROKEN at entry 2:"), "{out}");
}

#[tokio::test]
async fn the_newest_entries_deleted_with_the_head_moved_to_match_are_caught_by_the_checkpoint() {
    let app = tampered_app().await;
    let n = count(&app).await;
    exec(&app, format!("DELETE FROM audit_log WHERE seq > {}", n - 2)).await;
    move_head(&app, n - 2, &hash_of(&app, n - 2).await).await;
    let out = assert_broken(&app, "shorter than its last checkpoint");
    assert!(out.contains(&format!("recorded entry {n}")), "{out}");
}

#[tokio::test]
async fn an_emptied_table_with_a_reset_head_is_caught_by_the_checkpoint() {
    let app = tampered_app().await;
    let empty = if test_database_is_postgres() {
        "TRUNCATE audit_log"
    } else {
        "DELETE FROM audit_log"
    };
    exec(&app, empty.into()).await;
    move_head(&app, 0, GENESIS_HASH).await;
    assert_broken(&app, "ends at entry 0");
}

/// A copy of the database as it was a while ago: `VACUUM INTO` on SQLite; on PostgreSQL a
/// fresh database holding the trail's first `keep` entries, as a restore would leave it.
async fn older_copy(app: &TestApp, keep: i64) -> (String, tempfile::TempDir, Option<TestDatabase>) {
    let dir = tempfile::tempdir().expect("dir");
    if !test_database_is_postgres() {
        let file = dir.path().join("old.db");
        exec(app, format!("VACUUM INTO '{}'", file.display())).await;
        return (format!("sqlite://{}?mode=rwc", file.display()), dir, None);
    }
    let url = fresh_postgres_url().await;
    assert!(vytalcall(&url, dir.path(), &["migrate"]).status.success());
    let copy = sqlx::AnyPool::connect(&url).await.expect("copy");
    let rows = sqlx::query(
        "SELECT seq, occurred_at, action, outcome, detail, prev_hash, hash, mac, actor_id, actor_role, device_id, client_addr, call_id, recording_id FROM audit_log WHERE seq <= $1 ORDER BY seq",
    )
    .bind(keep)
    .fetch_all(&app.db.pool)
    .await
    .expect("rows");
    for r in rows {
        let mut q = sqlx::query(
            "INSERT INTO audit_log (seq, occurred_at, action, outcome, detail, prev_hash, hash, mac, actor_id, actor_role, device_id, client_addr, call_id, recording_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(r.get::<i64, _>(0))
        .bind(r.get::<i64, _>(1));
        for i in 2..14 {
            q = q.bind(r.get::<Option<String>, _>(i));
        }
        q.execute(&copy).await.expect("copy row");
    }
    copy.close().await;
    (url.to_string(), dir, Some(url))
}

#[tokio::test]
async fn an_older_copy_of_the_whole_database_put_back_is_caught_by_the_checkpoint() {
    let app = spawn_app().await;
    some_history(&app).await;
    let (old_url, _old, _old_db) = older_copy(&app, count(&app).await).await;
    some_history(&app).await;
    checkpoint(&app);
    let out = vytalcall(&old_url, app.data_dir.path(), &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("shorter than its last checkpoint"), "{text}");
}

const FORGED: &str = r#"{"forged":true}"#;

/// Rewrites every entry from `from` on with its detail changed, the SHA-256 chain recomputed
/// and the authentication code kept (`keep_mac`) or removed, as someone without the key must.
async fn rewrite_from(app: &TestApp, from: i64, keep_mac: bool) {
    let rows = sqlx::query("SELECT seq, occurred_at, actor_id, actor_role, device_id, client_addr, action, call_id, recording_id, outcome, detail FROM audit_log ORDER BY seq")
    .fetch_all(&app.db.pool)
    .await
    .expect("rows");
    let mut prev = GENESIS_HASH.to_string();
    for r in rows {
        let seq: i64 = r.get(0);
        let fact = AuditFact {
            occurred_at: r.get(1),
            actor_id: r.get(2),
            actor_role: r.get(3),
            device_id: r.get(4),
            client_addr: r.get(5),
            action: r.get(6),
            call_id: r.get(7),
            recording_id: r.get(8),
            outcome: r.get(9),
            detail: if seq >= from { FORGED.into() } else { r.get(10) },
        };
        let hash = link_hash(seq, &prev, &fact);
        if seq >= from {
            let mac = if keep_mac { "mac" } else { "NULL" };
            exec(
                app,
                format!(
                    "UPDATE audit_log SET detail = '{FORGED}', prev_hash = '{prev}', hash = '{hash}', mac = {mac} WHERE seq = {seq}"
                ),
            )
            .await;
        }
        prev = hash;
    }
    let n = count(app).await;
    move_head(app, n, &prev).await;
}

#[tokio::test]
async fn a_suffix_rewritten_with_recomputed_hashes_fails_its_authentication_code() {
    let app = tampered_app().await;
    rewrite_from(&app, 4, true).await;
    let out = assert_broken(&app, "authentication code does not match");
    assert!(out.starts_with("BROKEN at entry 4:"), "{out}");

    let app = tampered_app().await;
    rewrite_from(&app, 4, false).await;
    let out = assert_broken(&app, "no authentication code although entries before it do");
    assert!(out.starts_with("BROKEN at entry 4:"), "{out}");
}

#[tokio::test]
async fn a_whole_trail_rewritten_as_unkeyed_legacy_entries_differs_from_the_checkpoint() {
    let app = tampered_app().await;
    rewrite_from(&app, 1, false).await;
    assert_broken(&app, "differs from the checkpoint");
}

#[tokio::test]
async fn entries_from_before_the_trail_was_keyed_verify_as_unkeyed_legacy_entries() {
    let app = spawn_app().await;
    some_history(&app).await;
    // Rows written before the keyed schema carry no code; here the first three stand in.
    drop_append_only_guard(&app).await;
    exec(&app, "UPDATE audit_log SET mac = NULL WHERE seq <= 3".into()).await;
    checkpoint(&app);
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.contains("3 unkeyed legacy entries (1-3)"), "{out}");
    // Their hash chain is still checked.
    exec(&app, "UPDATE audit_log SET action = 'nothing' WHERE seq = 2".into()).await;
    let out = assert_broken(&app, "altered");
    assert!(out.starts_with("BROKEN at entry 2:"), "{out}");
}

#[tokio::test]
async fn audit_checkpoint_prints_a_signed_head_that_verify_checks_with_expect_head() {
    let app = tampered_app().await;
    let head = checkpoint(&app);
    assert!(head.starts_with("vytalcall-audit-checkpoint/v1 seq="), "{head}");
    let (ok, out) = verify_with(&app, &["--expect-head", &head]);
    assert!(ok, "{out}");
    // Someone with the database and the data directory removes the tail and the local
    // checkpoint; the head the operator kept elsewhere still names what is gone.
    let n = count(&app).await;
    exec(&app, format!("DELETE FROM audit_log WHERE seq = {n}")).await;
    move_head(&app, n - 1, &hash_of(&app, n - 1).await).await;
    std::fs::remove_file(app.data_dir.path().join("audit-checkpoint")).expect("remove checkpoint");
    let (ok, out) = verify(&app);
    assert!(ok, "without any checkpoint the shortened chain looks whole: {out}");
    assert!(out.contains("no checkpoint found"), "{out}");
    let (ok, out) = verify_with(&app, &["--expect-head", &head]);
    assert!(!ok && out.contains("shorter than its last checkpoint"), "{out}");
    // A forged head is refused, not trusted.
    let forged = head.replacen("seq=", "seq=9", 1);
    let (ok, out) = verify_with(&app, &["--expect-head", &forged]);
    assert!(!ok && out.contains("not valid"), "{out}");
}

#[tokio::test]
async fn a_checkpoint_is_refused_once_the_trail_no_longer_holds_the_last_one() {
    let app = tampered_app().await;
    let n = count(&app).await;
    exec(&app, format!("DELETE FROM audit_log WHERE seq = {n}")).await;
    let out = vytalcall(&app.database_url, app.data_dir.path(), &["audit", "checkpoint"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to checkpoint"));
    let kept = std::fs::read_to_string(app.data_dir.path().join("audit-checkpoint")).expect("checkpoint");
    assert!(kept.contains(&format!("seq={n} ")), "the evidence stays: {kept}");
}

#[tokio::test]
async fn the_server_checkpoints_its_head_periodically_into_a_private_file() {
    let app = spawn_app_with(&[("AUDIT_CHECKPOINT_SECONDS", "1")]).await;
    some_history(&app).await;
    let n = count(&app).await;
    let file = app.data_dir.path().join("audit-checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let seq: i64 = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("seq="))
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        if seq >= n {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of entry {n}: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
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
    assert_eq!(count(&app).await, 12);
}

#[tokio::test]
async fn a_stopping_server_checkpoints_its_last_head() {
    let data_dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(data_dir.path()).await;
    let vars: std::collections::HashMap<String, String> = [
        ("PORT", "0"),
        ("JWT_SECRET", SECRET),
        ("AUDIT_CHECKPOINT_SECONDS", "3600"),
        ("DATA_DIR", &data_dir.path().display().to_string()),
        ("DATABASE_URL", &database_url),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut settings = vytalcall::config::Settings::from_map(&vars).expect("settings");
    vytalcall::demo::fill_development_secrets(&mut settings).expect("development secrets");
    let app = vytalcall::startup::Application::build(settings)
        .await
        .expect("server builds");
    let db = app.state().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let fact = vytalcall::audit::Actor::system().fact(
        vytalcall::audit::Action::CallView,
        None,
        None,
        vytalcall::audit::Outcome::Success,
        json!({}),
    );
    let seq = vytalcall::audit::record(&db, fact).await.expect("append");
    assert!(seq >= 1);
    let _ = stop.send(());
    server.await.expect("server task").expect("server stops cleanly");
    let text = std::fs::read_to_string(data_dir.path().join("audit-checkpoint")).expect("checkpoint");
    assert!(text.contains(&format!("seq={seq} ")), "{text}");
}
