//! Recording operations across nodes. A recording's peer (its UDP socket, its task and its
//! spool file) lives on the node that started it, named in the row's `node_id`, while a
//! load balancer hands REST requests to any node. What needs the peer itself (finishing the
//! file, answering a participant's offer, dropping a participant whose consent is withdrawn)
//! is sent to that node over Redis and done there; the database work (the row, consent
//! statements, the audit trail) stays with the node that took the request.
//!
//! Each node listens on `{prefix}:recorder:{node}` for [`PeerCommand`]s and on
//! `{prefix}:recorder-reply:{node}` for the [`PeerReply`]s to its own requests. A request to
//! a node nobody listens for (stopped, killed, cut off from Redis) fails at once, and one it
//! does not answer in time fails after [`REPLY_WITHIN`]; either way nothing was changed, and
//! the request answers 503 `recorder-unavailable`. A killed node closes its recordings as
//! `partial` when it starts again on its data directory (`upkeep::recover`).

use super::RecordingError;
use super::service::RecordingService;
use super::sink::Written;
use crate::signaling::multinode::RedisLink;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use vytalcall_domain::{RecordingId, UserId};

/// How long a node has to answer: finishing a file completes its S3 upload.
pub const REPLY_WITHIN: Duration = Duration::from_secs(30);

/// What one node asks of the node running a recording's peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum PeerCommand {
    /// Stop the peer and complete the stored file (the row is closed by the asker).
    Finish { recording: RecordingId },
    /// Connect a participant (already checked by the asker) and return the peer's answer.
    Offer {
        recording: RecordingId,
        user: UserId,
        sdp: String,
    },
    /// Stop recording a participant at once.
    Drop { recording: RecordingId, user: UserId },
}

/// The running node's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PeerReply {
    /// The file is complete (`written`), or storage failed on the way (`None`).
    Finished {
        written: Option<WrittenWire>,
    },
    Answer {
        sdp: String,
    },
    Dropped,
    /// The peer is not running on that node (any more).
    NotRunning,
    /// The participant has no tracks in this recording (they were not in the call when it
    /// started).
    NotAParticipant,
    /// The participant's offer is not acceptable.
    BadOffer {
        message: String,
    },
    /// The peer failed.
    Failed {
        message: String,
    },
}

/// [`Written`] on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WrittenWire {
    pub stored_bytes: u64,
    pub media_bytes: u64,
    pub duration_ms: u64,
}

impl From<Written> for WrittenWire {
    fn from(w: Written) -> Self {
        WrittenWire {
            stored_bytes: w.stored_bytes,
            media_bytes: w.media_bytes,
            duration_ms: w.duration_ms,
        }
    }
}

impl From<WrittenWire> for Written {
    fn from(w: WrittenWire) -> Self {
        Written {
            stored_bytes: w.stored_bytes,
            media_bytes: w.media_bytes,
            duration_ms: w.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: uuid::Uuid,
    from: String,
    command: PeerCommand,
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    id: uuid::Uuid,
    reply: PeerReply,
}

/// This node's side of the exchange: sends commands to other nodes and matches their
/// replies to the requests waiting for them.
pub struct Recorders {
    link: RedisLink,
    node: String,
    waiting: Arc<Mutex<HashMap<uuid::Uuid, oneshot::Sender<PeerReply>>>>,
}

/// The messages a node receives: requests for its peers, replies to its own requests.
pub struct Inbox {
    requests: socketioxide_redis::drivers::MessageStream<socketioxide_redis::drivers::ChanItem>,
    replies: socketioxide_redis::drivers::MessageStream<socketioxide_redis::drivers::ChanItem>,
    waiting: Arc<Mutex<HashMap<uuid::Uuid, oneshot::Sender<PeerReply>>>>,
}

fn request_channel(prefix: &str, node: &str) -> String {
    format!("{prefix}:recorder:{node}")
}

fn reply_channel(prefix: &str, node: &str) -> String {
    format!("{prefix}:recorder-reply:{node}")
}

impl Recorders {
    /// Subscribes this node (`node`, the recordings' node id) to its two channels.
    pub async fn connect(link: &RedisLink, node: &str) -> anyhow::Result<(Recorders, Inbox)> {
        use socketioxide_redis::drivers::Driver;
        let driver = link.driver();
        let requests = driver.subscribe(request_channel(link.prefix(), node), 64).await?;
        let replies = driver.subscribe(reply_channel(link.prefix(), node), 64).await?;
        let waiting = Arc::default();
        let recorders = Recorders {
            link: link.clone(),
            node: node.to_string(),
            waiting: Arc::clone(&waiting),
        };
        Ok((
            recorders,
            Inbox {
                requests,
                replies,
                waiting,
            },
        ))
    }

    /// Sends `command` to `node` and waits for its reply.
    pub async fn ask(&self, node: &str, command: PeerCommand) -> Result<PeerReply, RecordingError> {
        let unavailable = || RecordingError::RecorderUnavailable(node.to_string());
        let id = uuid::Uuid::new_v4();
        let (tx, rx) = oneshot::channel();
        self.waiting_list().insert(id, tx);
        let request = Request {
            id,
            from: self.node.clone(),
            command,
        };
        let body = serde_json::to_vec(&request).map_err(|e| RecordingError::Peer(e.to_string()))?;
        let heard = self
            .link
            .publish(&request_channel(self.link.prefix(), node), body)
            .await;
        let reply = match heard {
            Ok(listeners) if listeners > 0 => tokio::time::timeout(REPLY_WITHIN, rx).await.ok().and_then(Result::ok),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the recording's node over redis");
                None
            }
        };
        self.waiting_list().remove(&id);
        reply.ok_or_else(unavailable)
    }

    fn waiting_list(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, oneshot::Sender<PeerReply>>> {
        lock(&self.waiting)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Runs until shutdown: carries out other nodes' requests for this node's peers (each in a
/// task of its own, so a slow upload never holds up an offer) and hands replies to the
/// requests waiting for them.
pub async fn serve(service: Arc<RecordingService>, link: RedisLink, inbox: Inbox) {
    let Inbox {
        mut requests,
        mut replies,
        waiting,
    } = inbox;
    loop {
        tokio::select! {
            Some((_, body)) = requests.next() => {
                let Ok(request) = serde_json::from_slice::<Request>(&body) else {
                    tracing::warn!("unreadable recorder request from another node");
                    continue;
                };
                let (service, link) = (Arc::clone(&service), link.clone());
                // Detached on purpose: a file being finished is completed even if this job
                // stops meanwhile, never cut in half.
                tokio::spawn(async move {
                    let reply = service.carry_out(request.command).await;
                    let response = Response { id: request.id, reply };
                    let Ok(body) = serde_json::to_vec(&response) else { return };
                    if let Err(e) = link.publish(&reply_channel(link.prefix(), &request.from), body).await {
                        tracing::warn!(error = %e, "could not answer another node's recorder request");
                    }
                });
            }
            Some((_, body)) = replies.next() => {
                let Ok(response) = serde_json::from_slice::<Response>(&body) else {
                    tracing::warn!("unreadable recorder reply from another node");
                    continue;
                };
                if let Some(tx) = lock(&waiting).remove(&response.id) {
                    let _ = tx.send(response.reply);
                }
            }
            else => return,
        }
    }
}

impl RecordingService {
    /// Does what another node asked of one of this node's peers.
    pub(super) async fn carry_out(&self, command: PeerCommand) -> PeerReply {
        match command {
            PeerCommand::Finish { recording } => match self.finish_peer(recording).await {
                None => PeerReply::NotRunning,
                Some(written) => PeerReply::Finished {
                    written: written.map(WrittenWire::from),
                },
            },
            PeerCommand::Offer { recording, user, sdp } => match self.offer_locally(recording, user, sdp).await {
                Ok(sdp) => PeerReply::Answer { sdp },
                Err(RecordingError::NotRunning) => PeerReply::NotRunning,
                Err(RecordingError::NotAParticipant(_)) => PeerReply::NotAParticipant,
                Err(RecordingError::BadOffer(message)) => PeerReply::BadOffer { message },
                Err(e) => PeerReply::Failed { message: e.to_string() },
            },
            PeerCommand::Drop { recording, user } => {
                if self.drop_locally(recording, user).await {
                    PeerReply::Dropped
                } else {
                    PeerReply::NotRunning
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_replies_keep_their_shape_on_the_wire() {
        let recording = RecordingId::new_random();
        let user = UserId::new_random();
        for command in [
            PeerCommand::Finish { recording },
            PeerCommand::Offer {
                recording,
                user,
                sdp: "v=0".into(),
            },
            PeerCommand::Drop { recording, user },
        ] {
            let text = serde_json::to_string(&command).expect("serialize");
            assert_eq!(serde_json::from_str::<PeerCommand>(&text).expect("parse"), command);
        }
        let finished = PeerReply::Finished {
            written: Some(WrittenWire {
                stored_bytes: 10,
                media_bytes: 8,
                duration_ms: 1000,
            }),
        };
        let text = serde_json::to_string(&finished).expect("serialize");
        assert!(text.contains(r#""outcome":"finished""#), "{text}");
        assert_eq!(serde_json::from_str::<PeerReply>(&text).expect("parse"), finished);
    }
}
