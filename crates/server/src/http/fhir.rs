//! A read-only HL7 FHIR R4 view of visits, for the EHR beside the RPM platform.
//!
//! - `GET /fhir/metadata`: the CapabilityStatement (public, as FHIR clients expect).
//! - `GET /fhir/Encounter/{callId}`: one call as an Encounter.
//! - `GET /fhir/Encounter?subject=Patient/{id}&date=ge2026-11-01&date=lt2026-12-01&_count=50`:
//!   a searchset Bundle, newest first.
//!
//! Access is exactly REST's (the same JWTs, the same `CallsService` checks and audit
//! entries): a patient reading someone else's Encounter gets 404, as over REST. Responses
//! are `application/fhir+json`; errors are OperationOutcome resources. How each field is
//! filled is in docs/api.md ("FHIR").

use super::error::ApiError;
use crate::auth::AuthUser;
use crate::calls::view::CallView;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vytalcall_domain::{CallId, UserId};

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const MAX_COUNT: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/Encounter", get(search_encounters))
        .route("/fhir/Encounter/{id}", get(read_encounter))
}

/// A FHIR response: the resource as `application/fhir+json`.
struct Fhir(StatusCode, Value);

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(self.1)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        response
    }
}

/// Any refusal, as an OperationOutcome with REST's status and detail.
impl From<ApiError> for Fhir {
    fn from(e: ApiError) -> Fhir {
        let code = match e.status {
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::TOO_MANY_REQUESTS => "throttled",
            s if s.is_client_error() => "invalid",
            _ => "exception",
        };
        Fhir(e.status, operation_outcome(code, &e.detail))
    }
}

fn operation_outcome(code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }]
    })
}

fn authenticated(user: Result<AuthUser, Response>) -> Result<AuthUser, Fhir> {
    user.map_err(|refused| {
        let status = refused.status();
        Fhir(status, operation_outcome("login", "a valid bearer token is required"))
    })
}

/// R4's Encounter.status for a call's state.
pub fn encounter_status(call: &CallView) -> &'static str {
    match call.status.as_str() {
        "scheduled" | "ringing" => "planned",
        "active" => "in-progress",
        "ended" => "finished",
        // A call that failed after it was answered was a visit that ended badly; one that
        // failed before was never held.
        "failed" if call.answered_at.is_some() => "finished",
        "cancelled" | "missed" | "failed" => "cancelled",
        _ => "unknown",
    }
}

/// One call as an R4 Encounter.
pub fn encounter(call: &CallView) -> Value {
    let mut e = json!({
        "resourceType": "Encounter",
        "id": call.id,
        "identifier": [{ "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", call.id) }],
        "status": encounter_status(call),
        "class": { "system": ACT_CODE, "code": "VR", "display": "virtual" },
        "subject": { "reference": format!("Patient/{}", call.patient_id) },
        "participant": call.provider_ids.iter().enumerate().map(|(i, p)| json!({
            "type": [{ "coding": [{
                "system": PARTICIPATION,
                "code": if i == 0 { "PPRF" } else { "PART" },
                "display": if i == 0 { "primary performer" } else { "Participation" },
            }] }],
            "individual": { "reference": format!("Practitioner/{p}") },
        })).collect::<Vec<_>>(),
    });
    let start = call.answered_at.as_ref().or(call.scheduled_at.as_ref());
    if start.is_some() || call.ended_at.is_some() {
        let mut period = serde_json::Map::new();
        if let Some(s) = start {
            period.insert("start".into(), json!(s));
        }
        if let Some(end) = &call.ended_at {
            period.insert("end".into(), json!(end));
        }
        e["period"] = Value::Object(period);
    }
    if let Some(seconds) = call.duration_seconds {
        e["length"] = json!({
            "value": (seconds as f64 / 60.0 * 100.0).round() / 100.0,
            "unit": "min", "system": "http://unitsofmeasure.org", "code": "min",
        });
    }
    if let Some(appointment) = &call.appointment_id {
        e["appointment"] = json!([{ "reference": format!("Appointment/{appointment}") }]);
    }
    if let Some(reason) = &call.end_reason {
        e["extension"] = json!([{
            "url": "urn:vytalcall:fhir:StructureDefinition/end-reason",
            "valueString": reason,
        }]);
    }
    e
}

async fn metadata(State(state): State<AppState>) -> Fhir {
    let base = state.settings.public_url.clone().unwrap_or_default();
    let mut statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "publisher": "vytalcall",
        "kind": "instance",
        "software": { "name": "vytalcall", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "vytalcall telehealth visits (read-only)" },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": { "description": "Bearer JWT, the same tokens and access rules as the REST API" },
            "resource": [{
                "type": "Encounter",
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "searchParam": [
                    { "name": "subject", "type": "reference", "documentation": "Patient/{id}" },
                    { "name": "patient", "type": "reference", "documentation": "{id} or Patient/{id}" },
                    { "name": "date", "type": "date", "documentation": "when the call was created; prefixes ge, gt, le, lt, eq" },
                    { "name": "_count", "type": "number", "documentation": "1 to 100, default 50" },
                ],
            }],
        }],
    });
    if !base.is_empty() {
        statement["implementation"]["url"] = json!(format!("{base}/fhir"));
    }
    Fhir(StatusCode::OK, statement)
}

async fn read_encounter(
    State(state): State<AppState>,
    user: Result<AuthUser, Response>,
    Path(id): Path<String>,
) -> Result<Fhir, Fhir> {
    let user = authenticated(user)?;
    let id: CallId = id
        .parse()
        .map_err(|_| ApiError::not_found("no Encounter with that id"))?;
    let details = state.calls.get_for(&user.actor, id).await.map_err(ApiError::from)?;
    Ok(Fhir(StatusCode::OK, encounter(&details.call)))
}

/// The search parameters we understand; FHIR's default (lenient) handling ignores others.
#[derive(Debug, Default, PartialEq)]
struct EncounterSearch {
    patient: Option<UserId>,
    created_from: Option<i64>,
    created_before: Option<i64>,
    count: Option<i64>,
}

fn day_start(date: &str) -> Option<i64> {
    let d: jiff::civil::Date = date.parse().ok()?;
    Some(
        d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

fn parse_search(query: &str) -> Result<EncounterSearch, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| ApiError::bad_request("query", "invalid query string"))?;
    let mut search = EncounterSearch::default();
    const DAY: i64 = 86_400_000;
    for (name, value) in pairs {
        match name.as_str() {
            "subject" | "patient" | "subject:Patient" => {
                let id = value.strip_prefix("Patient/").unwrap_or(&value);
                let id = id
                    .parse()
                    .map_err(|_| ApiError::bad_request(name.clone(), format!("{name} must be Patient/<uuid>")))?;
                search.patient = Some(id);
            }
            "date" => {
                let (prefix, day) = match value.get(..2) {
                    Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
                    _ => ("eq", value.as_str()),
                };
                let start = day_start(day)
                    .ok_or_else(|| ApiError::bad_request("date", "date must be [ge|gt|le|lt|eq]YYYY-MM-DD"))?;
                let (from, before) = match prefix {
                    "ge" => (Some(start), None),
                    "gt" => (Some(start + DAY), None),
                    "le" => (None, Some(start + DAY)),
                    "lt" => (None, Some(start)),
                    _ => (Some(start), Some(start + DAY)),
                };
                if let Some(f) = from {
                    search.created_from = Some(search.created_from.map_or(f, |old| old.max(f)));
                }
                if let Some(b) = before {
                    search.created_before = Some(search.created_before.map_or(b, |old| old.min(b)));
                }
            }
            "_count" => {
                let n: i64 = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| ApiError::bad_request("_count", "_count must be a whole number from 1 to 100"))?;
                search.count = Some(n);
            }
            _ => {}
        }
    }
    Ok(search)
}

async fn search_encounters(
    State(state): State<AppState>,
    user: Result<AuthUser, Response>,
    RawQuery(query): RawQuery,
) -> Result<Fhir, Fhir> {
    let user = authenticated(user)?;
    let query = query.unwrap_or_default();
    let search = parse_search(&query)?;
    let filter = crate::storage::calls::CallFilter {
        patient: search.patient,
        created_from: search.created_from,
        created_before: search.created_before,
        ..Default::default()
    };
    let count = search.count.unwrap_or(50);
    let page = state
        .calls
        .list_for(&user.actor, filter, count, 0)
        .await
        .map_err(ApiError::from)?;
    let base = state.settings.public_url.clone().unwrap_or_default();
    let entries: Vec<Value> = page
        .calls
        .iter()
        .map(|c| {
            json!({
                "fullUrl": format!("{base}/fhir/Encounter/{}", c.id),
                "resource": encounter(c),
                "search": { "mode": "match" },
            })
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": [{ "relation": "self", "url": format!("{base}/fhir/Encounter?{query}") }],
        "entry": entries,
    });
    Ok(Fhir(StatusCode::OK, bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(status: &str) -> CallView {
        let text = |s: &str| Some(s.to_string());
        CallView {
            id: "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b".into(),
            room_id: "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b".into(),
            patient_id: "11111111-1111-4111-8111-111111111111".into(),
            patient_name: text("Ada Patient"),
            provider_id: "22222222-2222-4222-8222-222222222222".into(),
            provider_name: text("Dr. Bea Provider"),
            provider_ids: vec![
                "22222222-2222-4222-8222-222222222222".into(),
                "33333333-3333-4333-8333-333333333333".into(),
            ],
            initiated_by: "22222222-2222-4222-8222-222222222222".into(),
            call_type: "video".into(),
            status: status.into(),
            scheduled_at: None,
            appointment_id: text("apt-17"),
            recording_enabled: false,
            waiting_room: false,
            created_at: "2026-11-02T10:00:00.000Z".into(),
            ringing_at: text("2026-11-02T10:00:00.000Z"),
            answered_at: text("2026-11-02T10:00:05.000Z"),
            ended_at: text("2026-11-02T10:20:05.000Z"),
            end_reason: text("Visit complete"),
            duration_seconds: Some(1200),
        }
    }

    #[test]
    fn an_ended_call_is_a_finished_virtual_encounter_with_its_people_and_length() {
        let e = encounter(&call("ended"));
        let text = e.to_string();
        assert!(
            !text.contains("Ada") && !text.contains("Bea"),
            "no names in an Encounter"
        );
        assert_eq!(e["status"], "finished");
        assert_eq!(e["class"]["code"], "VR");
        assert_eq!(
            e["subject"]["reference"],
            "Patient/11111111-1111-4111-8111-111111111111"
        );
        assert_eq!(
            e["participant"][0]["individual"]["reference"],
            "Practitioner/22222222-2222-4222-8222-222222222222"
        );
        assert_eq!(e["participant"][1]["type"][0]["coding"][0]["code"], "PART");
        assert_eq!(e["period"]["start"], "2026-11-02T10:00:05.000Z");
        assert_eq!(e["length"]["value"], 20.0);
        assert_eq!(e["appointment"][0]["reference"], "Appointment/apt-17");
    }

    #[test]
    fn every_call_state_maps_to_an_r4_encounter_status() {
        for (state, expected) in [
            ("scheduled", "planned"),
            ("ringing", "planned"),
            ("active", "in-progress"),
            ("ended", "finished"),
            ("cancelled", "cancelled"),
            ("missed", "cancelled"),
            ("failed", "finished"),
        ] {
            assert_eq!(encounter_status(&call(state)), expected, "{state}");
        }
    }

    #[test]
    fn search_parameters_are_parsed_and_bad_ones_named() {
        let s = parse_search("subject=Patient/11111111-1111-4111-8111-111111111111&date=ge2026-11-01&date=lt2026-12-01&_count=5&_format=json")
            .expect("valid");
        assert_eq!(
            s.patient.map(|p| p.to_string()).as_deref(),
            Some("11111111-1111-4111-8111-111111111111")
        );
        assert_eq!(s.created_from, Some(1_793_491_200_000));
        assert_eq!(s.created_before, Some(1_796_083_200_000));
        assert_eq!(s.count, Some(5));
        for (bad, field) in [
            ("subject=Patient/bob", "subject"),
            ("date=2026-13-01", "date"),
            ("date=ge2026-11", "date"),
            ("_count=0", "_count"),
            ("_count=1000", "_count"),
        ] {
            assert_eq!(parse_search(bad).expect_err(bad).field.as_deref(), Some(field), "{bad}");
        }
    }
}
