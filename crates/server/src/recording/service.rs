//! The recording service: starts and stops recordings (consent enforced by
//! [`vytalcall_domain::consent`]) and records every step in the audit trail. Admitting
//! participants to a running recording lives in [`super::admission`], starting the peer and
//! its writer in [`super::launch`], legal holds and metadata in [`super::records`], playback
//! in [`super::playback`], retention and crash recovery in [`super::upkeep`].

use super::RecordingError;
use super::keyring::{KeyRing, WrappedKey};
use super::keys;
use super::launch::{Active, tracks_for};
use super::remote::{PeerCommand, PeerReply, Recorders};
use super::repo::{self, Closing, RecordingRow, Status};
use super::sink::Written;
use super::store::{self, Store};
use crate::audit::{self, Action, Actor, Outcome};
use crate::calls::CallsService;
use crate::config::{RecordingRtcSettings, Settings};
use crate::storage::calls::{self as call_repo, StoredCall};
use crate::storage::consents::{self, ConsentRecord};
use crate::storage::{self, Db};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vytalcall_domain::call::CallStatus;
use vytalcall_domain::consent::{self, ConsentMethod, StartRefused};
use vytalcall_domain::{CallId, RecordingId, UserId};

/// What connected clients hear about recordings. Signaling implements it (emitting
/// `recording-started`, `recording-stopped`, and a consent request to a late joiner).
pub trait RecordingNotifier: Send + Sync {
    fn recording_started(&self, call: &StoredCall, recording: RecordingId, started_by: UserId, at: i64);
    fn recording_stopped(&self, call: &StoredCall, recording: RecordingId, stopped_by: Option<UserId>, at: i64);
    /// `user` is in the call while it is recorded without their consent on record.
    fn consent_requested(&self, call: &StoredCall, recording: RecordingId, user: UserId);
}

/// A parsed start request.
pub struct StartRequest {
    pub consented: Vec<UserId>,
    pub method: ConsentMethod,
    pub transcription: bool,
}

pub struct RecordingService {
    pub(super) db: Db,
    pub(super) store: Store,
    /// The master keys recordings' data keys are wrapped under.
    pub(super) keys: KeyRing,
    pub(super) rtc: RecordingRtcSettings,
    pub(super) retention_days: u32,
    pub(super) node_id: String,
    /// Absent for operator commands, which run without signaling: nobody is connected to
    /// them, and they never start, stop or admit.
    notifier: Option<Arc<dyn RecordingNotifier>>,
    pub(super) active: Mutex<HashMap<RecordingId, Active>>,
    /// Other nodes' peers, reached over Redis (with `REDIS_URL`).
    pub(super) remote: Option<Recorders>,
}

impl RecordingService {
    pub fn new(
        settings: &Settings,
        db: Db,
        keys: KeyRing,
        node_id: String,
        notifier: Option<Arc<dyn RecordingNotifier>>,
        remote: Option<Recorders>,
    ) -> Result<RecordingService, RecordingError> {
        Ok(RecordingService {
            store: Store::from_settings(&settings.storage, &settings.data_dir)?,
            db,
            keys,
            rtc: settings.recording_rtc.clone(),
            retention_days: settings.recording_retention_days,
            node_id,
            notifier,
            active: Mutex::new(HashMap::new()),
            remote,
        })
    }

    /// Tells connected clients, if this service has any.
    pub(super) fn tell(&self, what: impl FnOnce(&dyn RecordingNotifier)) {
        if let Some(n) = &self.notifier {
            what(n.as_ref());
        }
    }

    /// Loads a recording of a call the actor may manage (its providers and admins).
    pub(super) async fn load_for(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
        action: Action,
    ) -> Result<(StoredCall, RecordingRow), RecordingError> {
        let stored = calls.load_for_recordings(actor, call, action).await?;
        let row = repo::load(&self.db.pool, id)
            .await?
            .filter(|r| r.call_id == call)
            .ok_or(RecordingError::NotFound)?;
        Ok((stored, row))
    }

    /// Starts recording `call` if every current participant's consent is on record (the
    /// request's own attestations included); otherwise nothing changes and the refusal,
    /// naming who is missing, is audited. Decides, persists the start with its consents,
    /// then launches the peer; a launch that fails closes the row as `failed`.
    pub async fn start(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        req: StartRequest,
    ) -> Result<RecordingRow, RecordingError> {
        let stored = calls.load_for_recordings(actor, call, Action::RecordingStart).await?;
        let caller = actor.caller.ok_or(RecordingError::NotRunning)?;
        let now = crate::now_millis();
        let (present, statements) = self.decide_start(actor, &stored, &req, caller.user, now).await?;
        let row = self.new_row(call, caller.user, &req, present, now);
        let (key, wrapped) = self.new_key(row.id)?;
        self.persist_start(actor, &req, &statements, &row, &wrapped).await?;
        if let Err(e) = self.launch(&row, key, tracks_for(&stored.members)).await {
            tracing::error!(recording = %row.id, error = %e, "the recording could not start");
            self.fail_start(&row).await?;
            return Err(e);
        }
        self.tell(|n| n.recording_started(&stored, row.id, caller.user, now));
        Ok(row)
    }

    /// Who is present and which of the request's statements to record, if the recording may
    /// start now; otherwise the audited refusal.
    async fn decide_start(
        &self,
        actor: &Actor,
        stored: &StoredCall,
        req: &StartRequest,
        started_by: UserId,
        now: i64,
    ) -> Result<(Vec<UserId>, Vec<consent::Statement>), RecordingError> {
        let call = stored.call.id;
        if let Some(stranger) = req.consented.iter().find(|u| !stored.members.contains(**u)) {
            return Err(RecordingError::NotAParticipant(*stranger));
        }
        let history = repo::consent_history(&self.db.pool, call).await?;
        let attestation = consent::Attestation {
            by: started_by,
            method: req.method,
            users: req.consented.clone(),
            at: now,
        };
        let (answered, open) = repo::presence(&self.db.pool, call).await?;
        let present = consent::present(stored.call.initiated_by, &answered, &open);
        let running = repo::running_for_call(&self.db.pool, call).await?.is_some();
        let active = stored.call.status == CallStatus::Active;
        let refused = match consent::may_start(active, running, &present, &history, &attestation) {
            Ok(statements) => return Ok((present, statements)),
            Err(refused) => refused,
        };
        let missing: Vec<String> = match &refused {
            StartRefused::ConsentMissing(m) => m.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        let detail = json!({ "reason": refused.to_string(), "missingConsent": missing });
        audit::record(
            &self.db,
            actor.fact(Action::RecordingStart, Some(call), None, Outcome::Denied, detail),
        )
        .await?;
        Err(refused.into())
    }

    /// The row of a recording starting now on this node.
    fn new_row(
        &self,
        call: CallId,
        started_by: UserId,
        req: &StartRequest,
        participants: Vec<UserId>,
        now: i64,
    ) -> RecordingRow {
        let id = RecordingId::new_random();
        RecordingRow {
            id,
            call_id: call,
            status: Status::Recording,
            started_by,
            started_at: now,
            stopped_by: None,
            stopped_at: None,
            transcription: req.transcription,
            storage_key: Some(store::key_for(call.0, id.0)),
            size_bytes: None,
            stored_bytes: None,
            duration_ms: None,
            legal_hold: false,
            media_head: None,
            participants,
            consent_method: Some(req.method),
            node_id: Some(self.node_id.clone()),
        }
    }

    /// One transaction: the request's consent statements that count, the running row, its
    /// wrapped data key (so no media is ever written without its key on record) and the
    /// audited start. The unique index on running recordings refuses a second start that
    /// raced this one past [`Self::decide_start`]; any other failure is the database's.
    async fn persist_start(
        &self,
        actor: &Actor,
        req: &StartRequest,
        statements: &[consent::Statement],
        row: &RecordingRow,
        wrapped: &WrappedKey,
    ) -> Result<(), RecordingError> {
        let mut tx = self.db.pool.begin().await?;
        for s in statements {
            let statement = ConsentRecord {
                user: s.user,
                consented: s.consented,
                method: s.method,
                recorded_by: s.by,
                recorded_at: s.at,
            };
            consents::record(&self.db, &mut tx, actor, row.call_id, Some(row.id), &statement).await?;
        }
        if !repo::insert(&mut tx, row).await? {
            tx.rollback().await?;
            return Err(StartRefused::AlreadyRecording.into());
        }
        keys::insert(&mut tx, row.id, wrapped, row.started_at).await?;
        let detail = json!({
            "participants": row.participants,
            "method": req.method.as_str(),
            "transcription": req.transcription,
        });
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact(
                Action::RecordingStart,
                Some(row.call_id),
                Some(row.id),
                Outcome::Success,
                detail,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a recording whose peer or storage could not start as `failed`, audited.
    async fn fail_start(&self, row: &RecordingRow) -> Result<(), RecordingError> {
        let mut tx = self.db.pool.begin().await?;
        let closing = Closing {
            status: Status::Failed,
            stopped_by: None,
            stopped_at: crate::now_millis(),
            size_bytes: None,
            stored_bytes: None,
            duration_ms: None,
        };
        repo::close(&mut tx, row.id, &closing).await?;
        storage::audit::append(
            &self.db,
            &mut tx,
            Actor::system().fact(
                Action::RecordingFail,
                Some(row.call_id),
                Some(row.id),
                Outcome::Failed,
                json!({ "stage": "start" }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops a running recording and completes its stored file.
    pub async fn stop(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
    ) -> Result<RecordingRow, RecordingError> {
        let (stored, row) = self.load_for(calls, actor, call, id, Action::RecordingStop).await?;
        if row.status != Status::Recording {
            return Err(RecordingError::NotRunning);
        }
        self.finish(&stored, row, actor).await
    }

    /// Stops the peer, writes the end of the file and closes the row (status `completed`,
    /// or `failed` if storage broke on the way).
    pub(super) async fn finish(
        &self,
        stored: &StoredCall,
        row: RecordingRow,
        actor: &Actor,
    ) -> Result<RecordingRow, RecordingError> {
        let id = row.id;
        let now = crate::now_millis();
        let (status, written) = match self.peer_elsewhere(&row) {
            Some((remote, node)) => match remote.ask(node, PeerCommand::Finish { recording: id }).await? {
                PeerReply::Finished { written: Some(w) } => (Status::Completed, Some(Written::from(w))),
                PeerReply::Finished { written: None } => (Status::Failed, None),
                _ => return Err(RecordingError::NotRunning),
            },
            None => match self.finish_peer(id).await {
                Some(Some(w)) => (Status::Completed, Some(w)),
                Some(None) => (Status::Failed, None),
                // Not running in this process (it crashed and recovery has not run yet):
                // what was written is kept as a partial recording by recovery.
                None => (Status::Partial, None),
            },
        };
        let stopped_by = actor.caller.map(|c| c.user.to_string());
        let closing = Closing {
            status: status.clone(),
            stopped_by: stopped_by.as_deref(),
            stopped_at: now,
            size_bytes: written.map(|w| w.media_bytes as i64),
            stored_bytes: written.map(|w| w.stored_bytes as i64),
            duration_ms: written.map(|w| w.duration_ms as i64),
        };
        let mut tx = self.db.pool.begin().await?;
        if !repo::close(&mut tx, id, &closing).await? {
            tx.rollback().await?;
            return Err(RecordingError::NotRunning);
        }
        let outcome = if status == Status::Failed {
            Outcome::Failed
        } else {
            Outcome::Success
        };
        let detail =
            json!({ "status": status.as_str(), "durationMs": closing.duration_ms, "sizeBytes": closing.size_bytes });
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact(Action::RecordingStop, Some(row.call_id), Some(id), outcome, detail),
        )
        .await?;
        tx.commit().await?;
        if status == Status::Partial {
            self.recover_one(&row).await?;
        }
        self.tell(|n| n.recording_stopped(stored, id, actor.caller.map(|c| c.user), now));
        repo::load(&self.db.pool, id).await?.ok_or(RecordingError::NotFound)
    }

    pub fn expires_at(&self, row: &RecordingRow) -> i64 {
        consent::expires_at(row.started_at, self.retention_days)
    }

    /// Stops every running recording (graceful shutdown): each file is completed.
    pub async fn stop_all(&self) {
        let ids: Vec<RecordingId> = self
            .active
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let Ok(Some(row)) = repo::load(&self.db.pool, id).await else {
                continue;
            };
            let Ok(Some(stored)) = call_repo::load(&self.db.pool, row.call_id).await else {
                continue;
            };
            if let Err(e) = self.finish(&stored, row, &Actor::system()).await {
                tracing::warn!(recording = %id, error = %e, "could not complete a recording at shutdown");
            }
        }
    }
}
