//! `GET /webrtc/reports/interactive-time?month=YYYY-MM`: each patient's interactive
//! communication time in a calendar month, for RPM billing (CPT 99457 / 99458).
//!
//! The month runs midnight to midnight in `REPORT_TIMEZONE`. Admins see every patient and
//! each provider's share; a provider sees only their own time with their patients (and the
//! codes that time reaches); patients are refused. Every read is audited. `Accept:
//! text/csv` gives the same rows as CSV. The arithmetic is
//! `vytalcall_domain::interactive_time`.

use super::access::allowed;
use super::error::{ApiError, Problem};
use super::extract::ValidQuery;
use crate::audit::{self, Action, Outcome};
use crate::auth::AuthUser;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::access::{self, ListScope};
use vytalcall_domain::interactive_time::{self, PatientTime, billing_codes};
use vytalcall_domain::{Millis, UserId};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The calendar month, `YYYY-MM`, in `REPORT_TIMEZONE`; default the current month.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    pub month: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingCode {
    /// `99457` (first 20 minutes) or `99458` (each further 20).
    pub code: String,
    pub units: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderTime {
    pub provider_id: String,
    pub seconds: i64,
    pub minutes: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientReport {
    pub patient_id: String,
    /// Seconds the patient and at least one provider (for a provider's report: that
    /// provider) were connected in the same call.
    pub seconds: i64,
    /// Complete minutes of `seconds`.
    pub minutes: i64,
    /// Calls that contributed time.
    pub calls: usize,
    pub call_ids: Vec<String>,
    /// The thresholds reached.
    pub codes: Vec<BillingCode>,
    pub providers: Vec<ProviderTime>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveTimeReport {
    pub month: String,
    pub time_zone: String,
    /// The month's first and last instants (RFC 3339, UTC).
    pub from: String,
    pub to: String,
    pub patients: Vec<PatientReport>,
}

/// `[from, to)` of the calendar month `month` (`YYYY-MM`) in `tz`, as Unix milliseconds.
pub fn month_bounds(month: &str, tz: &jiff::tz::TimeZone) -> Option<(Millis, Millis)> {
    let (year, mon) = month.split_once('-')?;
    if year.len() != 4 || mon.len() != 2 {
        return None;
    }
    let first = jiff::civil::Date::new(year.parse().ok()?, mon.parse().ok()?, 1).ok()?;
    let next = first.checked_add(jiff::Span::new().months(1)).ok()?;
    let start = first.to_zoned_datetime(tz.clone()).ok()?.timestamp().as_millisecond();
    let end = next.to_zoned_datetime(tz.clone()).ok()?.timestamp().as_millisecond();
    Some((start, end))
}

fn current_month(now: Millis, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(now)
        .map(|t| t.to_zoned_datetime(tz.clone()).strftime("%Y-%m").to_string())
        .unwrap_or_default()
}

/// The report for `viewer`: everyone for an admin, their own time for a provider.
fn shape(times: Vec<PatientTime>, viewer: Option<UserId>) -> Vec<PatientReport> {
    times
        .into_iter()
        .filter_map(|t| {
            let millis = match viewer {
                None => t.millis,
                Some(me) => *t.by_provider.get(&me)?,
            };
            let codes = billing_codes(millis / 60_000);
            let mut listed = Vec::new();
            if codes.cpt_99457 {
                listed.push(BillingCode {
                    code: "99457".into(),
                    units: 1,
                });
            }
            if codes.cpt_99458_units > 0 {
                listed.push(BillingCode {
                    code: "99458".into(),
                    units: codes.cpt_99458_units,
                });
            }
            let providers = t
                .by_provider
                .iter()
                .filter(|(p, _)| viewer.is_none_or(|me| **p == me))
                .map(|(p, ms)| ProviderTime {
                    provider_id: p.to_string(),
                    seconds: ms / 1000,
                    minutes: ms / 60_000,
                })
                .collect();
            Some(PatientReport {
                patient_id: t.patient.to_string(),
                seconds: millis / 1000,
                minutes: millis / 60_000,
                calls: t.calls.len(),
                call_ids: t.calls.iter().map(|c| c.to_string()).collect(),
                codes: listed,
                providers,
            })
        })
        .collect()
}

fn csv(report: &InteractiveTimeReport) -> String {
    let mut out = String::from("month,timeZone,patientId,providerId,seconds,minutes,calls,cpt99457,cpt99458Units\n");
    for p in &report.patients {
        let units = |code: &str| p.codes.iter().find(|c| c.code == code).map_or(0, |c| c.units);
        // Ids, digits and an IANA zone name: nothing here needs quoting.
        out.push_str(&format!(
            "{},{},{},,{},{},{},{},{}\n",
            report.month,
            report.time_zone,
            p.patient_id,
            p.seconds,
            p.minutes,
            p.calls,
            units("99457"),
            units("99458")
        ));
        for pr in &p.providers {
            out.push_str(&format!(
                "{},{},{},{},{},{},,,\n",
                report.month, report.time_zone, p.patient_id, pr.provider_id, pr.seconds, pr.minutes
            ));
        }
    }
    out
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// Interactive communication time per patient in a calendar month (RPM billing).
#[utoipa::path(get, path = "/reports/interactive-time", tag = "reports", params(ReportQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", content(
            (InteractiveTimeReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "Malformed request (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn interactive_time_report(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ValidQuery(q): ValidQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let scope = access::report_scope(user.caller());
    let viewer = match allowed(&state, &user, Action::ReportInteractiveTime, scope).await? {
        ListScope::Every => None,
        ListScope::MemberOf(provider) => Some(provider),
    };
    let tz = &state.settings.report_time_zone;
    let now = crate::now_millis();
    let month = q.month.unwrap_or_else(|| current_month(now, tz));
    let (from, to) = month_bounds(&month, tz)
        .ok_or_else(|| ApiError::bad_request("month", "month must be a calendar month as YYYY-MM"))?;
    let spans = crate::storage::reports::participant_spans(&state.db, from, to, now, viewer).await?;
    let report = InteractiveTimeReport {
        time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
        from: crate::calls::view::iso(from),
        to: crate::calls::view::iso(to),
        patients: shape(interactive_time::interactive_time(&spans, from, to.min(now)), viewer),
        month,
    };
    let detail = json!({ "month": report.month, "patients": report.patients.len() });
    audit::record(
        &state.db,
        user.actor
            .fact(Action::ReportInteractiveTime, None, None, Outcome::Success, detail),
    )
    .await?;
    if wants_csv(&headers) {
        let mut response = csv(&report).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(response);
    }
    Ok(axum::Json(report).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_runs_midnight_to_midnight_in_the_report_time_zone() {
        let ny = jiff::tz::TimeZone::get("America/New_York").expect("bundled tz database");
        let (from, to) = month_bounds("2026-11", &ny).expect("valid month");
        // 2026-11-01T00:00-04:00 (daylight time) to 2026-12-01T00:00-05:00 (standard time).
        assert_eq!(from, 1_793_505_600_000);
        assert_eq!(to, 1_796_101_200_000);
        let (from, to) = month_bounds("2026-12", &jiff::tz::TimeZone::UTC).expect("valid month");
        assert_eq!((to - from) / 86_400_000, 31);
    }

    #[test]
    fn malformed_months_are_refused() {
        for bad in [
            "2026-13",
            "2026-00",
            "26-11",
            "2026-1",
            "2026/11",
            "",
            "abcd-ef",
            "2026-11-01",
        ] {
            assert!(month_bounds(bad, &jiff::tz::TimeZone::UTC).is_none(), "{bad}");
        }
    }
}
