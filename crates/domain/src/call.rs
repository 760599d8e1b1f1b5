//! The call state machine.
//!
//! ```text
//!  scheduled ──ring──▶ ringing ──answer──▶ active ──end──▶ ended
//!      │                 │  │
//!      │                 │  └─ring timeout─▶ missed
//!      └──cancel─────────┴──cancel─────────▶ cancelled
//!  any non-final state ──fail──▶ failed
//! ```
//!
//! A scheduled call may also be answered directly (both parties show up on time without a
//! ring). [`Call::handle`] is pure: it takes the time as input and returns a [`Transition`]
//! with the [`Effect`]s the caller must apply (persist, notify, arm a timer). Anything else
//! is a [`TransitionError`], which the HTTP layer answers with 409 and the current state.

use crate::{CallId, Millis, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Scheduled,
    Ringing,
    Active,
    Ended,
    Cancelled,
    Missed,
    Failed,
}

impl CallStatus {
    pub const ALL: [CallStatus; 7] = [
        CallStatus::Scheduled,
        CallStatus::Ringing,
        CallStatus::Active,
        CallStatus::Ended,
        CallStatus::Cancelled,
        CallStatus::Missed,
        CallStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Scheduled => "scheduled",
            CallStatus::Ringing => "ringing",
            CallStatus::Active => "active",
            CallStatus::Ended => "ended",
            CallStatus::Cancelled => "cancelled",
            CallStatus::Missed => "missed",
            CallStatus::Failed => "failed",
        }
    }

    /// Final states accept no command at all.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Ended | CallStatus::Cancelled | CallStatus::Missed | CallStatus::Failed
        )
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown call status")]
pub struct UnknownStatus;

impl FromStr for CallStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownStatus)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    Video,
    Audio,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Video => "video",
            CallType::Audio => "audio",
        }
    }
}

impl FromStr for CallType {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "video" => Ok(CallType::Video),
            "audio" => Ok(CallType::Audio),
            _ => Err(UnknownStatus),
        }
    }
}

/// What a participant or the system asks of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start ringing a scheduled call (someone showed up for it).
    Ring,
    /// Accept the call; `by` must not be the person who placed it.
    Answer { by: UserId },
    /// Hang up an active call.
    End { reason: String },
    /// Call off a call that has not started (includes declining a ringing call).
    Cancel { reason: String },
    /// The ring timer fired; only acts once the deadline has passed.
    RingTimeout { timeout_ms: Millis },
    /// Something outside the call broke it (e.g. everybody dropped and nobody came back).
    Fail { reason: String },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ring => "ring",
            Command::Answer { .. } => "answer",
            Command::End { .. } => "end",
            Command::Cancel { .. } => "cancel",
            Command::RingTimeout { .. } => "ring-timeout",
            Command::Fail { .. } => "fail",
        }
    }
}

/// Who must be told what, and what must be scheduled, after a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Ring every device of every participant other than the one who placed the call.
    NotifyIncomingCall,
    NotifyAnswered {
        by: UserId,
    },
    NotifyEnded {
        reason: String,
    },
    NotifyCancelled {
        reason: String,
    },
    /// The call is over: close its signaling room.
    CloseRoom,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: CallStatus,
    pub to: CallStatus,
    pub at: Millis,
    pub reason: Option<String>,
    pub effects: Vec<Effect>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {command} a call that is {current}")]
    NotAllowed { command: &'static str, current: CallStatus },
    #[error("the person who placed the call cannot answer it")]
    CallerCannotAnswer,
    #[error("the call has not rung long enough to be missed")]
    NotYetDue,
}

/// The parts of a call that its lifecycle depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub id: CallId,
    pub status: CallStatus,
    pub initiated_by: UserId,
    pub created_at: Millis,
    pub ringing_at: Option<Millis>,
    pub answered_at: Option<Millis>,
    pub ended_at: Option<Millis>,
}

/// A call at creation and what to do about it.
pub struct Created {
    pub call: Call,
    pub effects: Vec<Effect>,
}

impl Call {
    /// A new call rings at once unless it is scheduled for later than `now`.
    pub fn create(id: CallId, initiated_by: UserId, scheduled_at: Option<Millis>, now: Millis) -> Created {
        let mut created = Call::create_with_waiting_room(id, initiated_by, now);
        if scheduled_at.is_none_or(|at| at <= now) {
            created.call.status = CallStatus::Ringing;
            created.call.ringing_at = Some(now);
            created.effects = ringing_effects();
        }
        created
    }

    /// A call with a waiting room never rings: it stays `scheduled` while people gather
    /// (providers join, visitors wait) and becomes active with the first admission.
    pub fn create_with_waiting_room(id: CallId, initiated_by: UserId, now: Millis) -> Created {
        Created {
            call: Call {
                id,
                status: CallStatus::Scheduled,
                initiated_by,
                created_at: now,
                ringing_at: None,
                answered_at: None,
                ended_at: None,
            },
            effects: Vec::new(),
        }
    }

    /// Applies `command` at time `now`. On success the call is updated in place.
    pub fn handle(&mut self, command: Command, now: Millis) -> Result<Transition, TransitionError> {
        use CallStatus::*;
        let from = self.status;
        let not_allowed = || TransitionError::NotAllowed {
            command: command.name(),
            current: from,
        };
        let (to, reason, effects) = match (&command, from) {
            (Command::Ring, Scheduled) => (Ringing, None, ringing_effects()),
            (Command::Answer { by }, Scheduled | Ringing) => {
                if *by == self.initiated_by {
                    return Err(TransitionError::CallerCannotAnswer);
                }
                (Active, None, vec![Effect::NotifyAnswered { by: *by }])
            }
            (Command::End { reason }, Active) => (
                Ended,
                Some(reason.clone()),
                vec![Effect::NotifyEnded { reason: reason.clone() }, Effect::CloseRoom],
            ),
            (Command::Cancel { reason }, Scheduled | Ringing) => (
                Cancelled,
                Some(reason.clone()),
                vec![Effect::NotifyCancelled { reason: reason.clone() }, Effect::CloseRoom],
            ),
            (Command::RingTimeout { timeout_ms }, Ringing) => {
                let rang_at = self.ringing_at.unwrap_or(self.created_at);
                if now < rang_at + timeout_ms {
                    return Err(TransitionError::NotYetDue);
                }
                let reason = "no answer".to_string();
                (
                    Missed,
                    Some(reason.clone()),
                    vec![Effect::NotifyCancelled { reason }, Effect::CloseRoom],
                )
            }
            (Command::Fail { reason }, s) if !s.is_final() => (
                Failed,
                Some(reason.clone()),
                vec![Effect::NotifyEnded { reason: reason.clone() }, Effect::CloseRoom],
            ),
            _ => return Err(not_allowed()),
        };
        self.status = to;
        match to {
            Ringing => self.ringing_at = Some(now),
            Active => self.answered_at = Some(now),
            _ if to.is_final() => self.ended_at = Some(now),
            _ => {}
        }
        Ok(Transition {
            from,
            to,
            at: now,
            reason,
            effects,
        })
    }

    /// Seconds between answer and end; `None` for calls that never connected.
    pub fn duration_seconds(&self) -> Option<i64> {
        match (self.answered_at, self.ended_at) {
            (Some(a), Some(e)) if e >= a => Some((e - a) / 1000),
            _ => None,
        }
    }
}

/// Ringing starts: every callee's devices ring. Its time-out is not an effect: the server
/// sweeps the stored ringing calls once a second (`Command::RingTimeout`), which holds
/// across restarts and nodes without a timer per call.
fn ringing_effects() -> Vec<Effect> {
    vec![Effect::NotifyIncomingCall]
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    const TIMEOUT: Millis = 60_000;

    fn caller() -> UserId {
        UserId(uuid::Uuid::from_u128(1))
    }
    fn callee() -> UserId {
        UserId(uuid::Uuid::from_u128(2))
    }

    fn call_in(status: CallStatus) -> Call {
        Call {
            id: CallId(uuid::Uuid::from_u128(9)),
            status,
            initiated_by: caller(),
            created_at: 0,
            ringing_at: (status != Scheduled).then_some(0),
            answered_at: None,
            ended_at: None,
        }
    }

    fn every_command() -> Vec<Command> {
        vec![
            Command::Ring,
            Command::Answer { by: callee() },
            Command::End { reason: "done".into() },
            Command::Cancel { reason: "busy".into() },
            Command::RingTimeout { timeout_ms: TIMEOUT },
            Command::Fail { reason: "lost".into() },
        ]
    }

    /// The complete table: for each state and command, the state it leads to, or `None`.
    fn expected(status: CallStatus, command: &Command) -> Option<CallStatus> {
        match (command, status) {
            (Command::Ring, Scheduled) => Some(Ringing),
            (Command::Answer { .. }, Scheduled | Ringing) => Some(Active),
            (Command::End { .. }, Active) => Some(Ended),
            (Command::Cancel { .. }, Scheduled | Ringing) => Some(Cancelled),
            (Command::RingTimeout { .. }, Ringing) => Some(Missed),
            (Command::Fail { .. }, Scheduled | Ringing | Active) => Some(Failed),
            _ => None,
        }
    }

    #[test]
    fn every_state_and_command_follows_the_transition_table() {
        for status in CallStatus::ALL {
            for command in every_command() {
                let mut call = call_in(status);
                let result = call.handle(command.clone(), TIMEOUT);
                match expected(status, &command) {
                    Some(to) => {
                        let t = result.unwrap_or_else(|e| panic!("{status} {command:?}: {e}"));
                        assert_eq!((t.from, t.to, call.status), (status, to, to));
                    }
                    None => {
                        assert_eq!(
                            result,
                            Err(TransitionError::NotAllowed {
                                command: command.name(),
                                current: status
                            }),
                            "{status} {command:?}"
                        );
                        assert_eq!(call.status, status, "a refused command changes nothing");
                    }
                }
            }
        }
    }

    #[test]
    fn an_immediate_call_rings_at_once() {
        let created = Call::create(CallId::new_random(), caller(), None, 1_000);
        assert_eq!(created.call.status, Ringing);
        assert_eq!(created.call.ringing_at, Some(1_000));
        assert_eq!(created.effects, vec![Effect::NotifyIncomingCall]);
    }

    #[test]
    fn a_call_scheduled_for_later_waits_silently_and_one_in_the_past_rings() {
        let later = Call::create(CallId::new_random(), caller(), Some(5_000), 1_000);
        assert_eq!(later.call.status, Scheduled);
        assert!(later.effects.is_empty());
        let past = Call::create(CallId::new_random(), caller(), Some(500), 1_000);
        assert_eq!(past.call.status, Ringing);
    }

    #[test]
    fn a_call_with_a_waiting_room_never_rings_and_starts_with_an_answer() {
        let mut visit = Call::create_with_waiting_room(CallId::new_random(), caller(), 1_000);
        assert_eq!(visit.call.status, Scheduled);
        assert!(visit.effects.is_empty());
        let started = visit
            .call
            .handle(Command::Answer { by: callee() }, 2_000)
            .expect("answered");
        assert_eq!(visit.call.status, Active);
        assert_eq!(started.effects, vec![Effect::NotifyAnswered { by: callee() }]);
    }

    #[test]
    fn the_caller_cannot_answer_their_own_call() {
        let mut call = call_in(Ringing);
        assert_eq!(
            call.handle(Command::Answer { by: caller() }, 10),
            Err(TransitionError::CallerCannotAnswer)
        );
        assert_eq!(call.status, Ringing);
    }

    #[test]
    fn a_ringing_call_is_missed_only_after_the_timeout() {
        let mut call = call_in(Ringing);
        let early = call.handle(Command::RingTimeout { timeout_ms: TIMEOUT }, TIMEOUT - 1);
        assert_eq!(early, Err(TransitionError::NotYetDue));
        assert_eq!(call.status, Ringing);
        let t = call
            .handle(Command::RingTimeout { timeout_ms: TIMEOUT }, TIMEOUT)
            .expect("due");
        assert_eq!(t.to, Missed);
        assert_eq!(call.ended_at, Some(TIMEOUT));
    }

    #[test]
    fn answering_then_ending_records_times_and_duration_and_closes_the_room() {
        let mut call = call_in(Ringing);
        let answered = call.handle(Command::Answer { by: callee() }, 2_000).expect("answer");
        assert_eq!(answered.effects, vec![Effect::NotifyAnswered { by: callee() }]);
        let ended = call
            .handle(Command::End { reason: "done".into() }, 92_500)
            .expect("end");
        assert_eq!(ended.reason.as_deref(), Some("done"));
        assert!(ended.effects.contains(&Effect::CloseRoom));
        assert_eq!(call.duration_seconds(), Some(90));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in CallStatus::ALL {
            assert_eq!(s.as_str().parse::<CallStatus>().ok(), Some(s));
        }
        assert!("Ringing".parse::<CallStatus>().is_err());
    }
}
