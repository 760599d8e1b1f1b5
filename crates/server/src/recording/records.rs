//! What admins and providers do with a recording's record: legal holds (admins only; a held
//! recording is never deleted by retention) and the audited metadata view with the call's
//! consent history.

use super::RecordingError;
use super::repo::{self, RecordingRow};
use super::service::RecordingService;
use crate::audit::{self, Action, Actor, Outcome};
use crate::calls::CallsService;
use crate::storage;
use crate::storage::consents::{self, ConsentRecord};
use serde_json::json;
use vytalcall_domain::{CallId, RecordingId, Role};

impl RecordingService {
    /// Places or lifts a legal hold (admins only): a held recording is never deleted by
    /// retention.
    pub async fn set_legal_hold(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
        hold: bool,
    ) -> Result<RecordingRow, RecordingError> {
        let (_, row) = self
            .load_for(calls, actor, call, id, Action::RecordingLegalHold)
            .await?;
        if actor.caller.map(|c| c.role) != Some(Role::Admin) {
            audit::record(
                &self.db,
                actor.fact(
                    Action::RecordingLegalHold,
                    Some(call),
                    Some(id),
                    Outcome::Denied,
                    json!({ "hold": hold }),
                ),
            )
            .await?;
            return Err(crate::calls::CallError::Forbidden("only an admin may place or lift a legal hold").into());
        }
        let mut tx = self.db.pool.begin().await?;
        repo::set_legal_hold(&mut tx, row.id, hold).await?;
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact(
                Action::RecordingLegalHold,
                Some(call),
                Some(id),
                Outcome::Success,
                json!({ "hold": hold }),
            ),
        )
        .await?;
        tx.commit().await?;
        repo::load(&self.db.pool, id).await?.ok_or(RecordingError::NotFound)
    }

    /// A recording's metadata with the call's consent history; the view is audited.
    pub async fn metadata(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
    ) -> Result<(RecordingRow, Vec<ConsentRecord>), RecordingError> {
        let (_, row) = self.load_for(calls, actor, call, id, Action::RecordingView).await?;
        let consents = consents::consents(&self.db.pool, call).await?;
        audit::record(
            &self.db,
            actor.fact(Action::RecordingView, Some(call), Some(id), Outcome::Success, json!({})),
        )
        .await?;
        Ok((row, consents))
    }
}
