//! What the API returns about calls (camelCase JSON, times as RFC 3339 UTC strings).

use crate::people::name_in;
use crate::storage::calls::{ConsentRecord, ParticipantRecord, StatusAggregate, StoredCall, TransitionRecord};
use crate::storage::people::Person;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use vytalcall_domain::UserId;
use vytalcall_domain::call::CallStatus;

/// Unix milliseconds as an RFC 3339 UTC timestamp.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    #[schema(format = Uuid)]
    pub id: String,
    /// The signaling room of the call (Socket.IO); equal to the call id.
    pub room_id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// The patient's display name (their latest token's `name` claim); null when unknown.
    pub patient_name: Option<String>,
    /// The provider the call was placed with.
    #[schema(format = Uuid)]
    pub provider_id: String,
    /// That provider's display name; null when unknown.
    pub provider_name: Option<String>,
    /// Every provider of the call, `providerId` first.
    pub provider_ids: Vec<String>,
    #[schema(format = Uuid)]
    pub initiated_by: String,
    #[serde(rename = "type")]
    #[schema(example = "video")]
    pub call_type: String,
    #[schema(example = "ringing")]
    pub status: String,
    pub scheduled_at: Option<String>,
    pub appointment_id: Option<String>,
    pub recording_enabled: bool,
    /// Visitors wait until a provider admits them.
    pub waiting_room: bool,
    pub created_at: String,
    pub ringing_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// Seconds from answer to end; null until the call has ended after being answered.
    pub duration_seconds: Option<i64>,
}

impl CallView {
    /// The call as the API shows it, its people named from `people` (who may be unknown).
    pub fn new(s: &StoredCall, people: &HashMap<UserId, Person>) -> Self {
        let c = &s.call;
        let providers: Vec<String> = s.members.providers.iter().map(|p| p.to_string()).collect();
        let first_provider = s.members.providers.first().copied();
        CallView {
            id: c.id.to_string(),
            room_id: s.room_id.clone(),
            patient_id: s.members.patient.to_string(),
            patient_name: name_in(people, s.members.patient),
            provider_id: providers.first().cloned().unwrap_or_default(),
            provider_name: first_provider.and_then(|p| name_in(people, p)),
            provider_ids: providers,
            initiated_by: c.initiated_by.to_string(),
            call_type: s.call_type.as_str().into(),
            status: c.status.as_str().into(),
            scheduled_at: s.scheduled_at.map(iso),
            appointment_id: s.appointment_id.clone(),
            recording_enabled: s.recording_enabled,
            waiting_room: s.waiting_room,
            created_at: iso(c.created_at),
            ringing_at: c.ringing_at.map(iso),
            answered_at: c.answered_at.map(iso),
            ended_at: c.ended_at.map(iso),
            end_reason: s.end_reason.clone(),
            duration_seconds: c.duration_seconds(),
        }
    }
}

/// One device's time in the call.
#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub user_id: String,
    /// The person's display name; null when unknown.
    pub name: Option<String>,
    pub role: String,
    pub device_id: Option<String>,
    pub joined_at: String,
    pub left_at: Option<String>,
    pub leave_reason: Option<String>,
    pub video_enabled: bool,
    pub audio_enabled: bool,
    pub screen_share_enabled: bool,
}

impl ParticipantView {
    pub fn new(p: ParticipantRecord, people: &HashMap<UserId, Person>) -> Self {
        let name = p.user_id.parse().ok().and_then(|u| name_in(people, u));
        ParticipantView {
            name,
            user_id: p.user_id,
            role: p.role,
            device_id: p.device_id,
            joined_at: iso(p.joined_at),
            left_at: p.left_at.map(iso),
            leave_reason: p.leave_reason,
            video_enabled: p.video_enabled,
            audio_enabled: p.audio_enabled,
            screen_share_enabled: p.screen_share_enabled,
        }
    }
}

#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct TransitionView {
    /// Null for the call's creation.
    pub from: Option<String>,
    pub to: String,
    pub at: String,
    /// Null when the server itself acted (ring time-out).
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub reason: Option<String>,
}

impl From<TransitionRecord> for TransitionView {
    fn from(t: TransitionRecord) -> Self {
        TransitionView {
            from: t.from,
            to: t.to,
            at: iso(t.at),
            actor_id: t.actor_id,
            actor_role: t.actor_role,
            reason: t.reason,
        }
    }
}

/// A consent statement as recorded.
#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    pub user_id: String,
    pub consented: bool,
    pub method: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

impl From<ConsentRecord> for ConsentView {
    fn from(c: ConsentRecord) -> Self {
        ConsentView {
            user_id: c.user.to_string(),
            consented: c.consented,
            method: c.method.as_str().into(),
            recorded_by: c.recorded_by.to_string(),
            recorded_at: iso(c.recorded_at),
        }
    }
}

/// A call with its history: who joined from which device, every transition, every consent.
#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CallDetails {
    #[serde(flatten)]
    pub call: CallView,
    pub participants: Vec<ParticipantView>,
    pub transitions: Vec<TransitionView>,
    pub consents: Vec<ConsentView>,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CallPage {
    pub calls: Vec<CallView>,
    /// Calls matching the filters, across all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CallStats {
    pub total_calls: i64,
    /// Every status, including those with no call.
    pub by_status: BTreeMap<String, i64>,
    /// Calls that were answered.
    pub answered_calls: i64,
    /// Answered calls divided by calls that rang (0 when none rang).
    pub answer_rate: f64,
    /// Seconds between answer and end, summed over ended calls.
    pub total_duration_seconds: i64,
    pub average_duration_seconds: f64,
}

impl CallStats {
    pub fn from_aggregates(rows: &[StatusAggregate]) -> CallStats {
        let mut by_status: BTreeMap<String, i64> =
            CallStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
        let (mut total, mut answered, mut rang, mut ms, mut with_duration) = (0, 0, 0, 0, 0);
        for r in rows {
            by_status.insert(r.status.as_str().to_string(), r.count);
            total += r.count;
            answered += r.answered;
            rang += r.rang;
            ms += r.connected_ms;
            with_duration += r.completed_with_duration;
        }
        let ratio = |a: i64, b: i64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        CallStats {
            total_calls: total,
            by_status,
            answered_calls: answered,
            answer_rate: ratio(answered, rang),
            total_duration_seconds: ms / 1000,
            average_duration_seconds: (ratio(ms, with_duration) / 1000.0 * 10.0).round() / 10.0,
        }
    }
}
