//! Every action the audit trail records, under the name it is stored and queried by. One
//! closed list, so a reader of the trail (and `docs/audit-trail.md`, which a test keeps in
//! step) knows every name that can appear.

/// What an audit entry says happened. The stored name is `area.verb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    CallCreate,
    CallView,
    CallList,
    CallRing,
    CallAnswer,
    CallJoin,
    CallLeave,
    CallEnd,
    CallCancel,
    CallMissed,
    CallFail,
    SignalRelay,
    StatsView,
    AuditView,
    ReportInteractiveTime,
    PersonList,
    PersonView,
    ConsentRecord,
    ConsentRequest,
    RecordingStart,
    RecordingStop,
    RecordingFail,
    RecordingRecover,
    RecordingConnect,
    RecordingView,
    RecordingAccess,
    RecordingLegalHold,
    RecordingExport,
    RecordingDelete,
    RecordingRewrap,
    WebhookCreate,
    WebhookList,
    WebhookDelete,
    WebhookRotate,
    WebhookDeliveries,
    WebhookRedeliver,
    WaitingRoomEnter,
    WaitingRoomLeave,
    WaitingRoomAdmit,
    WaitingRoomReturn,
    WaitingRoomMessage,
}

impl Action {
    pub const ALL: [Action; 41] = [
        Action::CallCreate,
        Action::CallView,
        Action::CallList,
        Action::CallRing,
        Action::CallAnswer,
        Action::CallJoin,
        Action::CallLeave,
        Action::CallEnd,
        Action::CallCancel,
        Action::CallMissed,
        Action::CallFail,
        Action::SignalRelay,
        Action::StatsView,
        Action::AuditView,
        Action::ReportInteractiveTime,
        Action::PersonList,
        Action::PersonView,
        Action::ConsentRecord,
        Action::ConsentRequest,
        Action::RecordingStart,
        Action::RecordingStop,
        Action::RecordingFail,
        Action::RecordingRecover,
        Action::RecordingConnect,
        Action::RecordingView,
        Action::RecordingAccess,
        Action::RecordingLegalHold,
        Action::RecordingExport,
        Action::RecordingDelete,
        Action::RecordingRewrap,
        Action::WebhookCreate,
        Action::WebhookList,
        Action::WebhookDelete,
        Action::WebhookRotate,
        Action::WebhookDeliveries,
        Action::WebhookRedeliver,
        Action::WaitingRoomEnter,
        Action::WaitingRoomLeave,
        Action::WaitingRoomAdmit,
        Action::WaitingRoomReturn,
        Action::WaitingRoomMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::CallCreate => "call.create",
            Action::CallView => "call.view",
            Action::CallList => "call.list",
            Action::CallRing => "call.ring",
            Action::CallAnswer => "call.answer",
            Action::CallJoin => "call.join",
            Action::CallLeave => "call.leave",
            Action::CallEnd => "call.end",
            Action::CallCancel => "call.cancel",
            Action::CallMissed => "call.missed",
            Action::CallFail => "call.fail",
            Action::SignalRelay => "signal.relay",
            Action::StatsView => "stats.view",
            Action::AuditView => "audit.view",
            Action::ReportInteractiveTime => "report.interactive_time",
            Action::PersonList => "person.list",
            Action::PersonView => "person.view",
            Action::ConsentRecord => "consent.record",
            Action::ConsentRequest => "consent.request",
            Action::RecordingStart => "recording.start",
            Action::RecordingStop => "recording.stop",
            Action::RecordingFail => "recording.fail",
            Action::RecordingRecover => "recording.recover",
            Action::RecordingConnect => "recording.connect",
            Action::RecordingView => "recording.view",
            Action::RecordingAccess => "recording.access",
            Action::RecordingLegalHold => "recording.legal_hold",
            Action::RecordingExport => "recording.export",
            Action::RecordingDelete => "recording.delete",
            Action::RecordingRewrap => "recording.rewrap",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookList => "webhook.list",
            Action::WebhookDelete => "webhook.delete",
            Action::WebhookRotate => "webhook.rotate_secret",
            Action::WebhookDeliveries => "webhook.deliveries",
            Action::WebhookRedeliver => "webhook.redeliver",
            Action::WaitingRoomEnter => "waiting_room.enter",
            Action::WaitingRoomLeave => "waiting_room.leave",
            Action::WaitingRoomAdmit => "waiting_room.admit",
            Action::WaitingRoomReturn => "waiting_room.return",
            Action::WaitingRoomMessage => "waiting_room.message",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Action;
    use std::collections::HashSet;

    #[test]
    fn every_action_has_its_own_area_dot_verb_name() {
        let names: HashSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len(), "names are unique");
        for name in names {
            let (area, verb) = name.split_once('.').expect("area.verb");
            assert!(!area.is_empty() && !verb.is_empty() && !verb.contains('.'), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn the_audit_trail_docs_name_every_action() {
        let docs = include_str!("../../../../docs/audit-trail.md");
        let missing: Vec<&str> = Action::ALL
            .iter()
            .map(|a| a.as_str())
            .filter(|name| !docs.contains(&format!("`{name}`")))
            .collect();
        assert!(missing.is_empty(), "docs/audit-trail.md does not list {missing:?}");
    }
}
