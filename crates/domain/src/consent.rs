//! Recording consent: who must have agreed before a recording starts, whose media may be
//! recorded while it runs, and when a recording is due for deletion.
//!
//! Consent is a history, not a flag: every statement (given on answering, attested by a
//! provider in the start request, or given or refused by a late joiner) is kept with its
//! method, time and who recorded it. What counts for a person is their **standing**:
//!
//! - their own latest statement, when they have made one: a refusal after an earlier yes
//!   withdraws it, and only their own yes replaces their own refusal;
//! - otherwise the latest attestation by someone else (a provider's "the patient said yes
//!   aloud"), which only fills in for a person who has not spoken for themselves, and never
//!   with the `in-app` method, which only the person can use.

use crate::{Millis, UserId};
use std::collections::BTreeMap;

/// One recorded statement of consent or refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Whose consent this is.
    pub user: UserId,
    pub consented: bool,
    pub at: Millis,
    /// Who made the statement: `user` themselves, or the provider attesting for them.
    pub by: UserId,
    pub method: ConsentMethod,
}

impl Statement {
    /// The person's own word, as opposed to an attestation about them.
    pub fn is_own(&self) -> bool {
        self.by == self.user
    }

    /// Whether the statement counts at all: an attestation claiming `in-app` is not the
    /// person's in-app answer, so it counts for nothing.
    fn counts(&self) -> bool {
        self.is_own() || self.method != ConsentMethod::InApp
    }
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

/// Each person's standing: for everyone with a statement that counts, whether they stand as
/// consenting. Own statements outrank attestations whatever their times; among equals the
/// latest wins, and ties in time go to the later entry in `history`.
pub fn standings(history: &[Statement]) -> BTreeMap<UserId, bool> {
    // (own, at) orders statements: any own statement beats any attestation.
    let mut by_user: BTreeMap<UserId, ((bool, Millis), bool)> = BTreeMap::new();
    for s in history.iter().filter(|s| s.counts()) {
        let rank = (s.is_own(), s.at);
        match by_user.get(&s.user) {
            Some((best, _)) if *best > rank => {}
            _ => {
                by_user.insert(s.user, (rank, s.consented));
            }
        }
    }
    by_user.into_iter().map(|(u, (_, c))| (u, c)).collect()
}

/// `user`'s own latest word, if they have spoken for themselves.
pub fn own_word(user: UserId, history: &[Statement]) -> Option<bool> {
    let own: Vec<Statement> = history
        .iter()
        .filter(|s| s.user == user && s.is_own())
        .cloned()
        .collect();
    standings(&own).get(&user).copied()
}

/// Whether `user`'s media may be recorded now.
pub fn has_consented(user: UserId, history: &[Statement]) -> bool {
    standings(history).get(&user).copied().unwrap_or(false)
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

/// What a start request says about consent: `by` (the provider starting the recording)
/// states, with `method`, that each of `users` agreed. For `by` themselves it is their own
/// word; for anyone else it is an attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    pub by: UserId,
    pub method: ConsentMethod,
    pub users: Vec<UserId>,
    pub at: Millis,
}

impl Attestation {
    /// An attestation of nobody: the request relies on what is already on record.
    pub fn none(by: UserId, at: Millis) -> Self {
        Attestation {
            by,
            method: ConsentMethod::Verbal,
            users: Vec::new(),
            at,
        }
    }
}

/// Decides whether a recording may start: the call is active, none is running, every current
/// participant stands as consenting (the request's attestations included, where they may fill
/// in), and nobody attested has refused in their own word. On success, the statements of the
/// request to record (its own-word statement and the attestations that filled in); on
/// refusal, everyone whose consent is missing, in order. `present` is everyone in the call now.
pub fn may_start(
    call_active: bool,
    already_recording: bool,
    present: &[UserId],
    history: &[Statement],
    attestation: &Attestation,
) -> Result<Vec<Statement>, StartRefused> {
    if !call_active {
        return Err(StartRefused::CallNotActive);
    }
    if already_recording {
        return Err(StartRefused::AlreadyRecording);
    }
    let mut missing: Vec<UserId> = Vec::new();
    let mut to_record: Vec<Statement> = Vec::new();
    for user in &attestation.users {
        let statement = Statement {
            user: *user,
            consented: true,
            at: attestation.at,
            by: attestation.by,
            method: attestation.method,
        };
        let own = own_word(*user, history);
        if own == Some(false) && !statement.is_own() {
            missing.push(*user);
        } else if statement.counts()
            && (statement.is_own() || own.is_none())
            && !to_record.iter().any(|s| s.user == *user)
        {
            to_record.push(statement);
        }
    }
    let mut with_request = history.to_vec();
    with_request.extend(to_record.iter().cloned());
    let standing = standings(&with_request);
    for user in present {
        if !standing.get(user).copied().unwrap_or(false) && !missing.contains(user) {
            missing.push(*user);
        }
    }
    if missing.is_empty() {
        Ok(to_record)
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

    fn own(user: UserId, consented: bool, at: Millis) -> Statement {
        Statement {
            user,
            consented,
            at,
            by: user,
            method: ConsentMethod::InApp,
        }
    }

    fn yes(user: UserId, at: Millis) -> Statement {
        own(user, true, at)
    }

    fn no(user: UserId, at: Millis) -> Statement {
        own(user, false, at)
    }

    fn attested(user: UserId, by: UserId, method: ConsentMethod, at: Millis) -> Statement {
        Statement {
            user,
            consented: true,
            at,
            by,
            method,
        }
    }

    fn nobody(by: UserId) -> Attestation {
        Attestation::none(by, 100)
    }

    fn attest(by: UserId, method: ConsentMethod, users: &[UserId]) -> Attestation {
        Attestation {
            by,
            method,
            users: users.to_vec(),
            at: 100,
        }
    }

    #[test]
    fn a_recording_starts_only_with_everyones_consent() {
        let (provider, patient) = (user(), user());
        let present = [provider, patient];
        let none = nobody(provider);
        assert_eq!(
            may_start(true, false, &present, &[yes(provider, 1), yes(patient, 2)], &none),
            Ok(vec![])
        );
        assert_eq!(
            may_start(true, false, &present, &[yes(provider, 1)], &none),
            Err(StartRefused::ConsentMissing(vec![patient]))
        );
        assert_eq!(
            may_start(true, false, &present, &[], &none),
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
            may_start(true, false, &[a, b], &[yes(a, 1), yes(a, 2)], &nobody(a)),
            Err(StartRefused::ConsentMissing(vec![b]))
        );
    }

    #[test]
    fn an_attestation_fills_in_for_someone_who_has_not_spoken_and_is_recorded() {
        let (provider, patient) = (user(), user());
        let request = attest(provider, ConsentMethod::Verbal, &[provider, patient]);
        let to_record = may_start(true, false, &[provider, patient], &[], &request).expect("starts");
        assert_eq!(
            to_record,
            vec![
                attested(provider, provider, ConsentMethod::Verbal, 100),
                attested(patient, provider, ConsentMethod::Verbal, 100)
            ]
        );
        assert!(to_record[0].is_own() && !to_record[1].is_own());
        assert!(has_consented(patient, &to_record));
    }

    #[test]
    fn a_patients_own_refusal_outranks_any_attestation_whatever_its_method_or_time() {
        let (provider, patient) = (user(), user());
        let history = [yes(provider, 1), no(patient, 2)];
        for method in ConsentMethod::ALL {
            assert_eq!(
                may_start(
                    true,
                    false,
                    &[provider, patient],
                    &history,
                    &attest(provider, method, &[patient])
                ),
                Err(StartRefused::ConsentMissing(vec![patient])),
                "{method:?}"
            );
        }
        // An attestation stored later than the refusal (an old row, or a race) still loses.
        let later = [no(patient, 2), attested(patient, provider, ConsentMethod::Written, 50)];
        assert!(!has_consented(patient, &later));
        // Even a patient who is not in the call now cannot be attested over their refusal.
        assert_eq!(
            may_start(
                true,
                false,
                &[provider],
                &history,
                &attest(provider, ConsentMethod::Verbal, &[patient])
            ),
            Err(StartRefused::ConsentMissing(vec![patient]))
        );
    }

    #[test]
    fn only_the_persons_own_yes_replaces_their_refusal() {
        let (provider, patient) = (user(), user());
        let history = [no(patient, 2), yes(patient, 3)];
        assert!(has_consented(patient, &history));
        assert_eq!(
            may_start(
                true,
                false,
                &[provider, patient],
                &[yes(provider, 1), no(patient, 2), yes(patient, 3)],
                &nobody(provider)
            ),
            Ok(vec![])
        );
        // A redundant attestation for someone who said yes themselves is not stored again.
        assert_eq!(
            may_start(
                true,
                false,
                &[patient],
                &history,
                &attest(provider, ConsentMethod::Verbal, &[patient])
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn nobody_can_claim_in_app_consent_for_someone_else() {
        let (provider, patient) = (user(), user());
        let request = attest(provider, ConsentMethod::InApp, &[provider, patient]);
        assert_eq!(
            may_start(true, false, &[provider, patient], &[], &request),
            Err(StartRefused::ConsentMissing(vec![patient]))
        );
        assert!(!has_consented(
            patient,
            &[attested(patient, provider, ConsentMethod::InApp, 5)]
        ));
        // The provider's own in-app word is theirs to give.
        assert_eq!(
            may_start(true, false, &[provider], &[], &request),
            Ok(vec![attested(provider, provider, ConsentMethod::InApp, 100)])
        );
    }

    #[test]
    fn an_own_word_is_reported_apart_from_attestations() {
        let (provider, patient) = (user(), user());
        assert_eq!(
            own_word(patient, &[attested(patient, provider, ConsentMethod::Verbal, 1)]),
            None
        );
        assert_eq!(
            own_word(
                patient,
                &[no(patient, 1), attested(patient, provider, ConsentMethod::Verbal, 2)]
            ),
            Some(false)
        );
    }

    #[test]
    fn only_one_recording_of_an_active_call_runs_at_a_time() {
        let a = user();
        assert_eq!(
            may_start(false, false, &[a], &[yes(a, 1)], &nobody(a)),
            Err(StartRefused::CallNotActive)
        );
        assert_eq!(
            may_start(true, true, &[a], &[yes(a, 1)], &nobody(a)),
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
