//! The waiting room: who waits to be let into a call, in what order, and who may let them in.
//!
//! The server enforces it, not the web app: a patient or guest who asks to join a call with a
//! waiting room before a provider admitted them is seated here and is not in the call (no one
//! is told they arrived, their relays are refused `not-admitted`). Providers of the call, and
//! admins, go straight in. An admission holds until the person is sent back or the call ends,
//! so a reconnecting device does not queue again; arriving early never admits anyone (the
//! lobby-bypass complaint users of other products have).
//!
//! [`WaitingRoom`] is the state of one call's room. Every change returns the
//! [`RoomEffect`]s the caller must deliver: the whole queue to the providers, each waiting
//! person's new position to their devices. Time is an input, as everywhere in this crate.

use crate::access::{Caller, Members};
use crate::{Millis, Role, UserId};
use serde::{Deserialize, Serialize};

/// The most people in a call at once unless `MAX_CALL_PARTICIPANTS` says otherwise: media is
/// peer to peer, and four is what a patient's uplink carries with audio intact.
pub const DEFAULT_MAX_CALL_PARTICIPANTS: usize = 4;

/// The longest message a provider may send to the people waiting ("Running 10 minutes late").
pub const MAX_MESSAGE_CHARS: usize = 280;

/// What a device check found for one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckResult {
    Ok,
    Failed,
    Unavailable,
}

/// The network part of a device check: the round trip measured and whether TURN was reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkCheck {
    pub result: CheckResult,
    pub rtt_ms: Option<u32>,
    pub turn: Option<bool>,
}

/// A waiting person's own report of their camera, microphone, speaker and network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCheck {
    pub camera: CheckResult,
    pub microphone: CheckResult,
    pub speaker: CheckResult,
    pub network: NetworkCheck,
}

/// How a person comes to a call's door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entrant {
    /// A provider of the call or an admin: never waits.
    Host,
    /// The patient or an invited guest: waits when the call has a waiting room.
    Visitor,
}

/// One person in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub user: UserId,
    pub since: Millis,
    pub device_check: Option<DeviceCheck>,
}

/// What a `join-call` leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Into the call, as a normal join.
    Enter,
    /// Seated in the waiting room at this 1-based position.
    Wait { position: usize },
}

/// What the caller of a [`WaitingRoom`] change must deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEffect {
    /// The queue changed: every device of every provider gets the whole list.
    QueueChanged,
    /// This waiting person's position changed (or they just sat down): their devices get it.
    PositionChanged { user: UserId, position: usize },
    /// This person may now join: their devices get `admitted` and then a normal join.
    Admitted { user: UserId },
    /// This person was sent back: the room gets `participant-left`, they wait again.
    SentBack { user: UserId, position: usize },
}

/// Why a waiting-room request is refused. Each maps to one error code on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomRefused {
    #[error("that person is not in the waiting room")]
    NotWaiting,
    #[error("that person is not in the call")]
    NotAdmitted,
    #[error("the call already has {0} people in it")]
    CallFull(usize),
    #[error("only the call's providers can do that")]
    NotHost,
}

/// One call's waiting room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitingRoom {
    queue: Vec<Waiting>,
    admitted: Vec<UserId>,
}

impl Entrant {
    /// Providers of the call and admins are hosts; the patient (and guests) are visitors.
    pub fn of(caller: Caller, members: &Members) -> Entrant {
        if caller.role == Role::Admin || (caller.role == Role::Provider && members.providers.contains(&caller.user)) {
            Entrant::Host
        } else {
            Entrant::Visitor
        }
    }
}

impl WaitingRoom {
    /// A room as stored: the queue in order, and who is admitted.
    pub fn restore(queue: Vec<Waiting>, admitted: Vec<UserId>) -> WaitingRoom {
        WaitingRoom { queue, admitted }
    }

    /// Everyone admitted, in the order they were.
    pub fn admitted(&self) -> &[UserId] {
        &self.admitted
    }

    /// Someone asks to join. Hosts and people already admitted enter; anyone else sits down
    /// (keeping their place if they were already seated, so a second device does not queue
    /// twice).
    pub fn arrive(&mut self, user: UserId, entrant: Entrant, now: Millis) -> (Arrival, Vec<RoomEffect>) {
        if entrant == Entrant::Host || self.admitted.contains(&user) {
            return (Arrival::Enter, Vec::new());
        }
        if let Some(position) = self.position(user) {
            return (Arrival::Wait { position }, Vec::new());
        }
        self.queue.push(Waiting {
            user,
            since: now,
            device_check: None,
        });
        let position = self.queue.len();
        let effects = vec![RoomEffect::QueueChanged, RoomEffect::PositionChanged { user, position }];
        (Arrival::Wait { position }, effects)
    }

    /// A host lets `user` in. `in_call` is how many people are in the call now and `max` the
    /// most it may hold: an admission beyond it is refused `call-full` and the person keeps
    /// their place.
    pub fn admit(
        &mut self,
        by: Entrant,
        user: UserId,
        in_call: usize,
        max: usize,
    ) -> Result<Vec<RoomEffect>, RoomRefused> {
        if by != Entrant::Host {
            return Err(RoomRefused::NotHost);
        }
        let index = self.index(user).ok_or(RoomRefused::NotWaiting)?;
        if in_call >= max {
            return Err(RoomRefused::CallFull(max));
        }
        self.queue.remove(index);
        self.admitted.push(user);
        let mut effects = vec![RoomEffect::Admitted { user }, RoomEffect::QueueChanged];
        effects.extend(self.positions_from(index));
        Ok(effects)
    }

    /// A host sends an admitted `user` back to wait; they go to the front of the queue (they
    /// were already seen once), and must be admitted again.
    pub fn send_back(&mut self, by: Entrant, user: UserId, now: Millis) -> Result<Vec<RoomEffect>, RoomRefused> {
        if by != Entrant::Host {
            return Err(RoomRefused::NotHost);
        }
        let index = self
            .admitted
            .iter()
            .position(|u| *u == user)
            .ok_or(RoomRefused::NotAdmitted)?;
        self.admitted.remove(index);
        self.queue.insert(
            0,
            Waiting {
                user,
                since: now,
                device_check: None,
            },
        );
        let mut effects = vec![RoomEffect::SentBack { user, position: 1 }, RoomEffect::QueueChanged];
        effects.extend(self.positions_from(1));
        Ok(effects)
    }

    /// A waiting person left (closed the page, every device gone): the people behind them
    /// move up. Leaving the call itself keeps an admission, so coming back needs no new one.
    pub fn leave(&mut self, user: UserId) -> Vec<RoomEffect> {
        let Some(index) = self.index(user) else {
            return Vec::new();
        };
        self.queue.remove(index);
        let mut effects = vec![RoomEffect::QueueChanged];
        effects.extend(self.positions_from(index));
        effects
    }

    /// A waiting person reports their device check; only someone waiting may.
    pub fn report_check(&mut self, user: UserId, check: DeviceCheck) -> Result<Vec<RoomEffect>, RoomRefused> {
        let index = self.index(user).ok_or(RoomRefused::NotWaiting)?;
        if self.queue[index].device_check == Some(check) {
            return Ok(Vec::new());
        }
        self.queue[index].device_check = Some(check);
        Ok(vec![RoomEffect::QueueChanged])
    }

    /// Whether `user`'s relays (offer, answer, candidates, media and quality reports) may pass.
    pub fn may_relay(&self, user: UserId, entrant: Entrant) -> Result<(), RoomRefused> {
        if entrant == Entrant::Host || self.admitted.contains(&user) {
            Ok(())
        } else {
            Err(RoomRefused::NotAdmitted)
        }
    }

    /// 1-based place in the queue, if waiting.
    pub fn position(&self, user: UserId) -> Option<usize> {
        self.index(user).map(|i| i + 1)
    }

    /// The queue in order, for the providers' `waiting-room` event.
    pub fn queue(&self) -> &[Waiting] {
        &self.queue
    }

    pub fn is_admitted(&self, user: UserId) -> bool {
        self.admitted.contains(&user)
    }

    fn index(&self, user: UserId) -> Option<usize> {
        self.queue.iter().position(|w| w.user == user)
    }

    fn positions_from(&self, index: usize) -> impl Iterator<Item = RoomEffect> + '_ {
        self.queue
            .iter()
            .enumerate()
            .skip(index)
            .map(|(i, w)| RoomEffect::PositionChanged {
                user: w.user,
                position: i + 1,
            })
    }
}

/// Whether one more person may join a call directly (a host, or a call without a waiting
/// room): the same limit admissions obey.
pub fn may_enter(in_call: usize, already_in: bool, max: usize) -> Result<(), RoomRefused> {
    if already_in || in_call < max {
        Ok(())
    } else {
        Err(RoomRefused::CallFull(max))
    }
}

/// A call scheduled in the future gets a waiting room unless the request says otherwise; an
/// immediate call does not.
pub fn has_waiting_room(requested: Option<bool>, scheduled_for: Option<Millis>, now: Millis) -> bool {
    requested.unwrap_or_else(|| scheduled_for.is_some_and(|at| at > now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    fn check() -> DeviceCheck {
        let ok = CheckResult::Ok;
        DeviceCheck {
            camera: ok,
            microphone: ok,
            speaker: ok,
            network: NetworkCheck {
                result: ok,
                rtt_ms: Some(40),
                turn: Some(true),
            },
        }
    }

    #[test]
    fn hosts_enter_and_visitors_wait_in_arrival_order() {
        let mut room = WaitingRoom::default();
        assert_eq!(room.arrive(user(1), Entrant::Host, 0).0, Arrival::Enter);
        assert_eq!(
            room.arrive(user(2), Entrant::Visitor, 10).0,
            Arrival::Wait { position: 1 }
        );
        assert_eq!(
            room.arrive(user(3), Entrant::Visitor, 20).0,
            Arrival::Wait { position: 2 }
        );
        // A second device of someone waiting keeps their place and changes nothing.
        assert_eq!(
            room.arrive(user(2), Entrant::Visitor, 30),
            (Arrival::Wait { position: 1 }, vec![])
        );
        assert_eq!(room.queue()[0].since, 10);
    }

    #[test]
    fn an_admission_lets_in_moves_the_queue_up_and_outlives_a_reconnect() {
        let mut room = WaitingRoom::default();
        room.arrive(user(2), Entrant::Visitor, 0);
        room.arrive(user(3), Entrant::Visitor, 0);
        let effects = room.admit(Entrant::Host, user(2), 1, 4).expect("allowed");
        assert_eq!(
            effects,
            vec![
                RoomEffect::Admitted { user: user(2) },
                RoomEffect::QueueChanged,
                RoomEffect::PositionChanged {
                    user: user(3),
                    position: 1
                }
            ]
        );
        assert_eq!(room.arrive(user(2), Entrant::Visitor, 50).0, Arrival::Enter);
        assert_eq!(room.may_relay(user(2), Entrant::Visitor), Ok(()));
        assert_eq!(room.may_relay(user(3), Entrant::Visitor), Err(RoomRefused::NotAdmitted));
    }

    #[test]
    fn visitors_cannot_admit_and_nobody_admits_someone_not_waiting() {
        let mut room = WaitingRoom::default();
        room.arrive(user(2), Entrant::Visitor, 0);
        assert_eq!(room.admit(Entrant::Visitor, user(2), 1, 4), Err(RoomRefused::NotHost));
        assert_eq!(room.admit(Entrant::Host, user(9), 1, 4), Err(RoomRefused::NotWaiting));
        assert!(!room.is_admitted(user(2)));
    }

    #[test]
    fn a_full_call_refuses_the_admission_and_the_person_keeps_their_place() {
        let mut room = WaitingRoom::default();
        room.arrive(user(2), Entrant::Visitor, 0);
        assert_eq!(room.admit(Entrant::Host, user(2), 4, 4), Err(RoomRefused::CallFull(4)));
        assert_eq!(room.position(user(2)), Some(1));
        assert_eq!(may_enter(4, false, 4), Err(RoomRefused::CallFull(4)));
        assert_eq!(may_enter(4, true, 4), Ok(()));
    }

    #[test]
    fn sent_back_means_first_in_line_and_admitted_again_before_relaying() {
        let mut room = WaitingRoom::default();
        room.arrive(user(2), Entrant::Visitor, 0);
        room.arrive(user(3), Entrant::Visitor, 0);
        room.admit(Entrant::Host, user(2), 1, 4).expect("allowed");
        assert_eq!(room.send_back(Entrant::Visitor, user(2), 5), Err(RoomRefused::NotHost));
        let effects = room.send_back(Entrant::Host, user(2), 5).expect("allowed");
        assert_eq!(
            effects[0],
            RoomEffect::SentBack {
                user: user(2),
                position: 1
            }
        );
        assert!(effects.contains(&RoomEffect::PositionChanged {
            user: user(3),
            position: 2
        }));
        assert_eq!(room.may_relay(user(2), Entrant::Visitor), Err(RoomRefused::NotAdmitted));
        assert_eq!(room.send_back(Entrant::Host, user(2), 6), Err(RoomRefused::NotAdmitted));
    }

    #[test]
    fn device_checks_only_from_people_waiting_and_only_changes_are_announced() {
        let mut room = WaitingRoom::default();
        assert_eq!(room.report_check(user(2), check()), Err(RoomRefused::NotWaiting));
        room.arrive(user(2), Entrant::Visitor, 0);
        assert_eq!(room.report_check(user(2), check()), Ok(vec![RoomEffect::QueueChanged]));
        assert_eq!(room.report_check(user(2), check()), Ok(vec![]));
        assert_eq!(room.queue()[0].device_check, Some(check()));
    }

    #[test]
    fn scheduled_calls_wait_by_default_and_immediate_ones_do_not() {
        assert!(has_waiting_room(None, Some(1_000), 0));
        assert!(!has_waiting_room(None, Some(0), 1_000));
        assert!(!has_waiting_room(None, None, 0));
        assert!(has_waiting_room(Some(true), None, 0));
        assert!(!has_waiting_room(Some(false), Some(1_000), 0));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Arrive(u8),
        Admit(u8),
        SendBack(u8),
        Leave(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let who = 0u8..6;
        prop_oneof![
            who.clone().prop_map(Op::Arrive),
            who.clone().prop_map(Op::Admit),
            who.clone().prop_map(Op::SendBack),
            who.prop_map(Op::Leave),
        ]
    }

    proptest! {
        /// Whatever hosts do, nobody is both waiting and admitted, nobody waits twice, the
        /// positions the effects announce are the real ones, and admissions never exceed the
        /// call's size.
        #[test]
        fn the_room_stays_consistent(ops in proptest::collection::vec(op(), 0..60)) {
            let mut room = WaitingRoom::default();
            for (now, op) in ops.into_iter().enumerate() {
                let in_call = room.admitted.len();
                let effects = match op {
                    Op::Arrive(u) => room.arrive(user(u.into()), Entrant::Visitor, now as Millis).1,
                    Op::Admit(u) => room.admit(Entrant::Host, user(u.into()), in_call, 4).unwrap_or_default(),
                    Op::SendBack(u) => room.send_back(Entrant::Host, user(u.into()), now as Millis).unwrap_or_default(),
                    Op::Leave(u) => room.leave(user(u.into())),
                };
                prop_assert!(room.admitted.len() <= 4);
                for w in room.queue() {
                    prop_assert!(!room.is_admitted(w.user));
                    prop_assert_eq!(room.queue().iter().filter(|o| o.user == w.user).count(), 1);
                }
                for effect in effects {
                    if let RoomEffect::PositionChanged { user, position } | RoomEffect::SentBack { user, position } = effect {
                        prop_assert_eq!(room.position(user), Some(position));
                    }
                }
            }
        }
    }
}
