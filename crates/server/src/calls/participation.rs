//! Taking part in a call from a device: joining, leaving, media state and quality samples.
//! The signaling layer calls these; like the REST commands they load the call through the
//! access rules, reuse the state machine's transitions (a scheduled call rings when someone
//! shows up, a ringing call becomes active when a second party is there), and audit every
//! join and leave. The rules (who may join, who is credited with answering, how an abandoned
//! call ends) are [`vytalcall_domain::participation`]'s; this file applies them.

use super::{Answer, CallError, CallsService, Extra};
use crate::audit::{self, Action, Actor, Outcome};
use crate::storage;
use crate::storage::calls::{self as repo, NewParticipant, QualitySample, StoredCall};
use serde_json::json;
use vytalcall_domain::call::Command;
use vytalcall_domain::participation::{self, Arrival, Emptied};
use vytalcall_domain::{CallId, UserId};

/// A device asking to join.
pub struct JoinRequest<'a> {
    pub device_id: &'a str,
    pub video_enabled: bool,
    pub audio_enabled: bool,
}

/// A device in a call: the call as it stands and the participant row opened for it.
pub struct Joined {
    pub call: StoredCall,
    pub participant_id: String,
}

impl CallsService {
    /// Opens a participant row for this device, after ringing the others if the call was
    /// only scheduled. `stored` is the call as [`CallsService::seat`] loaded it, through
    /// the access rules (strangers were refused there); a call that is over cannot be joined.
    pub async fn join(&self, actor: &Actor, mut stored: StoredCall, req: JoinRequest<'_>) -> Result<Joined, CallError> {
        let caller = Self::caller(actor)?;
        let id = stored.call.id;
        let current = stored.call.status;
        let arrival = match participation::arrive(current, stored.waiting_room) {
            Ok(arrival) => arrival,
            Err(error) => {
                let detail = json!({ "reason": "the call is over", "current": current.as_str() });
                audit::record(
                    &self.db,
                    actor.fact(Action::CallJoin, Some(id), None, Outcome::Failed, detail),
                )
                .await?;
                return Err(CallError::Transition { error, current });
            }
        };
        if arrival == Arrival::RingsFirst {
            match self
                .transition(actor, id, Action::CallRing, Command::Ring, Extra::None)
                .await
            {
                // Someone else rang or answered it meanwhile: join the call as it is now.
                Ok(_) | Err(CallError::Transition { .. }) => {}
                Err(e) => return Err(e),
            }
            stored = repo::load(&self.db.pool, id).await?.ok_or(CallError::NotFound)?;
        }
        // The row and its audit entry, committed with whatever other joins are waiting.
        let (db, actor, device) = (self.db.clone(), actor.clone(), req.device_id.to_string());
        let (status, media) = (stored.call.status, (req.video_enabled, req.audio_enabled));
        let participant_id = self
            .db
            .commits
            .run(move |conn| {
                Box::pin(async move {
                    let participant = NewParticipant {
                        call: id,
                        user: caller.user,
                        role: caller.role,
                        device_id: &device,
                        joined_at: crate::now_millis(),
                        video: media.0,
                        audio: media.1,
                    };
                    let participant_id = repo::insert_participant(conn, &participant).await?;
                    let detail = json!({ "status": status.as_str(), "participant": participant_id });
                    let fact = actor.fact(Action::CallJoin, Some(id), None, Outcome::Success, detail);
                    storage::audit::append(&db, conn, fact).await?;
                    Ok(participant_id)
                })
            })
            .await?;
        Ok(Joined {
            call: stored,
            participant_id,
        })
    }

    /// Makes a scheduled or ringing call active once two of its members are in it, crediting
    /// the answer as [`participation::answerer`] decides; when it is the joiner, their media
    /// state is recorded as with a REST answer. Returns whether it changed.
    /// `stored` is the call as the join saw it; the transition itself rereads it.
    pub async fn activate_if_present(
        &self,
        actor: &Actor,
        stored: &StoredCall,
        connected: &[UserId],
        media: (bool, bool),
    ) -> Result<bool, CallError> {
        let id = stored.call.id;
        let joiner = actor.caller.map(|c| c.user);
        let Some(answerer) = participation::answerer(&stored.call, &stored.members, connected, joiner) else {
            return Ok(false);
        };
        let extra = if Some(answerer) == joiner {
            Extra::Answer(Answer {
                video_enabled: media.0,
                audio_enabled: media.1,
                consent_to_recording: None,
            })
        } else {
            Extra::None
        };
        match self
            .transition(actor, id, Action::CallAnswer, Command::Answer { by: answerer }, extra)
            .await
        {
            Ok(_) => Ok(true),
            Err(CallError::Transition { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Closes a device's participant row and audits the leave. `reason` is a short,
    /// fixed description (never client text beyond the bounded `leave-call` reason).
    pub async fn leave_device(
        &self,
        actor: &Actor,
        id: CallId,
        participant_id: &str,
        reason: &str,
    ) -> Result<(), CallError> {
        let (db, actor) = (self.db.clone(), actor.clone());
        let (participant, reason) = (participant_id.to_string(), reason.to_string());
        self.db
            .commits
            .run(move |conn| {
                Box::pin(async move {
                    let closed = repo::close_participant(conn, &participant, crate::now_millis(), &reason).await?;
                    let detail = json!({ "participant": participant, "reason": reason, "wasOpen": closed });
                    let fact = actor.fact(Action::CallLeave, Some(id), None, Outcome::Success, detail);
                    storage::audit::append(&db, conn, fact).await?;
                    Ok(())
                })
            })
            .await?;
        Ok(())
    }

    /// After this process restarts on its own (no other node shares its calls): the devices
    /// that were in calls when it stopped lost their connections with it. Closes their rows
    /// as `disconnected`, audited as each dropped device is, and returns who was in which
    /// call so their reconnection grace can start now.
    pub async fn recover_interrupted(&self) -> Result<Vec<(CallId, UserId)>, CallError> {
        self.close_interrupted(None).await
    }

    /// Whether the user has a device joined to the call on any node, by the database: the
    /// fallback when presence does not know them (the shared store lost its data and their
    /// node has not published its devices again yet).
    pub async fn has_joined_device(&self, call: CallId, user: UserId) -> Result<bool, CallError> {
        Ok(!repo::open_participants(&self.db.pool, Some((call, user)))
            .await?
            .is_empty())
    }

    /// A user's last device was on a node that died (several nodes): closes the rows that
    /// node could not close.
    pub async fn devices_lost_with_node(&self, call: CallId, user: UserId) -> Result<(), CallError> {
        self.close_interrupted(Some((call, user))).await.map(drop)
    }

    async fn close_interrupted(&self, only: Option<(CallId, UserId)>) -> Result<Vec<(CallId, UserId)>, CallError> {
        let now = crate::now_millis();
        let mut interrupted = Vec::new();
        for (participant, call, user) in repo::open_participants(&self.db.pool, only).await? {
            let mut tx = self.db.pool.begin().await?;
            let closed = repo::close_participant(&mut tx, &participant, now, "disconnected").await?;
            let detail = json!({ "participant": participant, "user": user, "reason": "disconnected", "wasOpen": closed, "recovered": true });
            storage::audit::append(
                &self.db,
                &mut tx,
                Actor::system().fact(Action::CallLeave, Some(call), None, Outcome::Success, detail),
            )
            .await?;
            tx.commit().await?;
            if !interrupted.contains(&(call, user)) {
                interrupted.push((call, user));
            }
        }
        Ok(interrupted)
    }

    /// Audits that a user's reconnection grace ran out (their devices' rows are closed
    /// already, when each dropped).
    pub async fn grace_expired(&self, id: CallId, user: UserId) -> Result<(), CallError> {
        let detail = json!({ "user": user, "reason": "disconnected" });
        audit::record(
            &self.db,
            Actor::system().fact(Action::CallLeave, Some(id), None, Outcome::Success, detail),
        )
        .await?;
        Ok(())
    }

    /// Ends a call nobody is left in, as [`participation::when_abandoned`] decides: an
    /// active call that everyone left on purpose ends normally; one whose participants all
    /// dropped (`dropped`) and never came back has failed.
    pub async fn end_abandoned(&self, id: CallId, dropped: bool) -> Result<(), CallError> {
        let Some(stored) = repo::load(&self.db.pool, id).await? else {
            return Ok(());
        };
        let how = if dropped { Emptied::AllDropped } else { Emptied::AllLeft };
        let Some(command) = participation::when_abandoned(stored.call.status, how) else {
            return Ok(());
        };
        let action = match command {
            Command::Fail { .. } => Action::CallFail,
            _ => Action::CallEnd,
        };
        match self
            .transition(&Actor::system(), id, action, command, Extra::None)
            .await
        {
            Ok(_) | Err(CallError::Transition { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Closes the rows of every device still in a call that is over.
    pub async fn close_participation(&self, id: CallId, reason: &str) -> Result<(), CallError> {
        repo::close_all_participants(&self.db.pool, id, crate::now_millis(), reason).await?;
        Ok(())
    }

    pub async fn update_media(&self, participant_id: &str, media: (bool, bool, bool)) -> Result<(), CallError> {
        let participant = participant_id.to_string();
        self.db
            .commits
            .run(move |conn| {
                Box::pin(
                    async move { repo::update_participant_media(conn, &participant, media, crate::now_millis()).await },
                )
            })
            .await?;
        Ok(())
    }

    /// Stores a quality sample if this participant has none within `interval_ms`.
    pub async fn record_quality(&self, sample: QualitySample, interval_ms: i64) -> Result<bool, CallError> {
        Ok(self
            .db
            .commits
            .run(move |conn| {
                Box::pin(async move { repo::insert_quality_sample_if_due(conn, &sample, interval_ms).await })
            })
            .await?)
    }
}
