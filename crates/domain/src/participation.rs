//! Taking part in a call from devices: whether someone who shows up may join (and whether
//! their arrival rings the call first), who is credited with answering once two members are
//! connected, and what becomes of a call that everybody has left.
//!
//! These rules turn what happened in the call's room into [`Command`]s for
//! [`Call::handle`]; the calls service applies them. Access (who may join at all) is
//! [`crate::access`]'s; presence (who is connected, and the reconnection grace) is
//! [`crate::presence`]'s.

use crate::UserId;
use crate::access::Members;
use crate::call::{Call, CallStatus, Command, TransitionError};

/// What a member's arrival does to a call they may join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The call was only scheduled: it rings the others ([`Command::Ring`]), then the
    /// member joins it as it is by then.
    RingsFirst,
    /// The member joins the call as it is.
    Joins,
}

/// Whether someone may join a call in `status`: a call that is over cannot be joined; one
/// that was only scheduled rings first, unless it has a waiting room (there the visit starts
/// with the first admission, and a provider who joins early rings nobody).
pub fn arrive(status: CallStatus, waiting_room: bool) -> Result<Arrival, TransitionError> {
    match status {
        s if s.is_final() => Err(TransitionError::NotAllowed {
            command: "join",
            current: s,
        }),
        CallStatus::Scheduled if !waiting_room => Ok(Arrival::RingsFirst),
        _ => Ok(Arrival::Joins),
    }
}

/// Who answers a scheduled or ringing call now that `connected` users are in its room, or
/// `None` if it does not become active yet. It does once two different members are
/// connected; the answer is credited to `joiner` (the one whose arrival prompted the
/// question) when they are one of them and did not place the call, otherwise to the first
/// connected member who did not place it. Connected non-members (an admin looking in) never
/// make a call active nor answer it.
pub fn answerer(call: &Call, members: &Members, connected: &[UserId], joiner: Option<UserId>) -> Option<UserId> {
    if !matches!(call.status, CallStatus::Scheduled | CallStatus::Ringing) {
        return None;
    }
    let mut present: Vec<UserId> = Vec::new();
    for u in connected {
        if members.contains(*u) && !present.contains(u) {
            present.push(*u);
        }
    }
    if present.len() < 2 {
        return None;
    }
    let may_answer = |u: &UserId| *u != call.initiated_by;
    match joiner {
        Some(j) if present.contains(&j) && may_answer(&j) => Some(j),
        _ => present.into_iter().find(may_answer),
    }
}

/// How the last person in a call went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emptied {
    /// Everyone left on purpose (hung up, closed the call).
    AllLeft,
    /// Everyone's connection dropped and nobody came back within the reconnection grace.
    AllDropped,
}

/// What happens to a call nobody is left in, or `None` if it stays as it is. An active call
/// that everyone left ends normally; one whose participants all dropped has failed. A call
/// that has not started keeps ringing so that its ring time-out decides; one that is over
/// stays over.
pub fn when_abandoned(status: CallStatus, how: Emptied) -> Option<Command> {
    match (status, how) {
        (CallStatus::Active, Emptied::AllLeft) => Some(Command::End {
            reason: "all participants left".into(),
        }),
        (CallStatus::Active, Emptied::AllDropped) => Some(Command::Fail {
            reason: "all participants disconnected".into(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallId;

    fn user(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    /// Placed by provider 2; the patient is 1, a second provider 3. Admin 99 is no member.
    fn call_in(status: CallStatus) -> (Call, Members) {
        let call = Call {
            id: CallId(uuid::Uuid::from_u128(7)),
            status,
            initiated_by: user(2),
            created_at: 0,
            ringing_at: None,
            answered_at: None,
            ended_at: None,
        };
        let members = Members {
            patient: user(1),
            providers: vec![user(2), user(3)],
        };
        (call, members)
    }

    #[test]
    fn a_call_that_is_over_cannot_be_joined_and_a_scheduled_one_rings_first() {
        for status in CallStatus::ALL {
            let expected = match status {
                CallStatus::Scheduled => Ok(Arrival::RingsFirst),
                CallStatus::Ringing | CallStatus::Active => Ok(Arrival::Joins),
                over => Err(TransitionError::NotAllowed {
                    command: "join",
                    current: over,
                }),
            };
            assert_eq!(arrive(status, false), expected, "{status}");
            let with_room = expected.map(|_| Arrival::Joins);
            assert_eq!(arrive(status, true), with_room, "{status} with a waiting room");
        }
    }

    #[test]
    fn the_call_becomes_active_when_a_second_member_is_connected() {
        let (call, members) = call_in(CallStatus::Ringing);
        assert_eq!(answerer(&call, &members, &[user(2)], Some(user(2))), None);
        assert_eq!(
            answerer(&call, &members, &[user(2), user(1)], Some(user(1))),
            Some(user(1))
        );
        // The same member twice is still one member.
        assert_eq!(answerer(&call, &members, &[user(1), user(1)], Some(user(1))), None);
        // A connected admin who is not a member does not count.
        assert_eq!(answerer(&call, &members, &[user(2), user(99)], Some(user(99))), None);
    }

    #[test]
    fn the_joiner_is_credited_unless_they_placed_the_call() {
        let (call, members) = call_in(CallStatus::Scheduled);
        // The caller arrives second: the member already there answered.
        assert_eq!(
            answerer(&call, &members, &[user(1), user(2)], Some(user(2))),
            Some(user(1))
        );
        // A third member arrives: they are the answerer.
        assert_eq!(
            answerer(&call, &members, &[user(2), user(1), user(3)], Some(user(3))),
            Some(user(3))
        );
        // Without a joiner (or one not connected) the first connected non-caller answers.
        assert_eq!(
            answerer(&call, &members, &[user(2), user(3), user(1)], None),
            Some(user(3))
        );
        assert_eq!(
            answerer(&call, &members, &[user(2), user(3), user(1)], Some(user(99))),
            Some(user(3))
        );
    }

    #[test]
    fn only_a_scheduled_or_ringing_call_is_answered_by_presence() {
        for status in CallStatus::ALL {
            let (call, members) = call_in(status);
            let found = answerer(&call, &members, &[user(2), user(1)], Some(user(1)));
            let waiting = matches!(status, CallStatus::Scheduled | CallStatus::Ringing);
            assert_eq!(found.is_some(), waiting, "{status}");
        }
    }

    #[test]
    fn an_abandoned_active_call_ends_if_everyone_left_and_fails_if_everyone_dropped() {
        assert_eq!(
            when_abandoned(CallStatus::Active, Emptied::AllLeft),
            Some(Command::End {
                reason: "all participants left".into()
            })
        );
        assert_eq!(
            when_abandoned(CallStatus::Active, Emptied::AllDropped),
            Some(Command::Fail {
                reason: "all participants disconnected".into()
            })
        );
        for status in CallStatus::ALL.into_iter().filter(|s| *s != CallStatus::Active) {
            for how in [Emptied::AllLeft, Emptied::AllDropped] {
                assert_eq!(when_abandoned(status, how), None, "{status} {how:?}");
            }
        }
    }
}
