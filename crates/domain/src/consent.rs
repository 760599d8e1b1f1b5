//! Recording consent: who must have agreed before a recording starts, whose media may be
//! recorded while it runs, and when a recording is due for deletion.
//!
//! Consent is a history, not a flag: every statement (given on answering, attested by a
//! provider in the start request, or given or refused by a late joiner) is kept with its
//! method, time and who recorded it. A person's **latest** statement counts, so a refusal
//! after an earlier yes withdraws it.

use crate::{Millis, UserId};
use std::collections::BTreeMap;

/// One recorded statement of consent or refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub user: UserId,
    pub consented: bool,
    pub at: Millis,
}

/// How a statement was obtained: said aloud, signed, given electronically, or in the app
/// itself (on answering, or a late joiner's reply). The wire names are `verbal`, `written`,
/// `electronic` and `in-app`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsentMethod {
    Verbal,
    Written,
    Electronic,
    InApp,
}

/// A method name that is not one of [`ConsentMethod::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("consent method must be verbal, written, electronic or in-app")]
pub struct UnknownMethod;

impl ConsentMethod {
    pub const ALL: [ConsentMethod; 4] = [
        ConsentMethod::Verbal,
        ConsentMethod::Written,
        ConsentMethod::Electronic,
        ConsentMethod::InApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Verbal => "verbal",
            ConsentMethod::Written => "written",
            ConsentMethod::Electronic => "electronic",
            ConsentMethod::InApp => "in-app",
        }
    }
}

impl std::str::FromStr for ConsentMethod {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(UnknownMethod)
    }
}

/// Each person's latest statement; ties in time go to the later entry in `history`.
pub fn latest(history: &[Statement]) -> BTreeMap<UserId, bool> {
    let mut by_user: BTreeMap<UserId, (Millis, bool)> = BTreeMap::new();
    for s in history {
        match by_user.get(&s.user) {
            Some((at, _)) if *at > s.at => {}
            _ => {
                by_user.insert(s.user, (s.at, s.consented));
            }
        }
    }
    by_user.into_iter().map(|(u, (_, c))| (u, c)).collect()
}

/// Whether `user`'s media may be recorded now.
pub fn has_consented(user: UserId, history: &[Statement]) -> bool {
    latest(history).get(&user).copied().unwrap_or(false)
}

/// Why a recording cannot start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartRefused {
    #[error("only an active call can be recorded")]
    CallNotActive,
    #[error("a recording of this call is already running")]
    AlreadyRecording,
    #[error("consent to recording is missing from {}", list(.0))]
    ConsentMissing(Vec<UserId>),
}

fn list(users: &[UserId]) -> String {
    users.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Decides whether a recording may start: the call is active, none is running, and every
/// current participant's latest statement is consent. `present` is everyone in the call
/// now; the refusal names, in order, everyone whose consent is missing.
pub fn may_start(
    call_active: bool,
    already_recording: bool,
    present: &[UserId],
    history: &[Statement],
) -> Result<(), StartRefused> {
    if !call_active {
        return Err(StartRefused::CallNotActive);
    }
    if already_recording {
        return Err(StartRefused::AlreadyRecording);
    }
    let latest = latest(history);
    let mut missing: Vec<UserId> = Vec::new();
    for user in present {
        if !latest.get(user).copied().unwrap_or(false) && !missing.contains(user) {
            missing.push(*user);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StartRefused::ConsentMissing(missing))
    }
}

/// Everyone in the call now: the person who placed it, those who answered, and anyone with an
/// open session (joined over signaling and not left). Deduplicated, in that order.
pub fn present(initiated_by: UserId, answered: &[UserId], open_sessions: &[UserId]) -> Vec<UserId> {
    let mut out = vec![initiated_by];
    for u in answered.iter().chain(open_sessions) {
        if !out.contains(u) {
            out.push(*u);
        }
    }
    out
}

const DAY_MS: Millis = 86_400_000;

/// How long recordings are kept under a retention of `days`.
fn retention_ms(days: u32) -> Millis {
    i64::from(days).saturating_mul(DAY_MS)
}

/// When a recording that started at `started_at` expires under a retention of `days`.
pub fn expires_at(started_at: Millis, days: u32) -> Millis {
    started_at.saturating_add(retention_ms(days))
}

/// The retention cut-off at `now`: a recording that started at or before it has expired.
/// Storage selects candidates for deletion with it; [`due_for_deletion`] decides with it.
pub fn retention_cutoff(now: Millis, days: u32) -> Millis {
    now.saturating_sub(retention_ms(days))
}

/// Whether a recording is due for deletion: expired and not under legal hold.
pub fn due_for_deletion(started_at: Millis, days: u32, legal_hold: bool, now: Millis) -> bool {
    !legal_hold && started_at <= retention_cutoff(now, days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_method_reads_back_from_its_wire_name_and_nothing_else_parses() {
        for m in ConsentMethod::ALL {
            assert_eq!(m.as_str().parse::<ConsentMethod>(), Ok(m));
        }
        for bad in ["", "telepathy", "In-App", "in_app", "verbal "] {
            assert_eq!(bad.parse::<ConsentMethod>(), Err(UnknownMethod), "{bad:?}");
        }
    }

    fn user() -> UserId {
        UserId::new_random()
    }

    fn yes(user: UserId, at: Millis) -> Statement {
        Statement {
            user,
            consented: true,
            at,
        }
    }

    fn no(user: UserId, at: Millis) -> Statement {
        Statement {
            user,
            consented: false,
            at,
        }
    }

    #[test]
    fn a_recording_starts_only_with_everyones_consent() {
        let (provider, patient) = (user(), user());
        let present = [provider, patient];
        assert_eq!(
            may_start(true, false, &present, &[yes(provider, 1), yes(patient, 2)]),
            Ok(())
        );
        assert_eq!(
            may_start(true, false, &present, &[yes(provider, 1)]),
            Err(StartRefused::ConsentMissing(vec![patient]))
        );
        assert_eq!(
            may_start(true, false, &present, &[]),
            Err(StartRefused::ConsentMissing(vec![provider, patient]))
        );
    }

    #[test]
    fn the_latest_statement_counts_so_a_refusal_withdraws_consent() {
        let patient = user();
        assert!(has_consented(patient, &[yes(patient, 1)]));
        assert!(!has_consented(patient, &[yes(patient, 1), no(patient, 2)]));
        assert!(has_consented(patient, &[no(patient, 1), yes(patient, 2)]));
        // Out-of-order history still picks the latest by time.
        assert!(!has_consented(patient, &[no(patient, 5), yes(patient, 2)]));
        // Same instant: the later entry wins.
        assert!(!has_consented(patient, &[yes(patient, 3), no(patient, 3)]));
        assert!(!has_consented(patient, &[]));
    }

    #[test]
    fn someone_elses_consent_never_covers_a_participant() {
        let (a, b) = (user(), user());
        assert_eq!(
            may_start(true, false, &[a, b], &[yes(a, 1), yes(a, 2)]),
            Err(StartRefused::ConsentMissing(vec![b]))
        );
    }

    #[test]
    fn only_one_recording_of_an_active_call_runs_at_a_time() {
        let a = user();
        assert_eq!(
            may_start(false, false, &[a], &[yes(a, 1)]),
            Err(StartRefused::CallNotActive)
        );
        assert_eq!(
            may_start(true, true, &[a], &[yes(a, 1)]),
            Err(StartRefused::AlreadyRecording)
        );
    }

    #[test]
    fn everyone_present_is_the_caller_the_answerers_and_open_sessions() {
        let (p, q, r) = (user(), user(), user());
        assert_eq!(present(p, &[q], &[q, r, p]), vec![p, q, r]);
    }

    #[test]
    fn retention_spares_recordings_under_legal_hold() {
        let day = 86_400_000;
        assert!(!due_for_deletion(0, 30, false, 30 * day - 1));
        assert!(due_for_deletion(0, 30, false, 30 * day));
        assert!(!due_for_deletion(0, 30, true, 365 * day));
        assert!(due_for_deletion(0, 0, false, 0));
    }

    #[test]
    fn a_recording_is_due_from_the_instant_it_expires_and_the_cutoff_agrees() {
        let day = 86_400_000;
        let started = 5 * day + 123;
        assert_eq!(expires_at(started, 30), 35 * day + 123);
        assert_eq!(retention_cutoff(35 * day + 123, 30), started);
        assert!(!due_for_deletion(started, 30, false, expires_at(started, 30) - 1));
        assert!(due_for_deletion(started, 30, false, expires_at(started, 30)));
    }
}
