//! Names: each user's display name comes from their latest token's `name` claim, is kept by
//! the server and shown wherever a person appears; a provider picks whom to call among the
//! patients of their calls, or checks a pasted id against the people the server has met.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use vytalcall_domain::UserId;

/// A token for `id` as `role`, naming them `name` (or carrying no name claim).
fn token(id: Uuid, role: &'static str, name: Option<Value>) -> User {
    let mut claims = json!({ "sub": id.to_string(), "role": role, "exp": now() + 600 });
    if let Some(name) = name {
        claims["name"] = name;
    }
    User {
        id,
        role,
        token: sign(claims),
    }
}

fn named(role: &'static str, name: &str) -> User {
    token(Uuid::new_v4(), role, Some(json!(name)))
}

/// The person signs in (any authenticated request does).
async fn signs_in(app: &TestApp, who: &User) {
    expect_status(app.get(who, "/webrtc/calls").await, StatusCode::OK).await;
}

async fn stored_name(app: &TestApp, who: &User) -> Option<String> {
    use sqlx::Row;
    sqlx::query("SELECT name FROM people WHERE user_id = $1")
        .bind(who.id.to_string())
        .fetch_one(&app.db.pool)
        .await
        .expect("the person is stored")
        .try_get("name")
        .expect("name")
}

async fn person(app: &TestApp, asker: &User, id: impl std::fmt::Display) -> reqwest::Response {
    app.get(asker, &format!("/webrtc/people/{id}")).await
}

#[tokio::test]
async fn a_provider_picks_among_their_own_patients_by_name_most_recent_first() {
    let app = spawn_app().await;
    let ada = named("patient", "Ada Lovelace");
    let bo = named("patient", "Bo Diddley");
    let carl = named("patient", "Carl Sagan");
    let never_signed_in = user("patient");
    let pat = named("provider", "Dr. Pat Hale");
    let quinn = named("provider", "Dr. Quinn");
    for who in [&ada, &bo, &carl, &pat, &quinn] {
        signs_in(&app, who).await;
    }
    app.create_call(&pat, &ada).await;
    app.create_call(&pat, &bo).await;
    app.create_call(&pat, &never_signed_in).await;
    app.create_call(&quinn, &carl).await;
    // Ada's latest call is now the most recent of Pat's (a minute later, so that no two
    // calls placed within one millisecond could tie).
    let latest = app.create_call(&pat, &ada).await;
    sqlx::query("UPDATE calls SET created_at = created_at + 60000 WHERE id = $1")
        .bind(&latest)
        .execute(&app.db.pool)
        .await
        .expect("move the call a minute on");

    let mine = expect_status(app.get(&pat, "/webrtc/patients/recent").await, StatusCode::OK).await;
    let patients = mine["patients"].as_array().expect("a list");
    let names: Vec<&str> = patients.iter().map(|p| p["name"].as_str().expect("named")).collect();
    assert_eq!(names, ["Ada Lovelace", "Bo Diddley"], "{mine}");
    assert_eq!(patients[0]["id"], ada.id.to_string());
    assert_eq!(patients[0]["calls"], 2);
    assert!(patients[0]["lastCallAt"].as_str().is_some_and(|t| t.ends_with('Z')));

    let admin = named("admin", "Admin");
    let all = expect_status(app.get(&admin, "/webrtc/patients/recent").await, StatusCode::OK).await;
    let ids: Vec<&str> = all["patients"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3, "{all}");
    assert!(ids.contains(&carl.id.to_string().as_str()));

    let limited = expect_status(app.get(&pat, "/webrtc/patients/recent?limit=1").await, StatusCode::OK).await;
    assert_eq!(limited["patients"].as_array().map(Vec::len), Some(1));
    expect_problem(
        app.get(&pat, "/webrtc/patients/recent?limit=0").await,
        StatusCode::BAD_REQUEST,
        Some("limit"),
    )
    .await;
}

#[tokio::test]
async fn a_patient_cannot_list_or_look_up_other_people() {
    let app = spawn_app().await;
    let ada = named("patient", "Ada Lovelace");
    let pat = named("provider", "Dr. Pat Hale");
    signs_in(&app, &pat).await;
    app.create_call(&pat, &ada).await;
    expect_problem(
        app.get(&ada, "/webrtc/patients/recent").await,
        StatusCode::FORBIDDEN,
        None,
    )
    .await;
    expect_problem(person(&app, &ada, pat.id).await, StatusCode::FORBIDDEN, None).await;
    let denied = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|(action, outcome, ..)| action.starts_with("person.") && outcome == "denied")
        .count();
    assert_eq!(denied, 2, "both refusals are audited");
}

#[tokio::test]
async fn a_pasted_id_is_checked_against_the_people_the_server_has_met() {
    let app = spawn_app().await;
    let pat = named("provider", "Dr. Pat Hale");
    let ada = named("patient", "Ada Lovelace");
    signs_in(&app, &ada).await;

    let found = expect_status(person(&app, &pat, ada.id).await, StatusCode::OK).await;
    assert_eq!(
        found,
        json!({ "id": ada.id.to_string(), "role": "patient", "name": "Ada Lovelace" })
    );

    let stranger = Uuid::new_v4();
    let missing = expect_problem(person(&app, &pat, stranger).await, StatusCode::NOT_FOUND, None).await;
    assert!(
        missing["detail"].as_str().is_some_and(|d| d.contains("signed in")),
        "{missing}"
    );

    expect_problem(
        person(&app, &pat, "not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        Some("id"),
    )
    .await;
}

#[tokio::test]
async fn calls_and_the_history_name_the_patient_and_the_provider() {
    let app = spawn_app().await;
    let ada = named("patient", "Ada Lovelace");
    let pat = named("provider", "Dr. Pat Hale");
    signs_in(&app, &ada).await;
    let id = app.create_call(&pat, &ada).await;

    let call = expect_status(app.get(&ada, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["patientName"], "Ada Lovelace");
    assert_eq!(call["providerName"], "Dr. Pat Hale");
    assert_eq!(call["patientId"], ada.id.to_string(), "ids stay beside the names");

    let list = expect_status(app.get(&pat, "/webrtc/calls").await, StatusCode::OK).await;
    assert_eq!(list["calls"][0]["patientName"], "Ada Lovelace");
    assert_eq!(list["calls"][0]["providerName"], "Dr. Pat Hale");

    // Someone who never signed in has no name: the field is there, null.
    let nobody = user("patient");
    let id = app.create_call(&pat, &nobody).await;
    let call = expect_status(app.get(&pat, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["patientName"], Value::Null);
}

#[tokio::test]
async fn a_token_without_a_name_keeps_the_name_held_and_a_new_name_replaces_it() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    signs_in(&app, &token(id, "patient", Some(json!("Ada Lovelace")))).await;
    let unnamed = token(id, "patient", None);
    signs_in(&app, &unnamed).await;
    assert_eq!(stored_name(&app, &unnamed).await.as_deref(), Some("Ada Lovelace"));
    signs_in(&app, &token(id, "patient", Some(json!("Ada King")))).await;
    assert_eq!(stored_name(&app, &unnamed).await.as_deref(), Some("Ada King"));
}

#[tokio::test]
async fn a_name_that_breaks_the_rule_is_ignored_and_the_person_still_signs_in() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    signs_in(&app, &token(id, "patient", Some(json!("Ada Lovelace")))).await;
    let bad_names = [
        "x".repeat(101),
        "Ada\nLovelace".to_string(),
        "Ada\u{1b}[31m".to_string(),
        "\u{202E}ecalevoL adA".to_string(),
    ];
    for bad in bad_names {
        let who = token(id, "patient", Some(json!(bad)));
        signs_in(&app, &who).await;
        assert_eq!(
            stored_name(&app, &who).await.as_deref(),
            Some("Ada Lovelace"),
            "{bad:?}"
        );
    }
    // A name that is not text at all is a broken token, refused as before.
    let broken = token(id, "patient", Some(json!({ "first": "Ada" })));
    let r = app.get(&broken, "/webrtc/calls").await;
    let problem = expect_problem(r, StatusCode::UNAUTHORIZED, None).await;
    assert_eq!(problem["detail"], "token has an invalid name claim");
}

#[tokio::test]
async fn a_session_of_requests_writes_the_person_once() {
    let app = spawn_app().await;
    let ada = named("patient", "Ada Lovelace");
    signs_in(&app, &ada).await;
    // Change the row behind the server's back: a request that wrote would put it back.
    sqlx::query("UPDATE people SET name = 'changed elsewhere' WHERE user_id = $1")
        .bind(ada.id.to_string())
        .execute(&app.db.pool)
        .await
        .expect("update");
    for _ in 0..3 {
        signs_in(&app, &ada).await;
    }
    assert_eq!(stored_name(&app, &ada).await.as_deref(), Some("changed elsewhere"));
    // A different name in a new token is news, and is written.
    signs_in(&app, &token(ada.id, "patient", Some(json!("Ada King")))).await;
    assert_eq!(stored_name(&app, &ada).await.as_deref(), Some("Ada King"));
}

#[tokio::test]
async fn names_never_reach_the_audit_trail() {
    let app = spawn_app().await;
    let ada = named("patient", "Ada Lovelace");
    let pat = named("provider", "Dr. Pat Hale");
    signs_in(&app, &ada).await;
    let id = app.active_call(&pat, &ada).await;
    app.get(&ada, &format!("/webrtc/calls/{id}")).await;
    app.get(&pat, "/webrtc/patients/recent").await;
    app.get(&pat, &format!("/webrtc/people/{}", ada.id)).await;
    app.post(&pat, &format!("/webrtc/calls/{id}/end"), json!({})).await;
    use sqlx::Row;
    let rows = sqlx::query("SELECT action, detail FROM audit_log")
        .fetch_all(&app.db.pool)
        .await
        .expect("read the trail");
    assert!(rows.len() >= 6);
    let mut actions = Vec::new();
    for row in rows {
        let action: String = row.try_get("action").expect("action");
        let detail: String = row.try_get("detail").expect("detail");
        assert!(
            !detail.contains("Ada") && !detail.contains("Pat Hale"),
            "{action}: {detail}"
        );
        actions.push(action);
    }
    assert!(actions.iter().any(|a| a == "person.list") && actions.iter().any(|a| a == "person.view"));
}

#[tokio::test]
async fn the_openapi_document_describes_names_and_the_new_routes() {
    let app = spawn_app().await;
    let doc = app.public_json("/openapi.json").await;
    assert!(doc["paths"]["/webrtc/patients/recent"]["get"].is_object());
    assert!(doc["paths"]["/webrtc/people/{id}"]["get"]["responses"]["404"].is_object());
    let call = &doc["components"]["schemas"]["CallView"]["properties"];
    assert!(
        call["patientName"].is_object() && call["providerName"].is_object(),
        "{call}"
    );
    assert!(doc["components"]["schemas"]["ParticipantView"]["properties"]["name"].is_object());
}

/// Migration 0006 on a database that already holds calls: everyone who was in one is known
/// (without a name), so a pasted id of an earlier patient is not taken for a stranger's.
#[tokio::test]
async fn upgrading_a_database_with_calls_makes_their_people_known() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database_url(dir.path()).await;
    let db = vytalcall::storage::Db::connect(&url).await.expect("connect");
    let dialect = if test_database_is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    // The schema as it was before names: migrations 0001 to 0005 only.
    let before = dir.path().join("before");
    std::fs::create_dir(&before).expect("dir");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../migrations/{dialect}"));
    for entry in std::fs::read_dir(&all).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        if name.as_str() < "0006" {
            std::fs::copy(&path, before.join(&name)).expect("copy");
        }
    }
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .expect("old migrations")
        .run(&db.pool)
        .await
        .expect("the old schema");
    let (call, patient, provider) = (Uuid::new_v4().to_string(), Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO calls (id, room_id, patient_id, provider_id, initiated_by, call_type, status, \
         recording_enabled, created_at) VALUES ($1, $1, $2, $3, $3, 'video', 'ended', 0, 1000)",
    )
    .bind(&call)
    .bind(patient.to_string())
    .bind(provider.to_string())
    .execute(&db.pool)
    .await
    .expect("an old call");
    for (user, role) in [(patient, "patient"), (provider, "provider")] {
        sqlx::query("INSERT INTO call_members (call_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(&call)
            .bind(user.to_string())
            .bind(role)
            .execute(&db.pool)
            .await
            .expect("a member");
    }
    db.migrate().await.expect("migration 0006");
    let known = vytalcall::storage::people::many(&db.pool, &[UserId(patient), UserId(provider)])
        .await
        .expect("read people");
    assert_eq!(known.len(), 2);
    let p = &known[&UserId(patient)];
    assert_eq!((p.role.as_str(), p.name.as_deref()), ("patient", None));
    db.pool.close().await;
}
