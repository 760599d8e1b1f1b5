//! A person's own word on recording stands: a provider's attestation only fills in for someone
//! who has not spoken for themselves, never claims `in-app`, and never outweighs a refusal.
//! Each attack is the provider's: a patient says no, and the provider tries to record anyway.

use crate::helpers::{Cast, TestApp, User, cast, expect_problem, expect_status, spawn_app, user};
use crate::recordings::{send_media, stop};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn attesting(people: &[&User], method: &str) -> Value {
    json!({
        "consentObtained": true,
        "consentedParticipants": people.iter().map(|u| u.id).collect::<Vec<_>>(),
        "consentMethod": method,
    })
}

async fn answer(app: &TestApp, patient: &User, call: &str, consent: bool) {
    let r = app
        .post(
            patient,
            &format!("/webrtc/calls/{call}/answer"),
            json!({ "consentToRecording": consent }),
        )
        .await;
    expect_status(r, StatusCode::OK).await;
}

/// `who` gives (or withdraws) their own recording consent for the call.
pub async fn say(app: &TestApp, who: &User, call: &str, consented: bool) {
    let r = app
        .post(
            who,
            &format!("/webrtc/calls/{call}/recording-consent"),
            json!({ "consented": consented }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A refused start: 409 consent-missing naming `missing`, and nothing stored.
async fn refused(app: &TestApp, c: &Cast, call: &str, body: Value, missing: &User) {
    let (recordings, statements) = (
        app.count("SELECT COUNT(*) FROM call_recordings").await,
        app.count("SELECT COUNT(*) FROM recording_consents").await,
    );
    let r = app
        .post(&c.provider, &format!("/webrtc/calls/{call}/record"), body.clone())
        .await;
    let problem = expect_problem(r, StatusCode::CONFLICT, None).await;
    assert!(
        problem["type"].as_str().is_some_and(|t| t.ends_with("consent-missing")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&missing.id.to_string())),
        "{body} → {problem}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM call_recordings").await,
        recordings,
        "no recording for {body}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM recording_consents").await,
        statements,
        "no statement kept from {body}"
    );
}

async fn started(app: &TestApp, c: &Cast, call: &str, body: Value) -> String {
    let r = app
        .post(&c.provider, &format!("/webrtc/calls/{call}/record"), body)
        .await;
    let rec = expect_status(r, StatusCode::CREATED).await;
    rec["id"].as_str().expect("recording id").to_string()
}

fn denied_starts(entries: &[(String, String, Option<String>, Option<String>)], call: &str) -> usize {
    entries
        .iter()
        .filter(|(a, o, _, c)| a == "recording.start" && o == "denied" && c.as_deref() == Some(call))
        .count()
}

#[tokio::test]
async fn a_patients_no_at_answer_stands_against_every_attestation_until_they_say_yes_themselves() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.create_call(&c.provider, &c.patient).await;
    answer(&app, &c.patient, &call, false).await;

    for method in ["verbal", "written", "electronic", "in-app"] {
        refused(
            &app,
            &c,
            &call,
            attesting(&[&c.provider, &c.patient], method),
            &c.patient,
        )
        .await;
    }
    refused(&app, &c, &call, attesting(&[&c.provider], "verbal"), &c.patient).await;
    assert_eq!(
        denied_starts(&app.audit_entries().await, &call),
        5,
        "every refusal is audited"
    );

    // The patient's own yes, in the app, replaces their own no.
    say(&app, &c.patient, &call, true).await;
    let rec = started(&app, &c, &call, attesting(&[&c.provider], "in-app")).await;
    send_media(&app, &c.patient, &call, &rec, 1)
        .await
        .expect("the patient's media is recorded after their own yes");
    stop(&app, &c, &call, &rec).await;
}

#[tokio::test]
async fn an_attestation_fills_in_only_for_someone_silent_and_never_as_in_app() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;

    // Nobody can claim the patient's in-app answer for them.
    refused(
        &app,
        &c,
        &call,
        attesting(&[&c.provider, &c.patient], "in-app"),
        &c.patient,
    )
    .await;

    // A spoken yes, attested, fills in for a patient who has not answered.
    let rec = started(&app, &c, &call, attesting(&[&c.provider, &c.patient], "verbal")).await;
    let details = expect_status(
        app.get(&c.provider, &format!("/webrtc/calls/{call}")).await,
        StatusCode::OK,
    )
    .await;
    let patients: Vec<&Value> = details["consents"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["userId"] == c.patient.id.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(patients.len(), 1, "{details}");
    assert_eq!(patients[0]["recordedBy"], c.provider.id.to_string());
    assert_eq!(patients[0]["method"], "verbal");

    // The patient withdraws in their own word; their media is refused from then on.
    say(&app, &c.patient, &call, false).await;
    let err = send_media(&app, &c.patient, &call, &rec, 1).await.expect_err("refused");
    assert!(err.contains("409"), "{err}");
    stop(&app, &c, &call, &rec).await;

    // The next recording cannot attest over that withdrawal.
    refused(
        &app,
        &c,
        &call,
        attesting(&[&c.provider, &c.patient], "verbal"),
        &c.patient,
    )
    .await;
    assert!(denied_starts(&app.audit_entries().await, &call) >= 2);
}

#[tokio::test]
async fn a_late_joiner_who_refused_is_never_recorded_on_anyones_word() {
    let app = spawn_app().await;
    let c = cast();
    let colleague = user("provider");
    let r = app
        .post(
            &c.provider,
            "/webrtc/calls",
            json!({ "patientId": c.patient.id, "type": "video", "additionalProviderIds": [colleague.id] }),
        )
        .await;
    let call = expect_status(r, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    answer(&app, &c.patient, &call, true).await;
    // The colleague, not yet in the call, says no for themselves.
    say(&app, &colleague, &call, false).await;

    // Attesting them is refused even though they are not in the call yet.
    refused(
        &app,
        &c,
        &call,
        attesting(&[&c.provider, &colleague], "verbal"),
        &colleague,
    )
    .await;
    let rec = started(&app, &c, &call, attesting(&[&c.provider], "verbal")).await;
    // They join late: the recorder refuses their media.
    let err = send_media(&app, &colleague, &call, &rec, 1).await.expect_err("refused");
    assert!(err.contains("409") && err.contains("consent-required"), "{err}");
    let entries = app.audit_entries().await;
    assert!(entries.iter().any(|(a, o, actor, _)| a == "recording.connect"
        && o == "denied"
        && actor.as_deref() == Some(&colleague.id.to_string())));
    stop(&app, &c, &call, &rec).await;
}
