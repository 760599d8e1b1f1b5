//! Malformed, oversized and unexpected input: a precise problem, never a crash, never a
//! partial write.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn bad_call_bodies_name_the_field_at_fault() {
    let app = spawn_app().await;
    let provider = user("provider");
    let cases = vec![
        (
            json!({ "patientId": "not-a-uuid" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "patientId",
        ),
        (
            json!({ "patientId": 42 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "patientId",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "patientId"),
        (
            json!({ "patientId": uuid::Uuid::new_v4(), "type": "hologram" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({ "patientId": uuid::Uuid::new_v4(), "scheduledAt": "tomorrow" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scheduledAt",
        ),
        (
            json!({ "patientId": uuid::Uuid::new_v4(), "appointmentId": "A-1" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "appointmentId",
        ),
        (
            json!({ "patientId": uuid::Uuid::new_v4(), "recordingEnabled": "yes" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "recordingEnabled",
        ),
        (
            json!({ "patientId": uuid::Uuid::new_v4(), "additionalProviderIds": ["x"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "additionalProviderIds[0]",
        ),
        (
            json!({ "patientId": provider.id }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "providerId",
        ),
        (json!([1, 2]), StatusCode::UNPROCESSABLE_ENTITY, "body"),
        (json!("text"), StatusCode::UNPROCESSABLE_ENTITY, "body"),
    ];
    for (body, status, field) in cases {
        let r = app.post(&provider, "/webrtc/calls", body.clone()).await;
        expect_problem(r, status, Some(field)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM calls").await, 0);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let r = app
        .post(
            &provider,
            "/webrtc/calls",
            json!({ "patientId": patient.id, "priority": "high" }),
        )
        .await;
    expect_status(r, StatusCode::CREATED).await;
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_refused() {
    let app = spawn_app().await;
    let provider = user("provider");
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .post(app.url("/webrtc/calls"))
            .bearer_auth(&provider.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let r = send(b"{\"patientId\": ".to_vec(), "application/json")
        .await
        .expect("request");
    expect_problem(r, StatusCode::BAD_REQUEST, Some("body")).await;
    let r = send(b"patientId=1".to_vec(), "application/x-www-form-urlencoded")
        .await
        .expect("request");
    expect_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None).await;
    let r = send(Vec::new(), "application/json").await.expect("request");
    expect_problem(r, StatusCode::BAD_REQUEST, Some("body")).await;
    let huge = format!(
        "{{\"patientId\":\"{}\",\"pad\":\"{}\"}}",
        uuid::Uuid::new_v4(),
        "x".repeat(200 * 1024)
    );
    let r = send(huge.into_bytes(), "application/json").await.expect("request");
    expect_problem(r, StatusCode::PAYLOAD_TOO_LARGE, None).await;
    let r = send(vec![0xff, 0xfe, 0x00, 0x7b], "application/json")
        .await
        .expect("request");
    expect_problem(r, StatusCode::BAD_REQUEST, Some("body")).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM calls").await, 0);
    // The server is still fine.
    expect_status(app.get(&provider, "/webrtc/calls").await, StatusCode::OK).await;
}

#[tokio::test]
async fn bad_reasons_and_answer_fields_are_refused_without_a_transition() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    let cases = vec![
        ("cancel", json!({ "reason": "x".repeat(501) }), "reason"),
        ("cancel", json!({ "reason": "line\u{0007}bell" }), "reason"),
        ("cancel", json!({ "reason": 7 }), "reason"),
        ("answer", json!({ "videoEnabled": "on" }), "videoEnabled"),
        ("answer", json!({ "consentToRecording": 1 }), "consentToRecording"),
    ];
    for (action, body, field) in cases {
        let r = app.post(&patient, &format!("/webrtc/calls/{id}/{action}"), body).await;
        expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some(field)).await;
    }
    let call = expect_status(app.get(&provider, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["status"], "ringing");
}

#[tokio::test]
async fn bad_query_strings_and_path_ids_name_the_parameter() {
    let app = spawn_app().await;
    let provider = user("provider");
    let cases = [
        ("/webrtc/calls?limit=0", "limit"),
        ("/webrtc/calls?limit=", "limit"),
        ("/webrtc/calls?limit=101", "limit"),
        ("/webrtc/calls?limit=ten", "limit"),
        ("/webrtc/calls?offset=-1", "offset"),
        ("/webrtc/calls?status=bogus", "status"),
        ("/webrtc/calls?patientId=123", "patientId"),
        ("/webrtc/calls?providerId=abc", "providerId"),
        ("/webrtc/calls?startDate=yesterday", "startDate"),
        ("/webrtc/stats?endDate=31/01/2024", "endDate"),
        ("/webrtc/calls/not-a-uuid", "id"),
        ("/webrtc/audit?callId=nope", "callId"),
    ];
    for (path, field) in cases {
        let who = if path.starts_with("/webrtc/audit") {
            user("admin")
        } else {
            provider.clone()
        };
        expect_problem(app.get(&who, path).await, StatusCode::BAD_REQUEST, Some(field)).await;
    }
    let rec = app
        .get(
            &provider,
            &format!("/webrtc/calls/{}/recordings/xyz", uuid::Uuid::new_v4()),
        )
        .await;
    expect_problem(rec, StatusCode::BAD_REQUEST, Some("recordingId")).await;
}

#[tokio::test]
async fn recording_requests_are_validated() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.active_call(&provider, &patient).await;
    let cases = vec![
        (json!({ "consentObtained": false }), "consentObtained"),
        (json!({ "consentedParticipants": [] }), "consentObtained"),
        (
            json!({ "consentObtained": true, "consentMethod": "telepathy" }),
            "consentMethod",
        ),
        (
            json!({ "consentObtained": true, "consentedParticipants": ["x"] }),
            "consentedParticipants[0]",
        ),
        (
            json!({ "consentObtained": true, "enableTranscription": "yes" }),
            "enableTranscription",
        ),
    ];
    for (body, field) in cases {
        let r = app.post(&provider, &format!("/webrtc/calls/{id}/record"), body).await;
        expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some(field)).await;
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_problems() {
    let app = spawn_app().await;
    let provider = user("provider");
    expect_problem(
        app.get(&provider, "/webrtc/nothing-here").await,
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    let r = app
        .http
        .delete(app.url("/webrtc/calls"))
        .bearer_auth(&provider.token)
        .send()
        .await
        .expect("request");
    expect_problem(r, StatusCode::METHOD_NOT_ALLOWED, None).await;
}
