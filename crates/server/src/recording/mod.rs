//! Server-side recording of calls: consent-enforced, encrypted at rest, crash-safe, playable.
//! `docs/recording.md` describes the formats and the behaviour; here is where each part lives.
//!
//! - [`crypto`]: the object format (headers) and the chunked STREAM encryption of the media
//!   under each recording's data key; [`chunks`] reads the chunk frames.
//! - [`keyring`]: the master keys (current and retired) and the wrapping of data keys.
//! - [`keys`]: the data keys' rows in the database, and finding an object's key.
//! - [`rewrap`]: moving every data key under the current master key.
//! - [`store`]: the local disk or an S3-compatible store; durable appends, multipart upload.
//! - [`webm`]: the WebM muxer (pure): frames in, clusters out, a head rewritten at the end.
//! - [`demux`]: a small WebM reader, for checks and for test senders.
//! - [`sink`]: the [`sink::MediaSink`] trait between the peer and the muxer → encryption →
//!   storage pipeline.
//! - [`peer`]: the recording peer, a str0m WebRTC endpoint per participant in one task.
//! - [`service`]: start and stop with consent enforcement.
//! - [`launch`]: the tracks, writer and peer of a recording that starts, and what is done to a
//!   running peer.
//! - [`leftovers`]: peers, rows and spool files a crash or a lost reply left behind.
//! - [`admission`]: participants' offers to the peer and their own consent.
//! - [`records`]: legal holds and the metadata view.
//! - [`remote`]: what another node asks of this node's peers over Redis, and asking it.
//! - [`playback`]: the decrypted media with HTTP ranges.
//! - [`upkeep`]: crash recovery at start-up, retention, operator export.
//! - [`repo`]: the recordings' rows.

pub mod admission;
pub mod chunks;
pub mod crypto;
pub mod demux;
pub mod keyring;
pub mod keys;
pub mod launch;
pub mod leftovers;
pub mod peer;
pub mod playback;
pub mod records;
pub mod remote;
pub mod repo;
pub mod rewrap;
pub mod service;
pub mod sink;
pub mod store;
pub mod upkeep;
pub mod webm;

pub use service::{RecordingNotifier, RecordingService};

use crate::calls::CallError;
use vytalcall_domain::UserId;
use vytalcall_domain::consent::StartRefused;

/// Everything that can go wrong with a recording. Converted once into the HTTP problem.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("recording not found")]
    NotFound,
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("{0}")]
    Refused(#[from] StartRefused),
    #[error("{0} is not a participant of this call")]
    NotAParticipant(UserId),
    #[error("the recording is not running")]
    NotRunning,
    #[error("the recording is still running; its media is available once it stops")]
    StillRunning,
    #[error("consent to recording is required before this participant's media can be recorded")]
    ConsentRequired,
    #[error("the requested range is not satisfiable")]
    BadRange { size: u64 },
    #[error("the session description is not acceptable: {0}")]
    BadOffer(String),
    /// Altered or cut-short media, or a key that is gone or under a master key not held.
    #[error("the stored recording cannot be read: {0}")]
    Integrity(#[from] crypto::CryptoError),
    #[error("recording storage failed: {0}")]
    Store(#[from] store::StoreError),
    #[error("the recording peer failed: {0}")]
    Peer(String),
    /// The recording's peer runs on another node, which did not answer.
    #[error("the node running this recording ({0}) is not answering; try again shortly")]
    RecorderUnavailable(String),
    #[error("the recording writer stopped unexpectedly")]
    WriterGone,
    #[error("database failure: {0}")]
    Db(#[from] sqlx::Error),
}
