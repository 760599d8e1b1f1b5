//! Which webhook events an audited fact produces, and their bodies.
//!
//! Every change a webhook reports is already written as an audit entry in the transaction of
//! the change, so the outbox is filled from the same fact at the same point
//! ([`crate::storage::audit::append`]): no code path can change a call, a participant, a
//! recording or a consent without its event, and a rolled-back change loses both.
//!
//! Bodies are built from an allow-list of the fact's fields (ids, times, states, reasons):
//! a name or anything else added to an audit detail later never reaches a receiver.
//! docs/webhooks.md lists each event's fields; a test keeps them in step.

use serde_json::{Map, Value, json};
use vytalcall_domain::audit::AuditFact;
use vytalcall_domain::webhook::EventType;

/// One event to write: its type, the call it belongs to and its `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub kind: EventType,
    pub call_id: Option<String>,
    pub occurred_at: i64,
    pub data: Value,
}

/// The events `fact` reports; none for reads, refusals and everything else.
pub fn from_fact(fact: &AuditFact) -> Vec<NewEvent> {
    let detail: Map<String, Value> = serde_json::from_str(&fact.detail).unwrap_or_default();
    let success = fact.outcome == "success";
    let status = detail.get("status").and_then(Value::as_str).unwrap_or("");
    let kinds: Vec<EventType> = match (fact.action.as_str(), success) {
        ("call.create", true) if status == "ringing" => vec![EventType::CallCreated, EventType::CallRinging],
        ("call.create", true) => vec![EventType::CallCreated],
        ("call.ring", true) => vec![EventType::CallRinging],
        ("call.answer", true) => vec![EventType::CallAnswered],
        ("call.end", true) => vec![EventType::CallEnded],
        ("call.missed", true) => vec![EventType::CallMissed],
        ("call.cancel", true) => vec![EventType::CallCancelled],
        ("call.fail", true) => vec![EventType::CallFailed],
        ("call.join", true) => vec![EventType::ParticipantJoined],
        // A device leaving; not the end of a reconnection grace (no device) nor a row
        // that was closed already.
        ("call.leave", true)
            if detail.contains_key("participant") && detail.get("wasOpen") != Some(&Value::Bool(false)) =>
        {
            vec![EventType::ParticipantLeft]
        }
        ("recording.start", true) => vec![EventType::RecordingStarted],
        ("recording.stop", true) if status == "completed" => {
            vec![EventType::RecordingStopped, EventType::RecordingReady]
        }
        ("recording.stop", true) => vec![EventType::RecordingStopped],
        ("recording.stop", false) if fact.outcome == "failed" => {
            vec![EventType::RecordingStopped, EventType::RecordingFailed]
        }
        ("recording.recover", true) if matches!(status, "completed" | "partial") => vec![EventType::RecordingReady],
        ("recording.recover", true) => vec![EventType::RecordingFailed],
        ("recording.fail", _) if fact.outcome != "denied" => vec![EventType::RecordingFailed],
        ("recording.delete", true) => vec![EventType::RecordingDeleted],
        ("consent.record", true) => vec![EventType::ConsentRecorded],
        ("waiting_room.enter", true) => vec![EventType::WaitingRoomEntered],
        ("waiting_room.admit", true) => vec![EventType::WaitingRoomAdmitted],
        _ => vec![],
    };
    kinds
        .into_iter()
        .map(|kind| NewEvent {
            kind,
            call_id: fact.call_id.clone(),
            occurred_at: fact.occurred_at,
            data: data(kind, fact, &detail),
        })
        .collect()
}

/// The `data` of one event: the allow-listed fields only.
fn data(kind: EventType, fact: &AuditFact, detail: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("callId".into(), json!(fact.call_id));
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = detail.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    };
    use EventType as E;
    match kind {
        E::CallCreated => {
            copy("status", "status");
            copy("type", "callType");
        }
        E::CallRinging => {
            // From creation straight into ringing, or a scheduled call starting to ring.
            if detail.contains_key("to") {
                copy("from", "from");
                copy("to", "status");
            } else {
                out.insert("status".into(), json!("ringing"));
            }
        }
        E::CallAnswered | E::CallEnded | E::CallMissed | E::CallCancelled | E::CallFailed => {
            copy("from", "from");
            copy("to", "status");
            if kind != E::CallAnswered {
                copy("reason", "reason");
            }
        }
        E::ParticipantJoined => {
            copy("participant", "participantId");
            copy("status", "callStatus");
        }
        E::ParticipantLeft => {
            copy("participant", "participantId");
            copy("user", "userId");
            copy("reason", "reason");
        }
        E::RecordingStarted => {
            copy("participants", "participantIds");
            copy("method", "consentMethod");
        }
        E::RecordingStopped | E::RecordingReady => {
            copy("status", "status");
            copy("durationMs", "durationMs");
            copy("sizeBytes", "sizeBytes");
        }
        E::RecordingFailed => {
            copy("stage", "stage");
            copy("status", "status");
        }
        E::RecordingDeleted => {
            copy("reason", "reason");
        }
        E::ConsentRecorded => {
            copy("subject", "userId");
            copy("consented", "consented");
            copy("method", "method");
        }
        E::WaitingRoomEntered => {
            copy("position", "position");
            out.insert("userId".into(), json!(fact.actor_id));
        }
        E::WaitingRoomAdmitted => {
            copy("userId", "userId");
        }
    }
    if let Some(recording) = &fact.recording_id {
        out.insert("recordingId".into(), json!(recording));
    }
    // The acting user's id and role (a join's participant, a consent's recorder); null for
    // the server itself (ring time-outs, retention, recovery).
    match kind {
        E::ParticipantJoined | E::ParticipantLeft if fact.actor_id.is_some() => {
            out.entry("userId").or_insert(json!(fact.actor_id));
        }
        _ => {}
    }
    out.insert("actorId".into(), json!(fact.actor_id));
    out.insert("actorRole".into(), json!(fact.actor_role));
    out.insert("occurredAt".into(), json!(rfc3339(fact.occurred_at)));
    Value::Object(out)
}

/// Unix milliseconds as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The fields each event's `data` can carry, as docs/webhooks.md lists them.
pub fn documented_fields(kind: EventType) -> &'static [&'static str] {
    use EventType as E;
    match kind {
        E::CallCreated => &["status", "callType"],
        E::CallRinging => &["from", "status"],
        E::CallAnswered => &["from", "status"],
        E::CallEnded | E::CallMissed | E::CallCancelled | E::CallFailed => &["from", "status", "reason"],
        E::ParticipantJoined => &["participantId", "userId", "callStatus"],
        E::ParticipantLeft => &["participantId", "userId", "reason"],
        E::RecordingStarted => &["recordingId", "participantIds", "consentMethod"],
        E::RecordingStopped | E::RecordingReady => &["recordingId", "status", "durationMs", "sizeBytes"],
        E::RecordingFailed => &["recordingId", "stage", "status"],
        E::RecordingDeleted => &["recordingId", "reason"],
        E::ConsentRecorded => &["recordingId", "userId", "consented", "method"],
        E::WaitingRoomEntered => &["userId", "position"],
        E::WaitingRoomAdmitted => &["userId"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(action: &str, outcome: &str, detail: Value) -> AuditFact {
        AuditFact {
            occurred_at: 1_700_000_000_000,
            actor_id: Some("11111111-1111-4111-8111-111111111111".into()),
            actor_role: Some("provider".into()),
            device_id: None,
            client_addr: Some("10.0.0.1".into()),
            action: action.into(),
            call_id: Some("22222222-2222-4222-8222-222222222222".into()),
            recording_id: None,
            outcome: outcome.into(),
            detail: detail.to_string(),
        }
    }

    fn kinds(f: &AuditFact) -> Vec<&'static str> {
        from_fact(f).iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn a_call_created_ringing_reports_both_and_a_scheduled_one_only_its_creation() {
        let ringing = fact(
            "call.create",
            "success",
            json!({ "status": "ringing", "type": "video" }),
        );
        assert_eq!(kinds(&ringing), ["call.created", "call.ringing"]);
        let scheduled = fact(
            "call.create",
            "success",
            json!({ "status": "scheduled", "type": "video" }),
        );
        assert_eq!(kinds(&scheduled), ["call.created"]);
    }

    #[test]
    fn refusals_reads_and_failed_transitions_report_nothing() {
        assert!(kinds(&fact("call.answer", "failed", json!({}))).is_empty());
        assert!(kinds(&fact("call.create", "denied", json!({}))).is_empty());
        assert!(kinds(&fact("call.view", "success", json!({}))).is_empty());
        assert!(kinds(&fact("recording.fail", "denied", json!({}))).is_empty());
    }

    #[test]
    fn a_completed_stop_is_also_ready_and_a_failed_stop_is_also_failed() {
        let done = fact(
            "recording.stop",
            "success",
            json!({ "status": "completed", "durationMs": 5 }),
        );
        assert_eq!(kinds(&done), ["recording.stopped", "recording.ready"]);
        let broke = fact("recording.stop", "failed", json!({ "status": "failed" }));
        assert_eq!(kinds(&broke), ["recording.stopped", "recording.failed"]);
    }

    #[test]
    fn only_a_device_that_was_in_the_call_is_reported_leaving() {
        let left = fact(
            "call.leave",
            "success",
            json!({ "participant": "p1", "reason": "left", "wasOpen": true }),
        );
        assert_eq!(kinds(&left), ["participant.left"]);
        let again = fact(
            "call.leave",
            "success",
            json!({ "participant": "p1", "wasOpen": false }),
        );
        assert!(kinds(&again).is_empty());
        let grace = fact(
            "call.leave",
            "success",
            json!({ "user": "u", "reason": "disconnected" }),
        );
        assert!(kinds(&grace).is_empty());
    }

    #[test]
    fn bodies_carry_only_allow_listed_fields_never_names_or_addresses() {
        let f = fact(
            "call.end",
            "success",
            json!({ "from": "active", "to": "ended", "reason": "Call completed", "name": "Ada Lovelace", "patientName": "Ada" }),
        );
        let e = &from_fact(&f)[0];
        let text = e.data.to_string();
        assert!(!text.contains("Ada") && !text.contains("10.0.0.1"), "{text}");
        assert_eq!(e.data["status"], "ended");
        assert_eq!(e.data["reason"], "Call completed");
        assert_eq!(e.data["occurredAt"], "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn every_field_an_event_carries_is_documented() {
        let samples = [
            fact(
                "call.create",
                "success",
                json!({ "status": "ringing", "type": "video" }),
            ),
            fact(
                "call.answer",
                "success",
                json!({ "from": "ringing", "to": "active", "reason": null }),
            ),
            fact(
                "call.end",
                "success",
                json!({ "from": "active", "to": "ended", "reason": "x" }),
            ),
            fact(
                "call.join",
                "success",
                json!({ "status": "active", "participant": "p" }),
            ),
            fact(
                "call.leave",
                "success",
                json!({ "participant": "p", "reason": "left", "wasOpen": true }),
            ),
            fact(
                "recording.start",
                "success",
                json!({ "participants": ["a"], "method": "in_app" }),
            ),
            fact(
                "recording.stop",
                "success",
                json!({ "status": "completed", "durationMs": 1, "sizeBytes": 2 }),
            ),
            fact("recording.fail", "failed", json!({ "stage": "start" })),
            fact(
                "recording.delete",
                "success",
                json!({ "reason": "retention", "startedAt": 1 }),
            ),
            fact(
                "consent.record",
                "success",
                json!({ "subject": "u", "consented": true, "method": "in_app" }),
            ),
        ];
        for f in &samples {
            for e in from_fact(f) {
                for key in e.data.as_object().expect("an object").keys() {
                    let common = ["callId", "actorId", "actorRole", "occurredAt"].contains(&key.as_str());
                    assert!(
                        common || documented_fields(e.kind).contains(&key.as_str()),
                        "{} carries undocumented {key}",
                        e.kind
                    );
                }
            }
        }
    }

    #[test]
    fn docs_webhooks_md_lists_every_event_with_its_fields() {
        let docs = include_str!("../../../../docs/webhooks.md");
        for common in ["callId", "actorId", "actorRole", "occurredAt"] {
            assert!(docs.contains(&format!("`{common}`")), "docs/webhooks.md lists {common}");
        }
        for kind in EventType::ALL {
            let row = docs
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", kind.as_str())))
                .unwrap_or_else(|| panic!("docs/webhooks.md has a row for {kind}"));
            for field in documented_fields(kind) {
                assert!(row.contains(&format!("`{field}`")), "the {kind} row names {field}");
            }
        }
    }
}
