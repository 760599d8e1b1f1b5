//! The call lifecycle over REST: every transition, with times, actors and reasons kept.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_provider_calls_a_patient_who_answers_and_either_can_end_it() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));

    let id = app.create_call(&provider, &patient).await;
    let call = expect_status(app.get(&patient, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["status"], "ringing");
    assert_eq!(call["patientId"], patient.id.to_string());
    assert_eq!(call["providerId"], provider.id.to_string());
    assert_eq!(call["roomId"], id);

    let answered = app
        .post(
            &patient,
            &format!("/webrtc/calls/{id}/answer"),
            json!({ "videoEnabled": false, "audioEnabled": true, "consentToRecording": true }),
        )
        .await;
    let answered = expect_status(answered, StatusCode::OK).await;
    assert_eq!(answered["status"], "active");
    assert!(answered["answeredAt"].is_string());
    assert_eq!(answered["consents"][0]["consented"], true);
    assert_eq!(answered["consents"][0]["method"], "in-app");
    assert_eq!(answered["consents"][0]["userId"], patient.id.to_string());

    let ended = app
        .post(
            &provider,
            &format!("/webrtc/calls/{id}/end"),
            json!({ "reason": "Visit complete" }),
        )
        .await;
    let ended = expect_status(ended, StatusCode::OK).await;
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["endReason"], "Visit complete");
    assert!(ended["durationSeconds"].is_i64());

    let history: Vec<(String, String)> = ended["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| {
            (
                t["to"].as_str().unwrap_or("").to_string(),
                t["actorId"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("ringing".to_string(), provider.id.to_string()),
            ("active".to_string(), patient.id.to_string()),
            ("ended".to_string(), provider.id.to_string()),
        ]
    );
    assert_eq!(ended["transitions"][2]["reason"], "Visit complete");
}

#[tokio::test]
async fn a_forbidden_transition_is_409_with_the_current_state_and_changes_nothing() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;

    let r = app.post(&provider, &format!("/webrtc/calls/{id}/end"), json!({})).await;
    let problem = expect_problem(r, StatusCode::CONFLICT, None).await;
    assert_eq!(problem["currentState"], "ringing");

    let id2 = app.active_call(&provider, &patient).await;
    for (path, state) in [("answer", "active"), ("cancel", "active")] {
        let r = app
            .post(&patient, &format!("/webrtc/calls/{id2}/{path}"), json!({}))
            .await;
        let problem = expect_problem(r, StatusCode::CONFLICT, None).await;
        assert_eq!(problem["currentState"], state, "{path}");
    }
    expect_status(
        app.post(&patient, &format!("/webrtc/calls/{id2}/end"), json!({})).await,
        StatusCode::OK,
    )
    .await;
    for path in ["answer", "end", "cancel"] {
        let r = app
            .post(&provider, &format!("/webrtc/calls/{id2}/{path}"), json!({}))
            .await;
        let problem = expect_problem(r, StatusCode::CONFLICT, None).await;
        assert_eq!(problem["currentState"], "ended", "{path}");
    }
    let call = expect_status(app.get(&provider, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["status"], "ringing");
    assert_eq!(call["transitions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_caller_cannot_answer_their_own_call() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    let r = app
        .post(&provider, &format!("/webrtc/calls/{id}/answer"), json!({}))
        .await;
    expect_problem(r, StatusCode::FORBIDDEN, None).await;
}

#[tokio::test]
async fn a_patient_declines_a_ringing_call_by_cancelling_it() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    let r = app
        .post(
            &patient,
            &format!("/webrtc/calls/{id}/cancel"),
            json!({ "reason": "Patient unavailable" }),
        )
        .await;
    let call = expect_status(r, StatusCode::OK).await;
    assert_eq!(call["status"], "cancelled");
    assert_eq!(call["endReason"], "Patient unavailable");
    assert!(call["durationSeconds"].is_null());
}

#[tokio::test]
async fn a_call_scheduled_for_later_waits_and_can_be_answered_or_cancelled() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let appointment = uuid::Uuid::new_v4().to_string();
    let r = app
        .post(&provider, "/webrtc/calls", json!({ "patientId": patient.id, "type": "audio", "scheduledAt": later, "appointmentId": appointment, "recordingEnabled": true }))
        .await;
    let call = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(call["status"], "scheduled");
    assert_eq!(call["type"], "audio");
    assert_eq!(call["appointmentId"], appointment);
    assert_eq!(call["recordingEnabled"], true);
    assert!(call["ringingAt"].is_null());
    let id = call["id"].as_str().expect("id");
    let r = app
        .post(&patient, &format!("/webrtc/calls/{id}/answer"), json!({}))
        .await;
    assert_eq!(expect_status(r, StatusCode::OK).await["status"], "active");

    let r = app
        .post(
            &provider,
            "/webrtc/calls",
            json!({ "patientId": patient.id, "scheduledAt": later }),
        )
        .await;
    let id = expect_status(r, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .post(
            &provider,
            &format!("/webrtc/calls/{id}/cancel"),
            json!({ "reason": "Rescheduled" }),
        )
        .await;
    assert_eq!(expect_status(r, StatusCode::OK).await["status"], "cancelled");
}

#[tokio::test]
async fn a_call_left_ringing_past_the_timeout_is_missed() {
    let app = spawn_app_with(&[("RING_TIMEOUT_SECONDS", "1")]).await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    let mut status = String::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let call = expect_status(app.get(&provider, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
        status = call["status"].as_str().unwrap_or("").to_string();
        if status == "missed" {
            let last = &call["transitions"][1];
            assert!(last["actorId"].is_null(), "the server itself acted: {last}");
            assert_eq!(last["reason"], "no answer");
            break;
        }
    }
    assert_eq!(status, "missed");
    let r = app
        .post(&patient, &format!("/webrtc/calls/{id}/answer"), json!({}))
        .await;
    assert_eq!(
        expect_problem(r, StatusCode::CONFLICT, None).await["currentState"],
        "missed"
    );
}

#[tokio::test]
async fn a_patient_can_call_their_provider_and_the_provider_answers() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let r = app
        .post(&patient, "/webrtc/calls", json!({ "providerId": provider.id }))
        .await;
    let call = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(call["patientId"], patient.id.to_string());
    assert_eq!(call["initiatedBy"], patient.id.to_string());
    let id = call["id"].as_str().expect("id");
    let r = app
        .post(&provider, &format!("/webrtc/calls/{id}/answer"), json!({}))
        .await;
    assert_eq!(expect_status(r, StatusCode::OK).await["status"], "active");
}

#[tokio::test]
async fn listing_filters_pages_and_counts() {
    let app = spawn_app().await;
    let (provider, patient, other_patient) = (user("provider"), user("patient"), user("patient"));
    for _ in 0..3 {
        app.create_call(&provider, &patient).await;
    }
    let active = app.active_call(&provider, &other_patient).await;

    let page = expect_status(app.get(&provider, "/webrtc/calls?limit=2").await, StatusCode::OK).await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(2));
    let page2 = expect_status(
        app.get(&provider, "/webrtc/calls?limit=2&offset=2").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page2["calls"].as_array().map(Vec::len), Some(2));
    assert_ne!(page["calls"][0]["id"], page2["calls"][0]["id"]);

    let mine = app
        .get(&provider, &format!("/webrtc/calls?patientId={}", patient.id))
        .await;
    assert_eq!(expect_status(mine, StatusCode::OK).await["total"], 3);
    let by_status = expect_status(app.get(&provider, "/webrtc/calls?status=active").await, StatusCode::OK).await;
    assert_eq!(by_status["total"], 1);
    assert_eq!(by_status["calls"][0]["id"], active);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = app
        .get(&provider, &format!("/webrtc/calls?startDate={today}&endDate={today}"))
        .await;
    assert_eq!(expect_status(dated, StatusCode::OK).await["total"], 4);
    let past = app
        .get(&provider, "/webrtc/calls?startDate=2020-01-01&endDate=2020-01-31")
        .await;
    assert_eq!(expect_status(past, StatusCode::OK).await["total"], 0);
}

#[tokio::test]
async fn stats_count_calls_by_status_with_durations_and_answer_rate() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let a = app.active_call(&provider, &patient).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    expect_status(
        app.post(&provider, &format!("/webrtc/calls/{a}/end"), json!({})).await,
        StatusCode::OK,
    )
    .await;
    let b = app.create_call(&provider, &patient).await;
    expect_status(
        app.post(&patient, &format!("/webrtc/calls/{b}/cancel"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    app.create_call(&provider, &patient).await;

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let r = app
        .get(&provider, &format!("/webrtc/stats?startDate={today}&endDate={today}"))
        .await;
    let stats = expect_status(r, StatusCode::OK).await;
    assert_eq!(stats["totalCalls"], 3);
    assert_eq!(stats["byStatus"]["ended"], 1);
    assert_eq!(stats["byStatus"]["cancelled"], 1);
    assert_eq!(stats["byStatus"]["ringing"], 1);
    assert_eq!(stats["byStatus"]["missed"], 0);
    assert_eq!(stats["answeredCalls"], 1);
    let rate = stats["answerRate"].as_f64().expect("rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    assert!(stats["totalDurationSeconds"].as_i64().is_some_and(|s| s >= 1));
    assert!(stats["averageDurationSeconds"].as_f64().is_some_and(|s| s >= 1.0));

    let outside = app
        .get(&provider, "/webrtc/stats?startDate=2020-01-01&endDate=2020-12-31")
        .await;
    assert_eq!(expect_status(outside, StatusCode::OK).await["totalCalls"], 0);
    let stranger = user("provider");
    assert_eq!(
        expect_status(app.get(&stranger, "/webrtc/stats").await, StatusCode::OK).await["totalCalls"],
        0
    );
}

#[tokio::test]
async fn a_call_can_include_further_providers_who_then_see_it() {
    let app = spawn_app().await;
    let (provider, colleague, patient) = (user("provider"), user("provider"), user("patient"));
    let r = app
        .post(
            &provider,
            "/webrtc/calls",
            json!({ "patientId": patient.id, "additionalProviderIds": [colleague.id] }),
        )
        .await;
    let call = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(call["providerIds"], json!([provider.id, colleague.id]));
    let id = call["id"].as_str().expect("id");
    expect_status(
        app.get(&colleague, &format!("/webrtc/calls/{id}")).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn concurrent_answers_produce_exactly_one_transition() {
    let app = spawn_app().await;
    let (provider, patient) = (user("provider"), user("patient"));
    let id = app.create_call(&provider, &patient).await;
    let path = format!("/webrtc/calls/{id}/answer");
    let attempts = (0..6).map(|_| app.post(&patient, &path, json!({})));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status()).collect::<Vec<_>>());
    assert!(
        results
            .iter()
            .all(|r| r.status() == StatusCode::OK || r.status() == StatusCode::CONFLICT)
    );
    let call = expect_status(app.get(&patient, &format!("/webrtc/calls/{id}")).await, StatusCode::OK).await;
    assert_eq!(call["transitions"].as_array().map(Vec::len), Some(2));
}
