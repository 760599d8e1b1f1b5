//! Launching a recording: one Matroska track per participant stream, the encrypted writer
//! over a new stored object, and the recording peer feeding it. The service keeps each
//! running recording's peer here, in [`Active`], until it stops; what is done to a running
//! peer (finish, offer, drop) is here too, and [`RecordingService::peer_elsewhere`] says when
//! the peer runs on another node instead ([`super::remote`]).

use super::RecordingError;
use super::crypto::RecordingKey;
use super::peer::{ParticipantTracks, Peer, PeerHandle};
use super::remote::Recorders;
use super::repo::{self, RecordingRow};
use super::service::RecordingService;
use super::sink::{EncryptedSink, HeadSaver, Written};
use super::webm::{Kind, TrackSpec};
use base64::Engine;
use std::collections::HashMap;
use vytalcall_domain::access::{MAX_CALL_MEMBERS, Members};
use vytalcall_domain::{CallId, RecordingId, UserId};

/// A recording running in this process.
pub struct Active {
    pub(super) call: CallId,
    pub(super) peer: Peer<EncryptedSink>,
    pub(super) handle: PeerHandle,
    pub(super) tracks: HashMap<UserId, ParticipantTracks>,
}

/// The file's tracks, and which of them carry each member's audio and video.
pub(super) type Tracks = (Vec<TrackSpec>, HashMap<UserId, ParticipantTracks>);

/// One Matroska track per participant stream: audio then video, patient first.
/// Track numbers are bytes here, which a call's members always fit.
pub(super) fn tracks_for(members: &Members) -> Tracks {
    const { assert!(2 * MAX_CALL_MEMBERS <= u8::MAX as usize) };
    let mut specs = Vec::new();
    let mut map = HashMap::new();
    for (i, user) in members.all().enumerate().take(MAX_CALL_MEMBERS) {
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
    /// Opens storage, the encrypted writer and the peer for the recording `row` describes.
    /// `key` is the recording's new data key, already on record in its key row.
    pub(super) async fn launch(
        &self,
        row: &RecordingRow,
        key: RecordingKey,
        (specs, tracks): Tracks,
    ) -> Result<(), RecordingError> {
        let id = row.id;
        let key_name = row.storage_key.as_deref().ok_or(RecordingError::NotFound)?;
        let upload = self.store.create(key_name).await?;
        let db = self.db.clone();
        let save_head: HeadSaver = Box::new(move |sealed: Vec<u8>| {
            let db = db.clone();
            Box::pin(async move {
                let sealed = base64::engine::general_purpose::STANDARD.encode(&sealed);
                repo::set_head(&db.pool, id, &sealed)
                    .await
                    .map_err(RecordingError::from)
            })
        });
        let sink = EncryptedSink::start(id.0, specs, key, upload, save_head);
        let peer = Peer::start(self.rtc.bind, self.rtc.public_ip, sink).await?;
        let handle = peer.handle();
        let active = Active {
            call: row.call_id,
            peer,
            handle,
            tracks,
        };
        if let Ok(mut map) = self.active.lock() {
            map.insert(id, active);
        }
        Ok(())
    }
}

impl RecordingService {
    /// Stops this process's peer of `id` and completes its file: `None` if no peer of that
    /// recording runs here, `Some(None)` if storage failed on the way.
    pub(super) async fn finish_peer(&self, id: RecordingId) -> Option<Option<Written>> {
        let active = self.active.lock().ok().and_then(|mut m| m.remove(&id))?;
        let result = match active.peer.stop().await {
            Ok(sink) => sink.finish().await,
            Err(e) => Err(e),
        };
        Some(match result {
            Ok(written) => Some(written),
            Err(e) => {
                tracing::error!(recording = %id, error = %e, "the recording could not be completed");
                None
            }
        })
    }

    /// Connects `user` to this process's peer of `id` (their consent already checked).
    pub(super) async fn offer_locally(
        &self,
        id: RecordingId,
        user: UserId,
        sdp: String,
    ) -> Result<String, RecordingError> {
        let (handle, tracks) = {
            let map = self.active.lock().map_err(|_| RecordingError::NotRunning)?;
            let active = map.get(&id).ok_or(RecordingError::NotRunning)?;
            let tracks = *active.tracks.get(&user).ok_or(RecordingError::NotAParticipant(user))?;
            (active.handle.clone(), tracks)
        };
        handle.offer(user, tracks, sdp).await
    }

    /// Stops recording `user` on this process's peer of `id`; false if none runs here.
    pub(super) async fn drop_locally(&self, id: RecordingId, user: UserId) -> bool {
        let handle = self
            .active
            .lock()
            .ok()
            .and_then(|m| m.get(&id).map(|a| a.handle.clone()));
        match handle {
            Some(h) => {
                h.drop_participant(user).await;
                true
            }
            None => false,
        }
    }

    pub(super) fn runs_here(&self, id: RecordingId) -> bool {
        self.active.lock().map(|m| m.contains_key(&id)).unwrap_or(false)
    }

    /// The other node running `row`'s peer, and how to reach it; `None` when the peer is
    /// (or was) this process's, or there is no Redis to reach another node through.
    pub(super) fn peer_elsewhere<'a>(&'a self, row: &'a RecordingRow) -> Option<(&'a Recorders, &'a str)> {
        let remote = self.remote.as_ref()?;
        let node = row.node_id.as_deref()?;
        (node != self.node_id && !self.runs_here(row.id)).then_some((remote, node))
    }
}
