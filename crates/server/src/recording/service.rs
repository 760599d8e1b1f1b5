//! The recording service: starts and stops recordings (consent enforced by
//! [`vytalcall_domain::consent`]), admits participants to the recording peer, and records
//! every step in the audit trail. Playback lives in [`super::playback`], retention and
//! crash recovery in [`super::upkeep`].

use super::RecordingError;
use super::crypto::{MasterKey, RecordingKey};
use super::peer::{ParticipantTracks, Peer, PeerHandle};
use super::repo::{self, Closing, RecordingRow, Status};
use super::sink::{EncryptedSink, HeadSaver};
use super::store::{self, Store};
use super::webm::{Kind, TrackSpec};
use crate::audit::{self, Actor, Outcome};
use crate::calls::CallsService;
use crate::config::{RecordingRtcSettings, Settings};
use crate::storage::calls::{self as call_repo, ConsentRecord, StoredCall};
use crate::storage::{self, Db};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use vytalcall_domain::access::Members;
use vytalcall_domain::call::CallStatus;
use vytalcall_domain::consent::{self, StartRefused};
use vytalcall_domain::{CallId, RecordingId, Role, UserId};

/// What connected clients hear about recordings. Signaling implements it (emitting
/// `recording-started`, `recording-stopped`, and a consent request to a late joiner);
/// without signaling nothing is sent.
pub trait RecordingNotifier: Send + Sync {
    fn recording_started(&self, call: &StoredCall, recording: RecordingId, started_by: UserId, at: i64);
    fn recording_stopped(&self, call: &StoredCall, recording: RecordingId, stopped_by: Option<UserId>, at: i64);
    /// `user` is in the call while it is recorded without their consent on record.
    fn consent_requested(&self, call: &StoredCall, recording: RecordingId, user: UserId);
}

pub struct NoRecordingNotifier;
impl RecordingNotifier for NoRecordingNotifier {
    fn recording_started(&self, _: &StoredCall, _: RecordingId, _: UserId, _: i64) {}
    fn recording_stopped(&self, _: &StoredCall, _: RecordingId, _: Option<UserId>, _: i64) {}
    fn consent_requested(&self, _: &StoredCall, _: RecordingId, _: UserId) {}
}

/// A parsed start request.
pub struct StartRequest {
    pub consented: Vec<UserId>,
    pub method: String,
    pub transcription: bool,
}

struct Active {
    call: CallId,
    peer: Peer<EncryptedSink>,
    handle: PeerHandle,
    tracks: HashMap<UserId, ParticipantTracks>,
}

pub struct RecordingService {
    pub(super) db: Db,
    pub(super) store: Store,
    pub(super) master: MasterKey,
    rtc: RecordingRtcSettings,
    pub(super) retention_days: u32,
    pub(super) node_id: String,
    notifier: RwLock<Arc<dyn RecordingNotifier>>,
    active: Mutex<HashMap<RecordingId, Active>>,
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One Matroska track per participant stream: audio then video, patient first.
fn tracks_for(members: &Members) -> (Vec<TrackSpec>, HashMap<UserId, ParticipantTracks>) {
    let mut specs = Vec::new();
    let mut map = HashMap::new();
    for (i, user) in members.all().enumerate().take(60) {
        let audio = (2 * i + 1) as u8;
        let video = audio + 1;
        specs.push(TrackSpec {
            number: audio,
            kind: Kind::Audio,
            name: format!("{user} audio"),
        });
        specs.push(TrackSpec {
            number: video,
            kind: Kind::Video,
            name: format!("{user} video"),
        });
        map.insert(user, ParticipantTracks { audio, video });
    }
    (specs, map)
}

impl RecordingService {
    pub fn new(
        settings: &Settings,
        db: Db,
        master: MasterKey,
        node_id: String,
    ) -> Result<RecordingService, RecordingError> {
        Ok(RecordingService {
            store: Store::from_settings(&settings.storage, &settings.data_dir)?,
            db,
            master,
            rtc: settings.recording_rtc.clone(),
            retention_days: settings.recording_retention_days,
            node_id,
            notifier: RwLock::new(Arc::new(NoRecordingNotifier)),
            active: Mutex::new(HashMap::new()),
        })
    }

    pub fn set_notifier(&self, notifier: Arc<dyn RecordingNotifier>) {
        if let Ok(mut n) = self.notifier.write() {
            *n = notifier;
        }
    }

    fn notifier(&self) -> Arc<dyn RecordingNotifier> {
        self.notifier.read().map_or_else(
            |_| Arc::new(NoRecordingNotifier) as Arc<dyn RecordingNotifier>,
            |n| n.clone(),
        )
    }

    /// Loads a recording of a call the actor may manage (its providers and admins).
    pub(super) async fn load_for(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
        action: &str,
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
    /// naming who is missing, is audited.
    pub async fn start(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        req: StartRequest,
    ) -> Result<RecordingRow, RecordingError> {
        let stored = calls.load_for_recordings(actor, call, "recording.start").await?;
        let caller = actor.caller.ok_or(RecordingError::NotRunning)?;
        if let Some(stranger) = req.consented.iter().find(|u| !stored.members.contains(**u)) {
            return Err(RecordingError::NotAParticipant(*stranger));
        }
        let now = crate::now_millis();
        let mut history = repo::consent_history(&self.db.pool, call).await?;
        history.extend(req.consented.iter().map(|u| consent::Statement {
            user: *u,
            consented: true,
            at: now,
        }));
        let (answered, open) = repo::presence(&self.db.pool, call).await?;
        let present = consent::present(stored.call.initiated_by, &answered, &open);
        let running = repo::running_for_call(&self.db.pool, call).await?.is_some();
        if let Err(refused) = consent::may_start(stored.call.status == CallStatus::Active, running, &present, &history)
        {
            let missing: Vec<String> = match &refused {
                StartRefused::ConsentMissing(m) => m.iter().map(ToString::to_string).collect(),
                _ => Vec::new(),
            };
            let detail = json!({ "reason": refused.to_string(), "missingConsent": missing });
            audit::record(
                &self.db,
                actor.fact("recording.start", Some(call), None, Outcome::Denied, detail),
            )
            .await?;
            return Err(refused.into());
        }

        let id = RecordingId::new_random();
        let (specs, tracks) = tracks_for(&stored.members);
        let key_name = store::key_for(call.0, id.0);
        let row = RecordingRow {
            id,
            call_id: call,
            status: Status::Recording,
            started_by: caller.user,
            started_at: now,
            stopped_by: None,
            stopped_at: None,
            transcription: req.transcription,
            storage_key: Some(key_name.clone()),
            size_bytes: None,
            stored_bytes: None,
            duration_ms: None,
            legal_hold: false,
            media_head: None,
            participants: present.clone(),
            consent_method: Some(req.method.clone()),
            node_id: Some(self.node_id.clone()),
        };
        let mut tx = self.db.pool.begin().await?;
        for user in &req.consented {
            let record = ConsentRecord {
                user: *user,
                consented: true,
                method: req.method.clone(),
                recorded_by: caller.user,
                recorded_at: now,
            };
            call_repo::insert_consent(&mut tx, call, &record).await?;
            let detail = json!({ "consented": true, "method": req.method, "subject": user });
            storage::audit::append(
                &self.db,
                &mut tx,
                actor.fact("consent.record", Some(call), Some(id), Outcome::Success, detail),
            )
            .await?;
        }
        if repo::insert(&mut tx, &row).await.is_err() {
            // The unique index on running recordings: another start won the race.
            tx.rollback().await?;
            return Err(StartRefused::AlreadyRecording.into());
        }
        let detail = json!({ "participants": present, "method": req.method, "transcription": req.transcription });
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact("recording.start", Some(call), Some(id), Outcome::Success, detail),
        )
        .await?;
        tx.commit().await?;

        match self.launch(id, call, &key_name, specs, tracks).await {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(recording = %id, error = %e, "the recording could not start");
                let mut tx = self.db.pool.begin().await?;
                let closing = Closing {
                    status: Status::Failed,
                    stopped_by: None,
                    stopped_at: crate::now_millis(),
                    size_bytes: None,
                    stored_bytes: None,
                    duration_ms: None,
                };
                repo::close(&mut tx, id, &closing).await?;
                storage::audit::append(
                    &self.db,
                    &mut tx,
                    Actor::system().fact(
                        "recording.fail",
                        Some(call),
                        Some(id),
                        Outcome::Failed,
                        json!({ "stage": "start" }),
                    ),
                )
                .await?;
                tx.commit().await?;
                return Err(e);
            }
        }
        self.notifier().recording_started(&stored, id, caller.user, now);
        Ok(row)
    }

    /// Opens storage, the encrypted writer and the peer for a new recording.
    async fn launch(
        &self,
        id: RecordingId,
        call: CallId,
        key_name: &str,
        specs: Vec<TrackSpec>,
        tracks: HashMap<UserId, ParticipantTracks>,
    ) -> Result<(), RecordingError> {
        let key = RecordingKey::generate(&self.master, id.0)?;
        let upload = self.store.create(key_name).await?;
        let db = self.db.clone();
        let save_head: HeadSaver = Box::new(move |sealed: Vec<u8>| {
            let db = db.clone();
            Box::pin(async move {
                repo::set_head(&db.pool, id, &encode(&sealed))
                    .await
                    .map_err(RecordingError::from)
            })
        });
        let sink = EncryptedSink::start(id.0, specs, key, upload, save_head);
        let peer = Peer::start(self.rtc.bind, self.rtc.public_ip, sink).await?;
        let handle = peer.handle();
        let active = Active {
            call,
            peer,
            handle,
            tracks,
        };
        if let Ok(mut map) = self.active.lock() {
            map.insert(id, active);
        }
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
        let (stored, row) = self.load_for(calls, actor, call, id, "recording.stop").await?;
        if row.status != Status::Recording {
            return Err(RecordingError::NotRunning);
        }
        self.finish(&stored, row, actor).await
    }

    /// Stops the peer, writes the end of the file and closes the row (status `completed`,
    /// or `failed` if storage broke on the way).
    async fn finish(
        &self,
        stored: &StoredCall,
        row: RecordingRow,
        actor: &Actor,
    ) -> Result<RecordingRow, RecordingError> {
        let id = row.id;
        let active = self.active.lock().ok().and_then(|mut m| m.remove(&id));
        let now = crate::now_millis();
        let (status, written) = match active {
            Some(a) => {
                let result = match a.peer.stop().await {
                    Ok(sink) => sink.finish().await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(w) => (Status::Completed, Some(w)),
                    Err(e) => {
                        tracing::error!(recording = %id, error = %e, "the recording could not be completed");
                        (Status::Failed, None)
                    }
                }
            }
            // Not running in this process (it crashed and recovery has not run yet): what
            // was written is kept as a partial recording by recovery.
            None => (Status::Partial, None),
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
            actor.fact("recording.stop", Some(row.call_id), Some(id), outcome, detail),
        )
        .await?;
        tx.commit().await?;
        if status == Status::Partial {
            self.recover_one(&row).await?;
        }
        self.notifier()
            .recording_stopped(stored, id, actor.caller.map(|c| c.user), now);
        repo::load(&self.db.pool, id).await?.ok_or(RecordingError::NotFound)
    }

    /// Stops the recordings of calls that are no longer active (ended, failed). Run
    /// regularly by the server; a recording never outlives its call.
    pub async fn stop_orphans(&self) -> Result<usize, RecordingError> {
        let running: Vec<(RecordingId, CallId)> = self
            .active
            .lock()
            .map(|m| m.iter().map(|(id, a)| (*id, a.call)).collect())
            .unwrap_or_default();
        let mut stopped = 0;
        for (id, call) in running {
            let Some(stored) = call_repo::load(&self.db.pool, call).await? else {
                continue;
            };
            if stored.call.status == CallStatus::Active {
                continue;
            }
            if let Some(row) = repo::load(&self.db.pool, id)
                .await?
                .filter(|r| r.status == Status::Recording)
            {
                self.finish(&stored, row, &Actor::system()).await?;
                stopped += 1;
            }
        }
        Ok(stopped)
    }

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
        let stored = calls.load_for_participant(actor, call, "recording.connect").await?;
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
                actor.fact("recording.connect", Some(call), Some(id), Outcome::Denied, detail),
            )
            .await?;
            if stored.members.contains(caller.user) {
                self.notifier().consent_requested(&stored, id, caller.user);
            }
            return Err(RecordingError::ConsentRequired);
        }
        let (handle, tracks) = {
            let map = self.active.lock().map_err(|_| RecordingError::NotRunning)?;
            let active = map.get(&id).ok_or(RecordingError::NotRunning)?;
            let tracks = *active
                .tracks
                .get(&caller.user)
                .ok_or(RecordingError::NotAParticipant(caller.user))?;
            (active.handle.clone(), tracks)
        };
        let answer = handle.offer(caller.user, tracks, sdp).await;
        let outcome = if answer.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failed
        };
        audit::record(
            &self.db,
            actor.fact("recording.connect", Some(call), Some(id), outcome, json!({})),
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
        let stored = calls.load_for_participant(actor, call, "consent.record").await?;
        let caller = actor.caller.ok_or(RecordingError::ConsentRequired)?;
        if !stored.members.contains(caller.user) {
            return Err(RecordingError::NotAParticipant(caller.user));
        }
        let running = repo::running_for_call(&self.db.pool, call).await?;
        let now = crate::now_millis();
        let mut tx = self.db.pool.begin().await?;
        let record = ConsentRecord {
            user: caller.user,
            consented,
            method: "in-app".into(),
            recorded_by: caller.user,
            recorded_at: now,
        };
        call_repo::insert_consent(&mut tx, call, &record).await?;
        let detail = json!({ "consented": consented, "method": "in-app", "subject": caller.user });
        let recording = running.as_ref().map(|r| r.id);
        storage::audit::append(
            &self.db,
            &mut tx,
            actor.fact("consent.record", Some(call), recording, Outcome::Success, detail),
        )
        .await?;
        tx.commit().await?;
        if !consented && let Some(r) = running {
            let handle = self
                .active
                .lock()
                .ok()
                .and_then(|m| m.get(&r.id).map(|a| a.handle.clone()));
            if let Some(h) = handle {
                h.drop_participant(caller.user).await;
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
                Actor::system().fact("consent.request", Some(call), Some(row.id), Outcome::Success, detail),
            )
            .await?;
            self.notifier().consent_requested(&stored, row.id, user);
        }
        Ok(())
    }

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
        let (_, row) = self.load_for(calls, actor, call, id, "recording.legal_hold").await?;
        if actor.caller.map(|c| c.role) != Some(Role::Admin) {
            audit::record(
                &self.db,
                actor.fact(
                    "recording.legal_hold",
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
                "recording.legal_hold",
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
        let (_, row) = self.load_for(calls, actor, call, id, "recording.view").await?;
        let consents = call_repo::consents(&self.db.pool, call).await?;
        audit::record(
            &self.db,
            actor.fact("recording.view", Some(call), Some(id), Outcome::Success, json!({})),
        )
        .await?;
        Ok((row, consents))
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
