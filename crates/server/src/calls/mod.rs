//! The calls service: applies the domain's decisions to the world. It loads a call, asks
//! [`vytalcall_domain::access`] whether the actor may touch it, asks
//! [`vytalcall_domain::call::Call::handle`] what happens, then persists the transition and
//! its audit entry in one transaction and hands the effects to the [`CallNotifier`]
//! (signaling). REST handlers and socket handlers both go through here.

pub mod participation;
pub mod view;
pub mod waiting_room;

use crate::audit::{self, Action, Actor, Outcome};
use crate::storage::calls::{self as repo, CallFilter, ConsentRecord, StoredCall};
use crate::storage::{self, Db};
use serde_json::json;
use std::sync::Arc;
pub use view::{CallDetails, CallPage, CallStats, CallView, ParticipantView};
use vytalcall_domain::access::{self, CallRequest, Caller, CreateRefused, Denied, ListScope, Members};
use vytalcall_domain::call::{Call, CallStatus, CallType, Command, Effect, TransitionError};
use vytalcall_domain::consent::ConsentMethod;
use vytalcall_domain::{CallId, UserId};

/// Receives what a transition means for connected clients (ringing, answered, ended...).
/// The signaling layer implements it.
pub trait CallNotifier: Send + Sync {
    fn notify(&self, call: &StoredCall, effect: &Effect, actor: &Actor);
    /// A call's waiting room changed (`effects` say how).
    fn door(&self, call: &StoredCall, effects: &[vytalcall_domain::waiting_room::RoomEffect], actor: &Actor);
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("call not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("{error}")]
    Transition {
        error: TransitionError,
        current: CallStatus,
    },
    #[error("the call changed concurrently; try again")]
    Busy,
    /// The waiting room refused (`domain::waiting_room`).
    #[error(transparent)]
    Room(#[from] vytalcall_domain::waiting_room::RoomRefused),
    #[error("storage failure")]
    Store(#[from] sqlx::Error),
}

impl From<Denied> for CallError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Hidden => CallError::NotFound,
            Denied::Forbidden(why) => CallError::Forbidden(why),
        }
    }
}

/// A parsed `POST /calls` request.
pub struct NewCall {
    pub request: CallRequest,
    pub call_type: CallType,
    pub scheduled_at: Option<i64>,
    pub appointment_id: Option<String>,
    pub recording_enabled: bool,
    /// As asked (`waitingRoom`); unset: a call scheduled in the future has one.
    pub waiting_room: Option<bool>,
}

/// A parsed answer: media the answerer starts with, and their recording consent if given.
pub struct Answer {
    pub video_enabled: bool,
    pub audio_enabled: bool,
    pub consent_to_recording: Option<bool>,
}

/// What a transition does besides changing the state.
enum Extra {
    None,
    Answer(Answer),
}

pub struct CallsService {
    db: Db,
    notifier: Arc<dyn CallNotifier>,
    ring_timeout_ms: i64,
}

const MAX_RACE_RETRIES: usize = 5;

impl CallsService {
    pub fn new(db: Db, notifier: Arc<dyn CallNotifier>, ring_timeout_ms: i64) -> Self {
        CallsService {
            db,
            notifier,
            ring_timeout_ms,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn caller(actor: &Actor) -> Result<Caller, CallError> {
        actor
            .caller
            .ok_or(CallError::Forbidden("an authenticated user is required"))
    }

    pub async fn create(&self, actor: &Actor, new: NewCall) -> Result<CallDetails, CallError> {
        let caller = Self::caller(actor)?;
        let members = match access::members_for_new_call(caller, &new.request) {
            Ok(m) => m,
            Err(refused) => {
                let detail = json!({ "reason": refused.to_string() });
                audit::record(
                    &self.db,
                    actor.fact(Action::CallCreate, None, None, Outcome::Denied, detail),
                )
                .await?;
                return Err(match refused {
                    CreateRefused::Missing { field } => CallError::Invalid {
                        field,
                        message: "is required".into(),
                    },
                    CreateRefused::SamePerson { field } => CallError::Invalid {
                        field,
                        message: "must differ from patientId".into(),
                    },
                    CreateRefused::TooMany { field } => CallError::Invalid {
                        field,
                        message: format!(
                            "may name at most {} additional providers",
                            access::MAX_ADDITIONAL_PROVIDERS
                        ),
                    },
                    CreateRefused::Forbidden(why) => CallError::Forbidden(why),
                });
            }
        };
        let now = crate::now_millis();
        let id = CallId::new_random();
        let waiting_room = vytalcall_domain::waiting_room::has_waiting_room(new.waiting_room, new.scheduled_at, now);
        let created = if waiting_room {
            Call::create_with_waiting_room(id, caller.user, now)
        } else {
            Call::create(id, caller.user, new.scheduled_at, now)
        };
        let stored = StoredCall {
            call: created.call,
            members,
            room_id: id.to_string(),
            call_type: new.call_type,
            scheduled_at: new.scheduled_at,
            appointment_id: new.appointment_id,
            recording_enabled: new.recording_enabled,
            waiting_room,
            end_reason: None,
            version: 0,
        };
        let mut tx = self.db.pool.begin().await?;
        repo::insert(&mut tx, &stored).await?;
        let actor_pair = Some((caller.user, caller.role));
        repo::insert_transition(&mut tx, id, None, stored.call.status, now, actor_pair, None).await?;
        let detail = json!({ "status": stored.call.status.as_str(), "type": stored.call_type.as_str() });
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact(Action::CallCreate, Some(id), None, Outcome::Success, detail),
        )
        .await?;
        tx.commit().await?;
        for effect in &created.effects {
            self.notifier.notify(&stored, effect, actor);
        }
        self.details(stored).await
    }

    /// Loads a call if `rule` lets the actor at it; a refusal is audited as denied.
    async fn load_for(
        &self,
        actor: &Actor,
        id: CallId,
        action: Action,
        rule: fn(Caller, &Members) -> Result<(), Denied>,
    ) -> Result<StoredCall, CallError> {
        let caller = Self::caller(actor)?;
        let stored = repo::load(&self.db.pool, id).await?;
        let verdict = match &stored {
            None => Err(Denied::Hidden),
            Some(s) => rule(caller, &s.members),
        };
        match (verdict, stored) {
            (Ok(()), Some(s)) => Ok(s),
            (Err(denied), _) => {
                let detail = json!({ "reason": denied.to_string() });
                audit::record(&self.db, actor.fact(action, Some(id), None, Outcome::Denied, detail)).await?;
                Err(denied.into())
            }
            (Ok(()), None) => Err(CallError::NotFound),
        }
    }

    /// A call the actor may take part in (members and admins); for the signaling layer.
    pub async fn load_for_participant(
        &self,
        actor: &Actor,
        id: CallId,
        action: Action,
    ) -> Result<StoredCall, CallError> {
        self.load_for(actor, id, action, access::may_take_part).await
    }

    /// Loads a call for recording management (its providers and admins).
    pub async fn load_for_recordings(
        &self,
        actor: &Actor,
        id: CallId,
        action: Action,
    ) -> Result<StoredCall, CallError> {
        self.load_for(actor, id, action, access::may_manage_recordings).await
    }

    pub async fn get_for(&self, actor: &Actor, id: CallId) -> Result<CallDetails, CallError> {
        let stored = self
            .load_for(actor, id, Action::CallView, access::may_take_part)
            .await?;
        audit::record(
            &self.db,
            actor.fact(Action::CallView, Some(id), None, Outcome::Success, json!({})),
        )
        .await?;
        self.details(stored).await
    }

    async fn details(&self, stored: StoredCall) -> Result<CallDetails, CallError> {
        let id = stored.call.id;
        let members: Vec<UserId> = stored.members.all().collect();
        let people = storage::people::many(&self.db.pool, &members).await?;
        Ok(CallDetails {
            participants: repo::participants(&self.db.pool, id)
                .await?
                .into_iter()
                .map(|p| ParticipantView::new(p, &people))
                .collect(),
            transitions: repo::transitions(&self.db.pool, id)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
            consents: repo::consents(&self.db.pool, id)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
            call: CallView::new(&stored, &people),
        })
    }

    /// Narrows a list or statistics query to the calls the caller may see.
    fn scope(caller: Caller, mut filter: CallFilter) -> CallFilter {
        if let ListScope::MemberOf(user) = access::list_scope(caller) {
            filter.visible_to = Some(user);
        }
        filter
    }

    pub async fn list_for(
        &self,
        actor: &Actor,
        filter: CallFilter,
        limit: i64,
        offset: i64,
    ) -> Result<CallPage, CallError> {
        let caller = Self::caller(actor)?;
        let (calls, total) = repo::list(&self.db.pool, &Self::scope(caller, filter), limit, offset).await?;
        let ids: Vec<String> = calls.iter().map(|c| c.call.id.to_string()).collect();
        let detail = json!({ "returned": ids.len(), "total": total, "callIds": ids });
        audit::record(
            &self.db,
            actor.fact(Action::CallList, None, None, Outcome::Success, detail),
        )
        .await?;
        let everyone: Vec<UserId> = calls.iter().flat_map(|c| c.members.all()).collect();
        let people = storage::people::many(&self.db.pool, &everyone).await?;
        Ok(CallPage {
            calls: calls.iter().map(|c| CallView::new(c, &people)).collect(),
            total,
            limit,
            offset,
        })
    }

    pub async fn stats_for(&self, actor: &Actor, filter: CallFilter) -> Result<CallStats, CallError> {
        let caller = Self::caller(actor)?;
        let rows = repo::aggregate(&self.db.pool, &Self::scope(caller, filter)).await?;
        audit::record(
            &self.db,
            actor.fact(Action::StatsView, None, None, Outcome::Success, json!({})),
        )
        .await?;
        Ok(CallStats::from_aggregates(&rows))
    }

    pub async fn answer(&self, actor: &Actor, id: CallId, answer: Answer) -> Result<CallDetails, CallError> {
        let caller = Self::caller(actor)?;
        self.transition(
            actor,
            id,
            Action::CallAnswer,
            Command::Answer { by: caller.user },
            Extra::Answer(answer),
        )
        .await
    }

    pub async fn end(&self, actor: &Actor, id: CallId, reason: String) -> Result<CallDetails, CallError> {
        self.transition(actor, id, Action::CallEnd, Command::End { reason }, Extra::None)
            .await
    }

    pub async fn cancel(&self, actor: &Actor, id: CallId, reason: String) -> Result<CallDetails, CallError> {
        self.transition(actor, id, Action::CallCancel, Command::Cancel { reason }, Extra::None)
            .await
    }

    /// Applies `command` with optimistic concurrency: if another request changed the call
    /// between load and write, the decision is taken again on the fresh state.
    async fn transition(
        &self,
        actor: &Actor,
        id: CallId,
        action: Action,
        command: Command,
        extra: Extra,
    ) -> Result<CallDetails, CallError> {
        for _ in 0..MAX_RACE_RETRIES {
            let stored = match actor.caller {
                Some(_) => self.load_for(actor, id, action, access::may_take_part).await?,
                None => repo::load(&self.db.pool, id).await?.ok_or(CallError::NotFound)?,
            };
            if let (Extra::Answer(_), Some(caller)) = (&extra, actor.caller) {
                access::may_answer(caller, &stored.members)?;
            }
            let mut next = stored.clone();
            let now = crate::now_millis();
            let transition = match next.call.handle(command.clone(), now) {
                Ok(t) => t,
                Err(error) => {
                    let current = stored.call.status;
                    let detail = json!({ "error": error.to_string(), "current": current.as_str() });
                    audit::record(&self.db, actor.fact(action, Some(id), None, Outcome::Failed, detail)).await?;
                    return Err(CallError::Transition { error, current });
                }
            };
            if next.call.status.is_final() {
                next.end_reason.clone_from(&transition.reason);
            }
            let mut tx = self.db.pool.begin().await?;
            let who = actor.caller.map(|c| (c.user, c.role));
            if !repo::save_transition(&mut tx, &next, stored.version, &transition, who).await? {
                tx.rollback().await?;
                continue;
            }
            if let (Extra::Answer(a), Some(caller)) = (&extra, actor.caller) {
                repo::record_answer(&mut tx, id, caller.user, a.video_enabled, a.audio_enabled, now).await?;
                if let Some(consented) = a.consent_to_recording {
                    let consent = ConsentRecord {
                        user: caller.user,
                        consented,
                        method: ConsentMethod::InApp,
                        recorded_by: caller.user,
                        recorded_at: now,
                    };
                    storage::consents::record(&self.db, &mut tx, actor, id, None, &consent).await?;
                }
            }
            let detail = json!({
                "from": transition.from.as_str(),
                "to": transition.to.as_str(),
                "reason": transition.reason,
            });
            storage::audit::append(
                &self.db,
                &mut tx,
                actor.fact(action, Some(id), None, Outcome::Success, detail),
            )
            .await?;
            tx.commit().await?;
            next.version += 1;
            for effect in &transition.effects {
                self.notifier.notify(&next, effect, actor);
            }
            return self.details(next).await;
        }
        Err(CallError::Busy)
    }

    /// Marks calls that rang past the timeout as missed. Safe to run from every process:
    /// the versioned update lets exactly one of them win each call.
    pub async fn expire_ringing(&self) -> Result<usize, CallError> {
        let due = repo::ringing_since(&self.db.pool, crate::now_millis() - self.ring_timeout_ms).await?;
        let mut missed = 0;
        for id in due {
            let command = Command::RingTimeout {
                timeout_ms: self.ring_timeout_ms,
            };
            match self
                .transition(&Actor::system(), id, Action::CallMissed, command, Extra::None)
                .await
            {
                Ok(_) => missed += 1,
                Err(CallError::Transition { .. } | CallError::NotFound | CallError::Busy) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(missed)
    }

    /// The users a call's notification should reach besides `except`.
    pub fn others(members: &Members, except: Option<UserId>) -> Vec<UserId> {
        members.all().filter(|u| Some(*u) != except).collect()
    }
}
