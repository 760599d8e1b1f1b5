//! Launching a recording: one Matroska track per participant stream, the encrypted writer
//! over a new stored object, and the recording peer feeding it. The service keeps each
//! running recording's peer here, in [`Active`], until it stops.

use super::RecordingError;
use super::crypto::RecordingKey;
use super::peer::{ParticipantTracks, Peer, PeerHandle};
use super::repo::{self, RecordingRow};
use super::service::RecordingService;
use super::sink::{EncryptedSink, HeadSaver};
use super::webm::{Kind, TrackSpec};
use base64::Engine;
use std::collections::HashMap;
use vytalcall_domain::access::{MAX_CALL_MEMBERS, Members};
use vytalcall_domain::{CallId, UserId};

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
