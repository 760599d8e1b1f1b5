//! The interactive-time report (RPM billing) over constructed join/leave histories.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

const MIN: i64 = 60_000;

/// 2026-10-31T23:00 in America/New_York (03:00Z on 1 November): an hour before the local
/// month ends, three hours after the UTC month did.
const NY_OCT_31_2300: i64 = 1_793_502_000_000;

/// Writes one device span of `who` into `call` directly, as signaling would have.
async fn span(app: &TestApp, call: &str, who: &User, device: &str, from: i64, to: Option<i64>) {
    sqlx::query(
        "INSERT INTO call_participants (id, call_id, user_id, role, device_id, joined_at, left_at, \
         leave_reason, video_enabled, audio_enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 1)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(call)
    .bind(who.id.to_string())
    .bind(who.role)
    .bind(device)
    .bind(from)
    .bind(to)
    .bind(to.map(|_| "left"))
    .execute(&app.db.pool)
    .await
    .expect("insert span");
}

async fn report(app: &TestApp, who: &User, month: &str) -> Value {
    expect_status(
        app.get(who, &format!("/webrtc/reports/interactive-time?month={month}"))
            .await,
        StatusCode::OK,
    )
    .await
}

fn patient_row<'a>(report: &'a Value, patient: &User) -> Option<&'a Value> {
    report["patients"]
        .as_array()
        .expect("patients")
        .iter()
        .find(|p| p["patientId"] == patient.id.to_string())
}

#[tokio::test]
async fn devices_reconnections_a_late_provider_and_a_month_boundary_in_new_york() {
    let app = spawn_app_with(&[("REPORT_TIMEZONE", "America/New_York")]).await;
    let (dr_a, dr_b, patient, admin) = (user("provider"), user("provider"), user("patient"), user("admin"));
    let call = app.active_call(&dr_a, &patient).await;
    let t = NY_OCT_31_2300;
    // The patient joins on a phone and a laptop at once, drops for 2 minutes, comes back.
    span(&app, &call, &patient, "phone", t - 30 * MIN, Some(t + 10 * MIN)).await;
    span(&app, &call, &patient, "laptop", t - 20 * MIN, Some(t - 5 * MIN)).await;
    span(&app, &call, &patient, "phone", t + 12 * MIN, Some(t + 90 * MIN)).await;
    // Dr A joins 10 minutes after the patient and stays to the end; Dr B joins briefly.
    span(&app, &call, &dr_a, "desk", t - 20 * MIN, Some(t + 90 * MIN)).await;
    span(&app, &call, &dr_b, "desk", t + 70 * MIN, Some(t + 80 * MIN)).await;

    // October (New York) ends at t + 60 min: 20 min before t with Dr A, 10 after t, then the
    // drop, then 12..60 = 48 more: 78 minutes; November gets 60..90 = 30.
    let october = report(&app, &admin, "2026-10").await;
    assert_eq!(october["timeZone"], "America/New_York");
    let row = patient_row(&october, &patient).expect("the patient is in October");
    assert_eq!(row["minutes"], 78);
    assert_eq!(row["calls"], 1);
    assert_eq!(
        row["codes"],
        serde_json::json!([{ "code": "99457", "units": 1 }, { "code": "99458", "units": 2 }])
    );
    let november = report(&app, &admin, "2026-11").await;
    let row = patient_row(&november, &patient).expect("and in November");
    assert_eq!(row["minutes"], 30);
    assert_eq!(row["codes"], serde_json::json!([{ "code": "99457", "units": 1 }]));
    let providers = row["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 2, "{providers:?}");

    // Dr B sees only their own 10 minutes with the patient, and no code.
    let mine = report(&app, &dr_b, "2026-11").await;
    let row = patient_row(&mine, &patient).expect("Dr B's patient");
    assert_eq!(row["minutes"], 10);
    assert_eq!(row["codes"], serde_json::json!([]));
    assert_eq!(row["providers"].as_array().map(Vec::len), Some(1));
    // A provider with no calls sees nobody; a month without calls is empty.
    assert_eq!(
        report(&app, &user("provider"), "2026-11").await["patients"],
        serde_json::json!([])
    );
    assert_eq!(report(&app, &admin, "2026-09").await["patients"], serde_json::json!([]));
}

#[tokio::test]
async fn the_report_as_csv_patients_refused_bad_months_named_and_reads_audited() {
    let app = spawn_app().await;
    let (dr, patient, admin) = (user("provider"), user("patient"), user("admin"));
    let call = app.active_call(&dr, &patient).await;
    let start = 1_790_000_000_000; // 2026-09-21T14:13:20Z
    span(&app, &call, &patient, "phone", start, Some(start + 25 * MIN + 30_000)).await;
    span(&app, &call, &dr, "desk", start, Some(start + 25 * MIN + 30_000)).await;

    let r = app
        .http
        .get(app.url("/webrtc/reports/interactive-time?month=2026-09"))
        .bearer_auth(&admin.token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "month,timeZone,patientId,providerId,seconds,minutes,calls,cpt99457,cpt99458Units"
    );
    assert_eq!(lines[1], format!("2026-09,UTC,{},,1530,25,1,1,0", patient.id));
    assert_eq!(lines[2], format!("2026-09,UTC,{},{},1530,25,,,", patient.id, dr.id));

    let r = app
        .get(&patient, "/webrtc/reports/interactive-time?month=2026-09")
        .await;
    expect_problem(r, StatusCode::FORBIDDEN, None).await;
    for bad in ["2026-13", "September", "2026-9", "2026-09-01"] {
        let r = app
            .get(&admin, &format!("/webrtc/reports/interactive-time?month={bad}"))
            .await;
        expect_problem(r, StatusCode::BAD_REQUEST, Some("month")).await;
    }
    let reads: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|(action, ..)| action == "report.interactive_time")
        .map(|(_, outcome, ..)| outcome)
        .collect();
    assert_eq!(
        reads,
        ["success", "denied"],
        "each read audited, the refused one as denied"
    );
}

#[tokio::test]
async fn an_unknown_report_time_zone_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(["--data-dir", dir.path().to_str().expect("path"), "migrate"])
        .env("REPORT_TIMEZONE", "Mars/Olympus_Mons")
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REPORT_TIMEZONE"));
}
