//! Property tests: the call state machine, the access and participation rules and the audit
//! chain hold their invariants for any input, not just the examples in the unit tests.

use proptest::prelude::*;
use vytalcall_domain::access::{CallRequest, Caller, MAX_CALL_MEMBERS, members_for_new_call};
use vytalcall_domain::audit::{AuditFact, ChainVerifier, ChainedFact, GENESIS_HASH, chain};
use vytalcall_domain::call::{Call, CallStatus, Command};
use vytalcall_domain::{CallId, Role, UserId};

const TIMEOUT: i64 = 60_000;

fn user(n: u8) -> UserId {
    UserId(uuid::Uuid::from_u128(u128::from(n)))
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Ring),
        (0u8..3).prop_map(|n| Command::Answer { by: user(n) }),
        "[a-z]{0,8}".prop_map(|reason| Command::End { reason }),
        "[a-z]{0,8}".prop_map(|reason| Command::Cancel { reason }),
        Just(Command::RingTimeout { timeout_ms: TIMEOUT }),
        "[a-z]{0,8}".prop_map(|reason| Command::Fail { reason }),
    ]
}

proptest! {
    #[test]
    fn any_command_sequence_keeps_the_call_consistent(
        scheduled in proptest::option::of(0i64..200_000),
        steps in proptest::collection::vec((command(), 0i64..90_000), 0..24),
    ) {
        let mut call = Call::create(CallId(uuid::Uuid::nil()), user(0), scheduled, 100_000).call;
        let mut now = 100_000;
        for (cmd, dt) in steps {
            now += dt;
            let before = call.clone();
            match call.handle(cmd, now) {
                Ok(t) => {
                    prop_assert!(!before.status.is_final(), "a final call never moves");
                    prop_assert_eq!(t.from, before.status);
                    prop_assert_eq!(t.to, call.status);
                    prop_assert_eq!(t.at, now);
                }
                Err(_) => prop_assert_eq!(&call, &before, "a refused command changes nothing"),
            }
            // Timestamps exist exactly when the states that set them were reached, in order.
            prop_assert_eq!(call.ended_at.is_some(), call.status.is_final());
            if call.status == CallStatus::Active || call.status == CallStatus::Ended {
                prop_assert!(call.answered_at.is_some());
            }
            if call.status == CallStatus::Ended {
                prop_assert!(call.answered_at.is_some_and(|a| call.ended_at.is_some_and(|e| a <= e)));
            }
            if let (Some(r), Some(a)) = (call.ringing_at, call.answered_at) {
                prop_assert!(r <= a);
            }
            if call.status == CallStatus::Missed {
                prop_assert!(call.ringing_at.is_some_and(|r| call.ended_at.is_some_and(|e| e - r >= TIMEOUT)));
            }
            prop_assert!(call.duration_seconds().is_none_or(|d| d >= 0));
        }
    }

    #[test]
    fn new_calls_never_put_anyone_in_a_seat_their_role_does_not_allow(
        role in prop_oneof![Just(Role::Patient), Just(Role::Provider), Just(Role::Admin)],
        caller in 0u8..4,
        patient in proptest::option::of(0u8..4),
        provider in proptest::option::of(0u8..4),
        extra in proptest::collection::vec(0u8..4, 0..3),
    ) {
        let c = Caller { user: user(caller), role };
        let req = CallRequest {
            patient: patient.map(user),
            provider: provider.map(user),
            additional_providers: extra.into_iter().map(user).collect(),
        };
        if let Ok(m) = members_for_new_call(c, &req) {
            prop_assert!(!m.providers.contains(&m.patient));
            match role {
                Role::Patient => prop_assert_eq!(m.patient, c.user),
                Role::Provider => prop_assert_eq!(m.providers[0], c.user),
                Role::Admin => {
                    prop_assert_eq!(Some(m.patient), req.patient);
                    prop_assert_eq!(Some(m.providers[0]), req.provider);
                }
            }
            let mut unique = m.providers.clone();
            unique.dedup();
            prop_assert_eq!(unique.len(), m.providers.len());
            prop_assert!(m.len() <= MAX_CALL_MEMBERS);
        }
    }
}

mod participation_rules {
    use super::user;
    use proptest::prelude::*;
    use vytalcall_domain::access::{Caller, Members, list_scope, may_answer, may_take_part};
    use vytalcall_domain::call::{Call, CallStatus, Command};
    use vytalcall_domain::participation::{Emptied, answerer, when_abandoned};
    use vytalcall_domain::{CallId, Role};

    fn status() -> impl Strategy<Value = CallStatus> {
        proptest::sample::select(CallStatus::ALL.to_vec())
    }

    fn role() -> impl Strategy<Value = Role> {
        proptest::sample::select(Role::ALL.to_vec())
    }

    /// A call between patient 0 and providers 1..=n, placed by one of its members.
    fn call(status: CallStatus, providers: u8, placed_by: u8) -> (Call, Members) {
        let members = Members {
            patient: user(0),
            providers: (1..=providers).map(user).collect(),
        };
        let call = Call {
            id: CallId(uuid::Uuid::nil()),
            status,
            initiated_by: user(placed_by % (providers + 1)),
            created_at: 0,
            ringing_at: (status != CallStatus::Scheduled).then_some(0),
            answered_at: None,
            ended_at: None,
        };
        (call, members)
    }

    proptest! {
        #[test]
        fn a_list_holds_exactly_the_calls_the_caller_may_take_part_in(
            role in role(), who in 0u8..6, providers in 1u8..4,
        ) {
            let (_, members) = call(CallStatus::Active, providers, 0);
            let caller = Caller { user: user(who), role };
            prop_assert_eq!(list_scope(caller).includes(&members), may_take_part(caller, &members).is_ok());
        }

        #[test]
        fn the_credited_answerer_is_a_connected_member_who_did_not_place_the_call(
            status in status(), providers in 1u8..4, placed_by in 0u8..4,
            connected in proptest::collection::vec(0u8..6, 0..6), joiner in proptest::option::of(0u8..6),
        ) {
            let (call, members) = call(status, providers, placed_by);
            let connected: Vec<_> = connected.into_iter().map(user).collect();
            let joiner = joiner.map(user);
            let mut distinct_members: Vec<_> = connected.iter().copied().filter(|u| members.contains(*u)).collect();
            distinct_members.sort();
            distinct_members.dedup();
            match answerer(&call, &members, &connected, joiner) {
                Some(by) => {
                    prop_assert!(connected.contains(&by) && members.contains(by));
                    prop_assert!(by != call.initiated_by);
                    prop_assert!(distinct_members.len() >= 2);
                    let credited = Caller { user: by, role: Role::Patient };
                    prop_assert!(may_answer(credited, &members).is_ok(), "only members answer");
                    if let Some(j) = joiner.filter(|j| distinct_members.contains(j) && *j != call.initiated_by) {
                        prop_assert_eq!(by, j, "the joiner is credited when they may be");
                    }
                    let mut next = call.clone();
                    let accepted = next.handle(Command::Answer { by }, 1).is_ok();
                    prop_assert!(accepted, "the state machine accepts the answer");
                }
                None => prop_assert!(
                    !matches!(call.status, CallStatus::Scheduled | CallStatus::Ringing)
                        || distinct_members.len() < 2,
                    "two connected members make a waiting call active"
                ),
            }
        }

        #[test]
        fn an_abandoned_call_is_only_ever_moved_by_a_command_it_accepts(
            status in status(), dropped in any::<bool>(),
        ) {
            let how = if dropped { Emptied::AllDropped } else { Emptied::AllLeft };
            let (mut call, _) = call(status, 1, 0);
            if let Some(command) = when_abandoned(status, how) {
                let to = call.handle(command, 1).map(|t| t.to);
                let expected = if dropped { CallStatus::Failed } else { CallStatus::Ended };
                prop_assert_eq!(to, Ok(expected));
            } else {
                prop_assert!(status != CallStatus::Active);
            }
        }
    }
}

fn facts(n: usize) -> Vec<ChainedFact> {
    let mut out: Vec<ChainedFact> = Vec::new();
    for i in 0..n {
        let (seq, hash) = out
            .last()
            .map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()));
        let fact = AuditFact {
            occurred_at: i as i64,
            actor_id: Some(format!("u{i}")),
            action: "call.view".into(),
            outcome: "success".into(),
            detail: "{}".into(),
            ..Default::default()
        };
        out.push(chain(seq, &hash, fact));
    }
    out
}

fn verifies(entries: &[ChainedFact], head: &(i64, String)) -> bool {
    let mut v = ChainVerifier::default();
    entries.iter().all(|e| v.push(e).is_ok()) && v.finish(head.0, &head.1).is_ok()
}

#[derive(Debug, Clone)]
enum Tamper {
    Edit { at: usize, field: u8, text: String },
    Insert { at: usize },
    Delete { at: usize },
    Swap { a: usize, b: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), 0u8..6, "[a-z]{1,6}").prop_map(|(at, field, text)| Tamper::Edit { at, field, text }),
        any::<usize>().prop_map(|at| Tamper::Insert { at }),
        any::<usize>().prop_map(|at| Tamper::Delete { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
    ]
}

proptest! {
    #[test]
    fn any_single_edit_insertion_deletion_or_reorder_is_detected(n in 2usize..12, t in tamper()) {
        let mut entries = facts(n);
        let last = entries.last().map(|e| (e.seq, e.hash.clone())).unwrap_or((0, GENESIS_HASH.into()));
        prop_assert!(verifies(&entries, &last));
        match t {
            Tamper::Edit { at, field, text } => {
                let e = &mut entries[at % n];
                let changed = format!("{text}!");
                match field {
                    0 => e.fact.actor_id = Some(changed),
                    1 => e.fact.action = changed,
                    2 => e.fact.outcome = changed,
                    3 => e.fact.detail = changed,
                    4 => e.fact.occurred_at += 1,
                    _ => e.fact.call_id = Some(changed),
                }
            }
            Tamper::Insert { at } => {
                let at = at % (n + 1);
                let forged = entries[at.saturating_sub(1)].clone();
                entries.insert(at, forged);
            }
            Tamper::Delete { at } => {
                entries.remove(at % n);
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (a % n, b % n);
                prop_assume!(a != b);
                entries.swap(a, b);
            }
        }
        prop_assert!(!verifies(&entries, &last));
    }
}

mod consent_rules {
    use super::user;
    use proptest::prelude::*;
    use vytalcall_domain::consent::{
        Attestation, ConsentMethod, StartRefused, Statement, due_for_deletion, expires_at, has_consented, may_start,
        own_word, retention_cutoff,
    };

    /// Statements by the person themselves or attested by someone else, with any method.
    fn history() -> impl Strategy<Value = Vec<Statement>> {
        proptest::collection::vec(
            (0u8..5, 0u8..5, 0usize..4, any::<bool>(), 0i64..1_000).prop_map(|(u, by, method, consented, at)| {
                Statement {
                    user: user(u),
                    consented,
                    at,
                    by: user(by),
                    method: ConsentMethod::ALL[method],
                }
            }),
            0..20,
        )
    }

    fn nobody() -> Attestation {
        Attestation::none(user(0), 2_000)
    }

    proptest! {
        #[test]
        fn a_recording_starts_exactly_when_everyone_present_last_said_yes(
            present in proptest::collection::vec(0u8..5, 1..5),
            history in history(),
        ) {
            let present: Vec<_> = present.into_iter().map(user).collect();
            let everyone_agreed = present.iter().all(|u| has_consented(*u, &history));
            match may_start(true, false, &present, &history, &nobody()) {
                Ok(recorded) => {
                    prop_assert!(everyone_agreed);
                    prop_assert!(recorded.is_empty());
                }
                Err(StartRefused::ConsentMissing(missing)) => {
                    prop_assert!(!everyone_agreed);
                    prop_assert!(!missing.is_empty());
                    for m in &missing {
                        prop_assert!(present.contains(m), "only people present are named");
                        prop_assert!(!has_consented(*m, &history), "only people without consent are named");
                    }
                    for p in &present {
                        prop_assert_eq!(missing.contains(p), !has_consented(*p, &history));
                    }
                }
                Err(other) => prop_assert!(false, "unexpected refusal {other:?}"),
            }
        }

        #[test]
        fn a_later_refusal_always_withdraws_consent(history in history(), u in 0u8..5) {
            let mut history = history;
            let last = history.iter().map(|s| s.at).max().unwrap_or(0);
            history.push(Statement { user: user(u), consented: false, at: last + 1, by: user(u), method: ConsentMethod::InApp });
            prop_assert!(!has_consented(user(u), &history));
            prop_assert!(may_start(true, false, &[user(u)], &history, &nobody()).is_err());
        }

        #[test]
        fn no_attestation_ever_overrides_a_persons_own_refusal(
            history in history(), u in 0u8..5, by in 0u8..5, method in 0usize..4, at in 0i64..2_000,
        ) {
            prop_assume!(u != by);
            let mut history = history;
            if own_word(user(u), &history) != Some(false) {
                let last = history.iter().map(|s| s.at).max().unwrap_or(0);
                history.push(Statement { user: user(u), consented: false, at: last + 1, by: user(u), method: ConsentMethod::InApp });
            }
            // Attestations stored after the refusal, with any method and time, change nothing.
            history.push(Statement { user: user(u), consented: true, at, by: user(by), method: ConsentMethod::ALL[method] });
            prop_assert!(!has_consented(user(u), &history));
            let request = Attestation { by: user(by), method: ConsentMethod::ALL[method], users: vec![user(u)], at };
            prop_assert_eq!(
                may_start(true, false, &[user(by)], &history, &request).err().map(|e| matches!(e, StartRefused::ConsentMissing(m) if m.contains(&user(u)))),
                Some(true)
            );
        }

        #[test]
        fn nothing_starts_on_an_inactive_call_or_over_a_running_recording(history in history()) {
            prop_assert_eq!(may_start(false, false, &[user(0)], &history, &nobody()), Err(StartRefused::CallNotActive));
            prop_assert_eq!(may_start(true, true, &[user(0)], &history, &nobody()), Err(StartRefused::AlreadyRecording));
        }

        #[test]
        fn a_recording_on_legal_hold_is_never_due(started in 0i64..1_000_000_000, days in 0u32..4000, now in 0i64..i64::MAX / 2) {
            prop_assert!(!due_for_deletion(started, days, true, now));
            if now < started {
                prop_assert!(!due_for_deletion(started, days, false, now));
            }
        }

        #[test]
        fn the_retention_cutoff_and_the_expiry_time_are_the_same_rule(
            started in 0i64..4_000_000_000_000, days in 0u32..40_000, now in 0i64..8_000_000_000_000,
        ) {
            let due = due_for_deletion(started, days, false, now);
            prop_assert_eq!(due, now >= expires_at(started, days));
            prop_assert_eq!(due, started <= retention_cutoff(now, days));
        }
    }
}

mod connection_caps {
    use super::user;
    use proptest::prelude::*;
    use vytalcall_domain::connections::{Caps, Connections};

    proptest! {
        #[test]
        fn no_sequence_of_opens_and_closes_exceeds_a_cap_or_loses_count(
            ops in proptest::collection::vec((0u8..4, 0u8..3, any::<bool>()), 0..200),
        ) {
            let mut table = Connections::new(Caps { per_user: 2, per_address: 3 });
            let mut open: Vec<(u8, u8)> = Vec::new();
            for (u, a, opening) in ops {
                if opening {
                    if table.admit(user(u), Some(&a)).is_ok() {
                        open.push((u, a));
                    }
                } else if let Some(i) = open.iter().position(|o| *o == (u, a)) {
                    open.remove(i);
                    table.release(user(u), Some(&a));
                }
                for who in 0..4u8 {
                    let mine = open.iter().filter(|o| o.0 == who).count();
                    prop_assert!(mine <= 2);
                    prop_assert_eq!(table.held_by(user(who)), mine);
                }
                for at in 0..3u8 {
                    prop_assert!(open.iter().filter(|o| o.1 == at).count() <= 3);
                }
            }
            for (u, a) in open.drain(..) {
                table.release(user(u), Some(&a));
            }
            prop_assert_eq!(table.tracked(), (0, 0));
        }
    }
}

mod refusal_audit {
    use proptest::prelude::*;
    use vytalcall_domain::denials::{DenialLog, Verdict};

    proptest! {
        #[test]
        fn every_refusal_is_written_or_counted_once_and_entries_per_window_are_bounded(
            gaps in proptest::collection::vec((0u8..3, 0i64..400), 1..500),
        ) {
            const WINDOW: i64 = 1000;
            const WRITTEN: usize = 3;
            let mut log = DenialLog::new(WINDOW, WRITTEN);
            let (mut now, mut written, mut summarised, mut entries_by_window) = (0i64, 0u64, 0u64, std::collections::HashMap::new());
            let total = gaps.len() as u64;
            for (kind, gap) in gaps {
                now += gap;
                let (verdict, summary) = log.refused(kind, now);
                if verdict == Verdict::Write {
                    written += 1;
                    *entries_by_window.entry((kind, now / WINDOW)).or_insert(0usize) += 1;
                }
                if let Some(s) = summary {
                    summarised += s.suppressed;
                }
            }
            summarised += log.flush().iter().map(|s| s.suppressed).sum::<u64>();
            prop_assert_eq!(written + summarised, total, "nothing lost, nothing twice");
            // A counting window starts at its first refusal, so any span of one window's
            // length meets at most two of them: at most twice the allowance per kind.
            for n in entries_by_window.values() {
                prop_assert!(*n <= 2 * WRITTEN);
            }
        }
    }
}
