//! The access matrix: every call route × patient, other patient, provider of the call,
//! other provider, admin. Strangers get 404 (the call's existence does not leak), and every
//! denial is in the audit trail.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

const OK: StatusCode = StatusCode::OK;
const HIDDEN: StatusCode = StatusCode::NOT_FOUND;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;

/// (who, expected) for the five members of the cast, in a fixed order.
fn expectations(c: &Cast, e: [StatusCode; 5]) -> Vec<(&User, StatusCode, &'static str)> {
    vec![
        (&c.patient, e[0], "patient"),
        (&c.other_patient, e[1], "other patient"),
        (&c.provider, e[2], "provider of the call"),
        (&c.other_provider, e[3], "other provider"),
        (&c.admin, e[4], "admin"),
    ]
}

#[tokio::test]
async fn reading_a_call_is_for_its_members_and_admins_only() {
    let app = spawn_app().await;
    let c = cast();
    let id = app.create_call(&c.provider, &c.patient).await;
    for (who, expected, label) in expectations(&c, [OK, HIDDEN, OK, HIDDEN, OK]) {
        let r = app.get(who, &format!("/webrtc/calls/{id}")).await;
        assert_eq!(r.status(), expected, "{label}");
    }
    // A call id nobody has is indistinguishable from a foreign one.
    let unknown = uuid::Uuid::new_v4();
    let r = app.get(&c.other_patient, &format!("/webrtc/calls/{unknown}")).await;
    let missing = expect_problem(r, HIDDEN, None).await;
    let r = app.get(&c.other_patient, &format!("/webrtc/calls/{id}")).await;
    let foreign = expect_problem(r, HIDDEN, None).await;
    assert_eq!(missing, foreign);
}

#[tokio::test]
async fn answering_is_for_the_called_party() {
    let app = spawn_app().await;
    let c = cast();
    for (who, expected, label) in expectations(&c, [OK, HIDDEN, FORBIDDEN, HIDDEN, FORBIDDEN]) {
        let id = app.create_call(&c.provider, &c.patient).await;
        let r = app.post(who, &format!("/webrtc/calls/{id}/answer"), json!({})).await;
        assert_eq!(r.status(), expected, "{label}");
        let after = expect_status(app.get(&c.admin, &format!("/webrtc/calls/{id}")).await, OK).await;
        let want = if expected == OK { "active" } else { "ringing" };
        assert_eq!(after["status"], want, "{label}: a refusal changes nothing");
    }
}

#[tokio::test]
async fn ending_and_cancelling_are_for_members_and_admins() {
    let app = spawn_app().await;
    let c = cast();
    for (who, expected, label) in expectations(&c, [OK, HIDDEN, OK, HIDDEN, OK]) {
        let id = app.active_call(&c.provider, &c.patient).await;
        let r = app.post(who, &format!("/webrtc/calls/{id}/end"), json!({})).await;
        assert_eq!(r.status(), expected, "end by {label}");
        let id = app.create_call(&c.provider, &c.patient).await;
        let r = app.post(who, &format!("/webrtc/calls/{id}/cancel"), json!({})).await;
        assert_eq!(r.status(), expected, "cancel by {label}");
    }
}

#[tokio::test]
async fn recordings_are_managed_by_the_calls_providers_and_admins_only() {
    let app = spawn_app().await;
    let c = cast();
    let id = app.active_call(&c.provider, &c.patient).await;
    let start = json!({ "consentObtained": true, "consentedParticipants": [c.patient.id, c.provider.id], "consentMethod": "verbal" });
    let r = app
        .post(&c.provider, &format!("/webrtc/calls/{id}/record"), start.clone())
        .await;
    let rec = expect_status(r, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let unknown = uuid::Uuid::new_v4();
    for (who, expected, label) in expectations(&c, [FORBIDDEN, HIDDEN, OK, HIDDEN, OK]) {
        let r = app
            .post(who, &format!("/webrtc/calls/{id}/record"), start.clone())
            .await;
        // Those allowed are refused only because a recording already runs.
        let refused = if expected == OK { StatusCode::CONFLICT } else { expected };
        expect_problem(r, refused, None).await;
        let r = app.get(who, &format!("/webrtc/calls/{id}/recordings/{rec}")).await;
        assert_eq!(r.status(), expected, "metadata by {label}");
        let r = app
            .get(who, &format!("/webrtc/calls/{id}/recordings/{rec}/media"))
            .await;
        let running = if expected == OK { StatusCode::CONFLICT } else { expected };
        assert_eq!(r.status(), running, "media of a running recording by {label}");
        let r = app.get(who, &format!("/webrtc/calls/{id}/recordings/{unknown}")).await;
        let missing = if expected == OK { HIDDEN } else { expected };
        assert_eq!(r.status(), missing, "unknown recording by {label}");
        if expected != OK {
            let r = app
                .post(who, &format!("/webrtc/calls/{id}/recordings/{rec}/stop"), json!({}))
                .await;
            assert_eq!(r.status(), expected, "stop by {label}");
        }
    }
    let r = app
        .post(
            &c.admin,
            &format!("/webrtc/calls/{id}/recordings/{rec}/stop"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), OK, "stop by admin");
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{id}/recordings/{rec}/stop"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "stopping twice");
}

#[tokio::test]
async fn lists_and_stats_show_each_user_only_their_own_calls() {
    let app = spawn_app().await;
    let c = cast();
    let mine = app.create_call(&c.provider, &c.patient).await;
    let theirs = app.create_call(&c.other_provider, &c.other_patient).await;
    for (who, expected_ids) in [
        (&c.patient, vec![mine.clone()]),
        (&c.provider, vec![mine.clone()]),
        (&c.other_patient, vec![theirs.clone()]),
        (&c.other_provider, vec![theirs.clone()]),
    ] {
        let page = expect_status(app.get(who, "/webrtc/calls").await, OK).await;
        let ids: Vec<String> = page["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| c["id"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(ids, expected_ids, "{}", who.role);
        let stats = expect_status(app.get(who, "/webrtc/stats").await, OK).await;
        assert_eq!(stats["totalCalls"], 1);
    }
    // A filter naming someone else's patient finds nothing rather than leaking.
    let r = app
        .get(&c.patient, &format!("/webrtc/calls?patientId={}", c.other_patient.id))
        .await;
    assert_eq!(expect_status(r, OK).await["total"], 0);
    let all = expect_status(app.get(&c.admin, "/webrtc/calls").await, OK).await;
    assert_eq!(all["total"], 2);
}

#[tokio::test]
async fn nobody_places_a_call_on_someone_elses_behalf() {
    let app = spawn_app().await;
    let c = cast();
    let r = app
        .post(
            &c.patient,
            "/webrtc/calls",
            json!({ "patientId": c.other_patient.id, "providerId": c.provider.id }),
        )
        .await;
    expect_problem(r, FORBIDDEN, None).await;
    let r = app
        .post(
            &c.provider,
            "/webrtc/calls",
            json!({ "patientId": c.patient.id, "providerId": c.other_provider.id }),
        )
        .await;
    expect_problem(r, FORBIDDEN, None).await;
    let r = app
        .post(
            &c.admin,
            "/webrtc/calls",
            json!({ "patientId": c.patient.id, "providerId": c.provider.id }),
        )
        .await;
    expect_status(r, StatusCode::CREATED).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM calls").await, 1);
}

#[tokio::test]
async fn the_audit_trail_is_for_admins_and_every_denial_is_in_it() {
    let app = spawn_app().await;
    let c = cast();
    let id = app.create_call(&c.provider, &c.patient).await;
    app.get(&c.other_patient, &format!("/webrtc/calls/{id}")).await;
    app.post(&c.other_provider, &format!("/webrtc/calls/{id}/end"), json!({}))
        .await;
    app.post(
        &c.patient,
        &format!("/webrtc/calls/{id}/record"),
        json!({ "consentObtained": true }),
    )
    .await;
    for who in [&c.patient, &c.provider] {
        expect_problem(app.get(who, "/webrtc/audit").await, FORBIDDEN, None).await;
    }

    let entries = app.audit_entries().await;
    let denied = |action: &str, who: &User| {
        entries
            .iter()
            .any(|(a, o, actor, _)| a == action && o == "denied" && actor.as_deref() == Some(&who.id.to_string()))
    };
    assert!(denied("call.view", &c.other_patient), "{entries:?}");
    assert!(denied("call.end", &c.other_provider), "{entries:?}");
    assert!(denied("recording.start", &c.patient), "{entries:?}");
    assert!(denied("audit.view", &c.provider), "{entries:?}");

    let page = expect_status(
        app.get(&c.admin, &format!("/webrtc/audit?callId={id}&limit=50")).await,
        OK,
    )
    .await;
    let actions: Vec<&str> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"call.create"), "{actions:?}");
    assert!(
        page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["callId"] == id)
    );
    // The admin's own reading of the trail is recorded too.
    let entries = app.audit_entries().await;
    assert!(entries.iter().any(|(a, o, actor, _)| a == "audit.view"
        && o == "success"
        && actor.as_deref() == Some(&c.admin.id.to_string())));
}

#[tokio::test]
async fn every_admin_access_to_a_call_is_audited() {
    let app = spawn_app().await;
    let c = cast();
    let id = app.create_call(&c.provider, &c.patient).await;
    let before = app.audit_entries().await.len();
    expect_status(app.get(&c.admin, &format!("/webrtc/calls/{id}")).await, OK).await;
    expect_status(app.get(&c.admin, "/webrtc/calls").await, OK).await;
    let entries = app.audit_entries().await;
    let new: Vec<_> = entries[before..]
        .iter()
        .map(|(a, o, actor, _)| (a.as_str(), o.as_str(), actor.clone()))
        .collect();
    let admin = Some(c.admin.id.to_string());
    assert_eq!(
        new,
        vec![("call.view", "success", admin.clone()), ("call.list", "success", admin)]
    );
}
