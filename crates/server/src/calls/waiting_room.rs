//! The waiting room of a call, applied: who is seated, admitted or sent back, each change
//! made under the call's lock and audited in its transaction. The rules are
//! [`vytalcall_domain::waiting_room`]'s; telling the devices is the signaling layer's.

use super::{CallError, CallsService};
use crate::audit::{Action, Actor, Outcome};
use crate::storage;
use crate::storage::calls::{self as repo, StoredCall};
use crate::storage::waiting_room::{self as door_repo, Door};
use serde_json::{Value, json};
use vytalcall_domain::participation;
use vytalcall_domain::waiting_room::{Arrival, DeviceCheck, Entrant, RoomEffect, RoomRefused};
use vytalcall_domain::{CallId, UserId};

/// Where a device's `join-call` leads.
pub enum Seat {
    /// Into the call, as a normal join.
    Enter,
    /// To the waiting room, at this 1-based place; `first` when the person just sat down
    /// (rather than another of their devices joining them).
    Wait { position: usize, first: bool },
}

/// A change to a room: its value, the call, the room as it now stands and what to tell whom.
pub struct DoorChange<T = ()> {
    pub value: T,
    pub call: StoredCall,
    pub door: Door,
    pub effects: Vec<RoomEffect>,
}

/// What a change to a room did: its value for the caller, what to tell whom, and the audit
/// entry to write with it (none when nothing anyone sees changed).
struct Changed<T> {
    value: T,
    effects: Vec<RoomEffect>,
    audit: Option<(Action, Value)>,
}

impl<T> Changed<T> {
    fn audited(value: T, effects: Vec<RoomEffect>, action: Action, detail: Value) -> Changed<T> {
        Changed {
            value,
            effects,
            audit: Some((action, detail)),
        }
    }

    fn quiet(value: T, effects: Vec<RoomEffect>) -> Changed<T> {
        Changed {
            value,
            effects,
            audit: None,
        }
    }
}

impl CallsService {
    /// Where a device of the actor goes when it joins `id`: straight in (hosts, people
    /// admitted, calls without a waiting room), or to a seat. `new_device` counts the device
    /// among the person's waiting devices (false when the same socket asks again).
    pub async fn seat(&self, actor: &Actor, id: CallId, new_device: bool) -> Result<(StoredCall, Seat), CallError> {
        let caller = Self::caller(actor)?;
        let stored = self.load_for_participant(actor, id, Action::CallJoin).await?;
        // A call that is over is refused by the join itself (and audited there).
        if !stored.waiting_room || participation::arrive(stored.call.status, true).is_err() {
            return Ok((stored, Seat::Enter));
        }
        let entrant = Entrant::of(caller, &stored.members);
        if entrant == Entrant::Host {
            return Ok((stored, Seat::Enter));
        }
        let change = self
            .under_lock(actor, &stored, |door, now| {
                let (arrival, effects) = door.room.arrive(caller.user, entrant, now);
                let Arrival::Wait { position } = arrival else {
                    return Ok(Changed::quiet(Seat::Enter, Vec::new()));
                };
                if new_device {
                    *door.devices.entry(caller.user).or_insert(0) += 1;
                }
                let seat = Seat::Wait {
                    position,
                    first: !effects.is_empty(),
                };
                Ok(if effects.is_empty() {
                    Changed::quiet(seat, effects)
                } else {
                    let detail = json!({ "position": position });
                    Changed::audited(seat, effects, Action::WaitingRoomEnter, detail)
                })
            })
            .await?;
        Ok((stored, change.value))
    }

    /// A host lets `user` in, unless the call already holds `max` people.
    pub async fn admit(&self, actor: &Actor, id: CallId, user: UserId, max: usize) -> Result<DoorChange, CallError> {
        let in_call = storage::participants::people_in_call(&self.db.pool, id).await?.len();
        self.host_change(actor, id, Action::WaitingRoomAdmit, user, |door, by, _| {
            door.room.admit(by, user, in_call, max)
        })
        .await
    }

    /// A host sends an admitted `user` back to wait (their devices then sit down again).
    pub async fn send_back(&self, actor: &Actor, id: CallId, user: UserId) -> Result<DoorChange, CallError> {
        self.host_change(actor, id, Action::WaitingRoomReturn, user, |door, by, now| {
            let effects = door.room.send_back(by, user, now)?;
            // Each of their devices counts itself in again as it sits down.
            door.devices.insert(user, 0);
            Ok(effects)
        })
        .await
    }

    /// A waiting person reports their device check.
    pub async fn report_device_check(
        &self,
        actor: &Actor,
        id: CallId,
        check: DeviceCheck,
    ) -> Result<DoorChange, CallError> {
        let user = Self::caller(actor)?.user;
        let stored = self.load_for_participant(actor, id, Action::CallJoin).await?;
        self.under_lock(actor, &stored, |door, _| {
            Ok(Changed::quiet((), door.room.report_check(user, check)?))
        })
        .await
    }

    /// One of the actor's waiting devices went away; with the last one they leave the queue.
    pub async fn leave_door(&self, actor: &Actor, id: CallId) -> Result<Option<DoorChange>, CallError> {
        let user = Self::caller(actor)?.user;
        let Some(stored) = repo::load(&self.db.pool, id).await? else {
            return Ok(None);
        };
        let change = self
            .under_lock(actor, &stored, |door, _| {
                let Some(devices) = door.devices.get_mut(&user) else {
                    return Ok(Changed::quiet((), Vec::new()));
                };
                *devices -= 1;
                if *devices > 0 {
                    return Ok(Changed::quiet((), Vec::new()));
                }
                door.devices.remove(&user);
                let effects = door.room.leave(user);
                Ok(Changed::audited((), effects, Action::WaitingRoomLeave, json!({})))
            })
            .await?;
        Ok(Some(change))
    }

    /// A host's message to everyone waiting: checked and audited (its length, never its
    /// text); the signaling layer delivers it.
    pub async fn message_waiting_room(&self, actor: &Actor, id: CallId, chars: usize) -> Result<(), CallError> {
        let caller = Self::caller(actor)?;
        let stored = self.load_for_participant(actor, id, Action::WaitingRoomMessage).await?;
        if Entrant::of(caller, &stored.members) != Entrant::Host {
            return Err(self
                .refused(actor, id, Action::WaitingRoomMessage, RoomRefused::NotHost)
                .await);
        }
        let detail = json!({ "chars": chars });
        let fact = actor.fact(Action::WaitingRoomMessage, Some(id), None, Outcome::Success, detail);
        crate::audit::record(&self.db, fact).await?;
        Ok(())
    }

    /// The room as it stands, for telling the providers who waits.
    pub async fn door(&self, id: CallId) -> Result<Door, CallError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(door_repo::load(&mut conn, id).await?)
    }

    /// A host's change about `user`, audited as `action` (a refusal too).
    async fn host_change(
        &self,
        actor: &Actor,
        id: CallId,
        action: Action,
        user: UserId,
        change: impl FnOnce(&mut Door, Entrant, i64) -> Result<Vec<RoomEffect>, RoomRefused>,
    ) -> Result<DoorChange, CallError> {
        let caller = Self::caller(actor)?;
        let stored = self.load_for_participant(actor, id, action).await?;
        let by = Entrant::of(caller, &stored.members);
        let detail = json!({ "userId": user });
        let result = self
            .under_lock(actor, &stored, |door, now| {
                Ok(Changed::audited((), change(door, by, now)?, action, detail))
            })
            .await;
        match result {
            Err(CallError::Room(refused)) => Err(self.refused(actor, id, action, refused).await),
            other => other,
        }
    }

    /// Loads the room under the call's lock, lets `change` alter it, and writes it back
    /// with its audit entry in the same transaction; then reports what changed.
    async fn under_lock<T>(
        &self,
        actor: &Actor,
        stored: &StoredCall,
        change: impl FnOnce(&mut Door, i64) -> Result<Changed<T>, RoomRefused>,
    ) -> Result<DoorChange<T>, CallError> {
        let id = stored.call.id;
        let now = crate::now_millis();
        let mut tx = self.db.pool.begin().await?;
        door_repo::lock_call(&mut tx, id).await?;
        let mut door = door_repo::load(&mut tx, id).await?;
        let changed = change(&mut door, now)?;
        door_repo::save(&mut tx, id, &door, now).await?;
        if let Some((action, detail)) = changed.audit {
            let fact = actor.fact(action, Some(id), None, Outcome::Success, detail);
            storage::audit::append(&self.db, &mut tx, fact).await?;
        }
        tx.commit().await?;
        self.notifier.door(stored, &changed.effects, actor);
        Ok(DoorChange {
            value: changed.value,
            call: stored.clone(),
            door,
            effects: changed.effects,
        })
    }

    /// Audits a refused waiting-room request (denied when the actor may not, failed when the
    /// room was not as they thought) and returns the refusal.
    async fn refused(&self, actor: &Actor, id: CallId, action: Action, refused: RoomRefused) -> CallError {
        let outcome = match refused {
            RoomRefused::NotHost => Outcome::Denied,
            _ => Outcome::Failed,
        };
        let detail = json!({ "reason": refused.to_string() });
        match crate::audit::record(&self.db, actor.fact(action, Some(id), None, outcome, detail)).await {
            Ok(_) => CallError::Room(refused),
            Err(e) => e.into(),
        }
    }
}
