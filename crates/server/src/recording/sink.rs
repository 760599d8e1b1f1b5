//! Where the recording peer's frames go: a [`MediaSink`]. The real one, [`EncryptedSink`],
//! muxes frames into WebM clusters and hands each closed cluster to a writer task that
//! encrypts it as one chunk and appends it to storage, so a slow disk or object store never
//! stalls the peer's packet loop.

use super::RecordingError;
use super::crypto::RecordingKey;
use super::store::Upload;
use super::webm::{Frame, Muxer, TrackSpec};
use tokio::sync::{mpsc, oneshot};

/// Receives a recording's frames, in arrival order, from the peer loop.
pub trait MediaSink: Send {
    fn frame(&mut self, frame: Frame);
    /// Called regularly with the media clock, so a quiet call still gets its clusters
    /// written out.
    fn tick(&mut self, now_ms: u64);
}

/// The duration credited to the last frame (an Opus packet is 20 ms).
const LAST_FRAME_MS: u64 = 20;

/// How a finished recording ended up in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes of the stored (encrypted) object.
    pub stored_bytes: u64,
    /// Bytes of the playable WebM file (head + body).
    pub media_bytes: u64,
    pub duration_ms: u64,
}

enum Command {
    Chunk {
        bytes: Vec<u8>,
        end_ms: u64,
    },
    Head(Vec<u8>),
    Finish {
        tail: Vec<u8>,
        head: Vec<u8>,
        end_ms: u64,
        done: oneshot::Sender<Result<Written, RecordingError>>,
    },
}

/// Saves a new version of the sealed WebM head (the service stores it with the recording's
/// row). Called from the writer task.
pub type HeadSaver =
    Box<dyn Fn(Vec<u8>) -> futures_util::future::BoxFuture<'static, Result<(), RecordingError>> + Send + Sync>;

/// Muxes, encrypts and stores: the production sink.
pub struct EncryptedSink {
    muxer: Muxer,
    tx: mpsc::UnboundedSender<Command>,
    last_ms: u64,
}

impl EncryptedSink {
    /// Starts the writer task. The head is saved (sealed) before the first chunk is written.
    pub fn start(
        recording: uuid::Uuid,
        tracks: Vec<TrackSpec>,
        key: RecordingKey,
        mut upload: Upload,
        save_head: HeadSaver,
    ) -> EncryptedSink {
        let muxer = Muxer::new(tracks);
        let head_len = muxer.head_len();
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        let first_head = muxer.head();
        tokio::spawn(async move {
            let mut position: u32 = 0;
            let mut failed: Option<RecordingError> = None;
            let mut body_len: u64 = 0;
            let seal_head = |head: &[u8]| key.seal_blob(recording, head).map_err(RecordingError::from);
            match seal_head(&first_head) {
                Ok(sealed) => {
                    if let Err(e) = save_head(sealed).await {
                        failed = Some(e);
                    }
                }
                Err(e) => failed = Some(e),
            }
            if failed.is_none()
                && let Err(e) = upload.append(key.header()).await
            {
                failed = Some(e.into());
            }
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Command::Chunk { bytes, end_ms } => {
                        if failed.is_some() {
                            continue;
                        }
                        let sealed = key.seal_chunk(position, false, end_ms.min(u64::from(u32::MAX)) as u32, &bytes);
                        let result = match sealed {
                            Ok(s) => upload.append(&s).await.map_err(RecordingError::from),
                            Err(e) => Err(e.into()),
                        };
                        match result {
                            Ok(()) => {
                                position += 1;
                                body_len += bytes.len() as u64;
                            }
                            Err(e) => {
                                tracing::error!(%recording, error = %e, "recording write failed; later media is lost");
                                failed = Some(e);
                            }
                        }
                    }
                    Command::Head(head) => {
                        if failed.is_none()
                            && let Ok(sealed) = seal_head(&head)
                            && let Err(e) = save_head(sealed).await
                        {
                            tracing::warn!(%recording, error = %e, "could not save the updated recording head");
                        }
                    }
                    Command::Finish {
                        tail,
                        head,
                        end_ms,
                        done,
                    } => {
                        let result = async {
                            if let Some(e) = failed.take() {
                                return Err(e);
                            }
                            let sealed =
                                key.seal_chunk(position, true, end_ms.min(u64::from(u32::MAX)) as u32, &tail)?;
                            upload.append(&sealed).await?;
                            body_len += tail.len() as u64;
                            save_head(seal_head(&head)?).await?;
                            let stored_bytes = upload.finish().await?;
                            Ok(Written {
                                stored_bytes,
                                media_bytes: head_len + body_len,
                                duration_ms: end_ms,
                            })
                        }
                        .await;
                        let _ = done.send(result);
                        return;
                    }
                }
            }
        });
        EncryptedSink { muxer, tx, last_ms: 0 }
    }

    fn send_closed(&mut self, closed: Option<super::webm::Closed>) {
        if let Some(c) = closed {
            let _ = self.tx.send(Command::Chunk {
                bytes: c.bytes,
                end_ms: c.end_ms,
            });
        }
        if self.muxer.head_dirty {
            self.muxer.head_dirty = false;
            let _ = self.tx.send(Command::Head(self.muxer.head()));
        }
    }

    /// Writes the last cluster, the Cues and the final head; completes the stored object.
    /// The duration is the media's: from the first frame to the end of the last one.
    pub async fn finish(mut self) -> Result<Written, RecordingError> {
        let duration_ms = self.muxer.end_ms() + if self.last_ms > 0 { LAST_FRAME_MS } else { 0 };
        let (tail, head) = self.muxer.finish(Some(duration_ms));
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Finish {
                tail,
                head,
                end_ms: duration_ms,
                done,
            })
            .map_err(|_| RecordingError::WriterGone)?;
        wait.await.map_err(|_| RecordingError::WriterGone)?
    }
}

impl MediaSink for EncryptedSink {
    fn frame(&mut self, frame: Frame) {
        self.last_ms = self.last_ms.max(frame.time_ms);
        let closed = self.muxer.push(frame);
        self.send_closed(closed);
    }

    fn tick(&mut self, now_ms: u64) {
        let closed = self.muxer.flush_due(now_ms);
        self.send_closed(closed);
    }
}
