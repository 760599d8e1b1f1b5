//! Admitting participants to a running recording: an SDP offer to the recording peer is
//! answered only for a member whose latest statement is consent; a late joiner is asked for
//! consent, and a refusal disconnects them from the peer at once, on whichever node it runs.

use super::RecordingError;
use super::remote::{PeerCommand, PeerReply};
use super::repo::{self, Status};
use super::service::RecordingService;
use crate::audit::{self, Action, Actor, Outcome};
use crate::calls::CallsService;
use crate::storage::calls as call_repo;
use crate::storage::consents::{self, ConsentRecord};
use serde_json::json;
use vytalcall_domain::consent::{self, ConsentMethod};
use vytalcall_domain::{CallId, RecordingId, UserId};

impl RecordingService {
    /// A participant's SDP offer to the recording peer. Only a member of the call whose
    /// latest statement is consent is connected; anyone else is refused and audited.
    pub async fn offer(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
        sdp: String,
    ) -> Result<String, RecordingError> {
        let stored = calls
            .load_for_participant(actor, call, Action::RecordingConnect)
            .await?;
        let caller = actor.caller.ok_or(RecordingError::ConsentRequired)?;
        let row = repo::load(&self.db.pool, id)
            .await?
            .filter(|r| r.call_id == call)
            .ok_or(RecordingError::NotFound)?;
        if row.status != Status::Recording {
            return Err(RecordingError::NotRunning);
        }
        let history = repo::consent_history(&self.db.pool, call).await?;
        if !stored.members.contains(caller.user) || !consent::has_consented(caller.user, &history) {
            let detail = json!({ "reason": "no consent on record" });
            audit::record(
                &self.db,
                actor.fact(Action::RecordingConnect, Some(call), Some(id), Outcome::Denied, detail),
            )
            .await?;
            if stored.members.contains(caller.user) {
                self.tell(|n| n.consent_requested(&stored, id, caller.user));
            }
            return Err(RecordingError::ConsentRequired);
        }
        let answer = match self.peer_elsewhere(&row) {
            Some((remote, node)) => {
                let offer = PeerCommand::Offer {
                    recording: id,
                    user: caller.user,
                    sdp,
                };
                match remote.ask(node, offer).await? {
                    PeerReply::Answer { sdp } => Ok(sdp),
                    PeerReply::NotAParticipant => Err(RecordingError::NotAParticipant(caller.user)),
                    PeerReply::BadOffer { message } => Err(RecordingError::BadOffer(message)),
                    PeerReply::Failed { message } => Err(RecordingError::Peer(message)),
                    _ => Err(RecordingError::NotRunning),
                }
            }
            None => self.offer_locally(id, caller.user, sdp).await,
        };
        // A peer that is not there, or has no tracks for them, was never asked.
        if let Err(e @ (RecordingError::NotRunning | RecordingError::NotAParticipant(_))) = answer {
            return Err(e);
        }
        let outcome = if answer.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failed
        };
        audit::record(
            &self.db,
            actor.fact(Action::RecordingConnect, Some(call), Some(id), outcome, json!({})),
        )
        .await?;
        answer
    }

    /// A participant gives or refuses consent for themselves (a late joiner answering the
    /// consent request). A refusal disconnects them from a running recording at once.
    pub async fn consent(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        consented: bool,
    ) -> Result<(), RecordingError> {
        let stored = calls.load_for_participant(actor, call, Action::ConsentRecord).await?;
        let caller = actor.caller.ok_or(RecordingError::ConsentRequired)?;
        if !stored.members.contains(caller.user) {
            return Err(RecordingError::NotAParticipant(caller.user));
        }
        let running = repo::running_for_call(&self.db.pool, call).await?;
        let now = crate::now_millis();
        let mut tx = self.db.pool.begin().await?;
        let statement = ConsentRecord {
            user: caller.user,
            consented,
            method: ConsentMethod::InApp,
            recorded_by: caller.user,
            recorded_at: now,
        };
        consents::record(
            &self.db,
            &mut tx,
            actor,
            call,
            running.as_ref().map(|r| r.id),
            &statement,
        )
        .await?;
        tx.commit().await?;
        if !consented && let Some(r) = running {
            match self.peer_elsewhere(&r) {
                Some((remote, node)) => {
                    let drop = PeerCommand::Drop {
                        recording: r.id,
                        user: caller.user,
                    };
                    remote.ask(node, drop).await?;
                }
                None => {
                    self.drop_locally(r.id, caller.user).await;
                }
            }
        }
        Ok(())
    }

    /// For signaling, when someone joins a call: if it is being recorded and their consent
    /// is not on record, ask them (and do not record them until they agree).
    pub async fn on_participant_joined(&self, call: CallId, user: UserId) -> Result<(), RecordingError> {
        let Some(row) = repo::running_for_call(&self.db.pool, call).await? else {
            return Ok(());
        };
        let history = repo::consent_history(&self.db.pool, call).await?;
        if consent::has_consented(user, &history) {
            return Ok(());
        }
        if let Some(stored) = call_repo::load(&self.db.pool, call).await? {
            let detail = json!({ "subject": user });
            audit::record(
                &self.db,
                Actor::system().fact(
                    Action::ConsentRequest,
                    Some(call),
                    Some(row.id),
                    Outcome::Success,
                    detail,
                ),
            )
            .await?;
            self.tell(|n| n.consent_requested(&stored, row.id, user));
        }
        Ok(())
    }
}
