//! One connected socket: who it is, which calls it joined, its rate limit, and the queue
//! its events wait in. Events are checked for size and rate as they arrive (so a flood or
//! an oversized payload is refused at once, without touching anyone else) and then queued
//! in arrival order for the socket's own task.

use super::error::SignalingError;
use super::payload::EventName;
use super::{Hub, SignalingLimits};
use crate::audit::{Action, Actor};
use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, Value as RawValue};
use socketioxide::socket::DisconnectReason;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use vytalcall_domain::CallId;
use vytalcall_domain::access::Caller;
use vytalcall_domain::denials::{DenialLog, Summary, Verdict};
use vytalcall_domain::quality::QualityJudge;
use vytalcall_domain::rate::TokenBucket;

/// A device's media state as the seed names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub video_enabled: bool,
    pub audio_enabled: bool,
    pub screen_share_enabled: bool,
}

/// This socket's part in one call.
pub struct Membership {
    pub participant_id: String,
    pub media: Media,
    pub judge: QualityJudge,
    /// When the socket last sent quality stats, or was asked for them.
    pub last_heard: i64,
}

#[derive(Default)]
pub struct SessionState {
    pub calls: HashMap<CallId, Membership>,
    /// Calls whose waiting room this socket sits in, with the media it asked to join with.
    pub waiting: HashMap<CallId, (bool, bool)>,
}

impl SessionState {
    /// Why this socket may not act in `call`: it waits at the door, or it never joined.
    pub fn not_in(&self, call: CallId) -> SignalingError {
        if self.waiting.contains_key(&call) {
            SignalingError::NotAdmitted
        } else {
            SignalingError::NotJoined
        }
    }
}

/// Answers an event's acknowledgement (the socket's adapter type stays out of the session).
pub type Ack = Box<dyn FnOnce(Value) + Send>;

/// Work for the socket's task, in arrival order.
pub enum Job {
    Event {
        name: EventName,
        data: Value,
        ack: Option<Ack>,
        received: Instant,
    },
    Disconnected,
    /// A host let this socket's user in (possibly on another node): join the call.
    Admitted {
        call: CallId,
        by: vytalcall_domain::UserId,
    },
    /// A host sent this socket's user back to the waiting room.
    SentBack {
        call: CallId,
    },
}

/// The socket's events waiting for its task, in arrival order. A plain deque rather than a
/// tokio channel: a channel allocates a block of 32 slots (about 2.3 KiB here) when it is
/// created, for every socket, although an idle socket queues nothing. The deque allocates
/// on the first event and gives its memory back once it is drained.
struct Queue {
    jobs: VecDeque<Job>,
    /// At most this many events wait (the rate limit's burst): a socket whose events arrive
    /// faster than its task gets through them (a stalled database, say) is refused with
    /// `rate-limited` instead of queueing without end.
    max_events: usize,
    /// The socket's task has ended: later jobs are dropped.
    closed: bool,
}

/// A drained queue larger than this gives its memory back.
const QUEUE_KEEP: usize = 8;

pub struct Session {
    pub caller: Caller,
    pub actor: Actor,
    pub device_id: String,
    /// The connection id: the presence key of this device session.
    pub sid: String,
    /// Unix seconds.
    pub expires_at: i64,
    state: Mutex<SessionState>,
    bucket: Mutex<TokenBucket>,
    queue: Mutex<Queue>,
    /// Wakes the socket's task when a job is queued (a stored permit, so a job queued just
    /// before the task waits is not missed).
    queued: tokio::sync::Notify,
    /// The socket's task has been started (there is exactly one).
    consumer: AtomicBool,
    /// Signalled once when the socket disconnects (a stored permit, so a waiter that comes
    /// later still sees it).
    disconnected: tokio::sync::Notify,
    /// The disconnect has been handled (it may be seen twice: see [`Session::on_disconnected`]).
    disconnect_handled: AtomicBool,
    /// The socket's place under the per-user and per-address caps, given back on disconnect.
    slot: Mutex<Option<super::handshake::ConnectionSlot>>,
    /// This socket's refusals by kind, so a flood of them costs the audit trail a bounded
    /// number of entries (see [`vytalcall_domain::denials`]).
    denials: Mutex<DenialLog<RefusalKind>>,
}

/// What makes two refusals "the same" for the audit trail: the action, the event and the rule
/// (both names from the code, never client text, so counting one allocates nothing).
pub type RefusalKind = (Action, &'static str, &'static str);

/// Refusals of one kind written one by one per window; the rest of the window is counted.
const REFUSALS_WRITTEN_PER_WINDOW: usize = 3;
const REFUSAL_WINDOW_MS: i64 = 60_000;

impl Session {
    pub fn new(
        caller: Caller,
        device_id: String,
        client_addr: Option<String>,
        sid: String,
        expires_at: i64,
        limits: &SignalingLimits,
        slot: Option<super::handshake::ConnectionSlot>,
    ) -> Arc<Session> {
        Arc::new(Session {
            actor: Actor {
                caller: Some(caller),
                device_id: Some(device_id.clone()),
                client_addr,
            },
            caller,
            device_id,
            sid,
            expires_at,
            state: Mutex::new(SessionState::default()),
            bucket: Mutex::new(TokenBucket::new(
                limits.events_per_second,
                limits.event_burst,
                crate::now_millis(),
            )),
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                max_events: (limits.event_burst as usize).max(1),
                closed: false,
            }),
            queued: tokio::sync::Notify::new(),
            consumer: AtomicBool::new(false),
            disconnected: tokio::sync::Notify::new(),
            disconnect_handled: AtomicBool::new(false),
            slot: Mutex::new(slot),
            denials: Mutex::new(DenialLog::new(REFUSAL_WINDOW_MS, REFUSALS_WRITTEN_PER_WINDOW)),
        })
    }

    /// The socket left: uncount it, and let its task and its token-expiry task end. Runs once
    /// however often it is called: from the disconnect handler, and from the connect handler
    /// when the connection closed before that handler was installed (Socket.IO then calls
    /// no handler at all).
    pub fn on_disconnected(&self) {
        if self.disconnect_handled.swap(true, Ordering::AcqRel) {
            return;
        }
        metrics::gauge!("vytalcall_signaling_connected_sockets").decrement(1.0);
        // The place goes back now, not when the last task lets go of the session.
        drop(self.slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        let _ = self.push(Job::Disconnected);
        self.disconnected.notify_one();
    }

    /// Counts a refusal: whether to audit it on its own, and the summary of its kind's last
    /// window if that ended.
    pub fn refused(&self, kind: RefusalKind, now: i64) -> (Verdict, Option<Summary<RefusalKind>>) {
        let mut log = self.denials.lock().unwrap_or_else(|p| p.into_inner());
        log.refused(kind, now)
    }

    /// The refusals counted but not yet summarised (the socket is going).
    pub fn unsummarised_refusals(&self) -> Vec<Summary<RefusalKind>> {
        self.denials.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }

    /// Resolves once the socket has disconnected (one waiter: the token-expiry task).
    pub async fn closed(&self) {
        self.disconnected.notified().await;
    }

    pub fn state(&self) -> MutexGuard<'_, SessionState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        match self.queue.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// True once: whoever gets it runs the socket's task (the only reader of the queue).
    pub fn claim_queue(&self) -> bool {
        !self.consumer.swap(true, Ordering::AcqRel)
    }

    /// Queues a job for the socket's task (dropped once that task has ended). An event is
    /// handed back while the queue holds its maximum; the disconnect always gets in.
    fn push(&self, job: Job) -> Result<(), Job> {
        {
            let mut q = self.queue();
            if q.closed {
                return Ok(());
            }
            if matches!(job, Job::Event { .. }) && q.jobs.len() >= q.max_events {
                return Err(job);
            }
            q.jobs.push_back(job);
        }
        self.queued.notify_one();
        Ok(())
    }

    /// The next job in arrival order, waiting for one; `None` once the queue is closed.
    /// For the socket's task only.
    pub async fn next_job(&self) -> Option<Job> {
        loop {
            {
                let mut q = self.queue();
                if let Some(job) = q.jobs.pop_front() {
                    if q.jobs.is_empty() && q.jobs.capacity() > QUEUE_KEEP {
                        q.jobs = VecDeque::new();
                    }
                    return Some(job);
                }
                if q.closed {
                    return None;
                }
            }
            self.queued.notified().await;
        }
    }

    /// The socket's task has ended: drops what is queued and every later job.
    pub fn close_queue(&self) {
        let dropped = {
            let mut q = self.queue();
            q.closed = true;
            std::mem::take(&mut q.jobs)
        };
        drop(dropped);
    }

    fn allow_event(&self) -> bool {
        match self.bucket.lock() {
            Ok(mut b) => b.try_take(crate::now_millis()),
            Err(_) => false,
        }
    }

    pub fn is_joined(&self, call: CallId) -> bool {
        self.state().calls.contains_key(&call)
    }

    /// Queues work the server gives this socket (an admission, a send-back).
    pub fn give(&self, job: Job) {
        let _ = self.push(job);
    }

    /// Why this socket may not act in `call` (see [`SessionState::not_in`]).
    pub fn not_in(&self, call: CallId) -> SignalingError {
        self.state().not_in(call)
    }

    /// Calls this socket has sent no quality stats for in `silence_ms`; marks them asked.
    pub fn silent_calls(&self, now: i64, silence_ms: i64) -> Vec<CallId> {
        let mut state = self.state();
        let mut due = Vec::new();
        for (call, m) in state.calls.iter_mut() {
            if now - m.last_heard >= silence_ms {
                m.last_heard = now;
                due.push(*call);
            }
        }
        due
    }
}

/// The raw size of an incoming event, measured before it is decoded further.
struct RawSize(usize);

impl<A: socketioxide::adapter::Adapter> FromMessageParts<A> for RawSize {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        v: &mut RawValue,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let size = match v {
            RawValue::Str(s, bins) => s.len() + bins.as_ref().map_or(0, |b| b.iter().map(|x| x.len()).sum()),
            RawValue::Bytes(b) => b.len(),
        };
        Ok(RawSize(size))
    }
}

/// Whether the client passed an acknowledgement callback.
struct AckId(Option<i64>);

impl<A: socketioxide::adapter::Adapter> FromMessageParts<A> for AckId {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut RawValue,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(AckId(*ack))
    }
}

/// Installs the socket's event and disconnect handlers. They run synchronously as each
/// packet arrives, which is what keeps the queue in arrival order.
pub fn register_events<A: socketioxide::adapter::Adapter>(
    s: &SocketRef<A>,
    session: &Arc<Session>,
    limits: &SignalingLimits,
) {
    let limit = limits.max_event_bytes;
    let on_event = {
        let session = session.clone();
        move |s: SocketRef<A>,
              Event(name): Event,
              RawSize(size): RawSize,
              AckId(ack_id): AckId,
              ack: AckSender<A>,
              TryData(data): TryData<Value>| {
            let ack = ack_id.map(|_| -> Ack {
                Box::new(move |v: Value| {
                    let _ = ack.send(&v);
                })
            });
            let received = Instant::now();
            let event = name.clone();
            let checked = check(&session, &name, size, limit, data);
            match checked {
                Ok((name, data)) => {
                    metrics::counter!("vytalcall_signaling_events_total", "event" => name.as_str()).increment(1);
                    let queued = session.push(Job::Event {
                        name,
                        data,
                        ack,
                        received,
                    });
                    if let Err(Job::Event { ack, .. }) = queued {
                        Hub::<A>::reply_error(&s, &event, ack, &SignalingError::RateLimited);
                    }
                }
                Err(e) => Hub::<A>::reply_error(&s, &event, ack, &e),
            }
            std::future::ready(())
        }
    };
    s.on_fallback(on_event);
    let on_disconnect = {
        let session = session.clone();
        move |_: DisconnectReason| {
            session.on_disconnected();
            std::future::ready(())
        }
    };
    s.on_disconnect(on_disconnect);
}

fn check(
    session: &Session,
    name: &str,
    size: usize,
    limit: usize,
    data: Result<Value, socketioxide::ParserError>,
) -> Result<(EventName, Value), SignalingError> {
    if !session.allow_event() {
        return Err(SignalingError::RateLimited);
    }
    let Some(event) = EventName::parse(name) else {
        return Err(SignalingError::UnknownEvent(name.to_string()));
    };
    if size > limit {
        return Err(SignalingError::TooLarge { size, limit });
    }
    let data = data.map_err(|_| SignalingError::invalid("payload", "must be a JSON object"))?;
    Ok((event, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vytalcall_domain::{Role, UserId};

    fn session() -> Arc<Session> {
        let limits = SignalingLimits {
            max_event_bytes: 1 << 16,
            events_per_second: 10,
            event_burst: 10,
            grace_ms: 0,
            quality_sample_ms: 0,
            quality_silence_ms: 0,
            leeway_seconds: 0,
            socket_caps: vytalcall_domain::connections::Caps {
                per_user: 1,
                per_address: 1,
            },
            max_call_participants: 4,
        };
        let caller = Caller {
            user: UserId::new_random(),
            role: Role::Patient,
        };
        Session::new(caller, "device".into(), None, "sid".into(), 0, &limits, None)
    }

    fn event(name: EventName) -> Job {
        Job::Event {
            name,
            data: Value::Null,
            ack: None,
            received: Instant::now(),
        }
    }

    fn name(job: Option<Job>) -> Option<EventName> {
        match job {
            Some(Job::Event { name, .. }) => Some(name),
            _ => None,
        }
    }

    #[tokio::test]
    async fn jobs_come_out_in_arrival_order_and_wake_the_waiting_task() {
        let s = session();
        assert!(s.claim_queue());
        assert!(!s.claim_queue(), "one task per socket");
        assert!(s.push(event(EventName::Offer)).is_ok());
        assert!(s.push(event(EventName::IceCandidate)).is_ok());
        assert_eq!(name(s.next_job().await), Some(EventName::Offer));
        assert_eq!(name(s.next_job().await), Some(EventName::IceCandidate));
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { name(s.next_job().await) }
        });
        tokio::task::yield_now().await;
        assert!(s.push(event(EventName::Answer)).is_ok());
        assert_eq!(waiter.await.ok().flatten(), Some(EventName::Answer));
    }

    #[tokio::test]
    async fn events_beyond_the_burst_wait_nowhere_but_the_disconnect_always_gets_in() {
        let s = session(); // burst 10
        for _ in 0..10 {
            assert!(s.push(event(EventName::IceCandidate)).is_ok());
        }
        assert!(matches!(
            s.push(event(EventName::Offer)),
            Err(Job::Event {
                name: EventName::Offer,
                ..
            })
        ));
        assert!(s.next_job().await.is_some());
        assert!(s.push(event(EventName::Answer)).is_ok(), "room again once one is taken");
        assert!(s.push(Job::Disconnected).is_ok(), "even on a full queue");
        assert_eq!(s.queue().jobs.len(), 11);
    }

    #[tokio::test]
    async fn a_disconnect_seen_twice_is_handled_once() {
        let s = session();
        s.on_disconnected();
        s.on_disconnected();
        assert!(matches!(s.next_job().await, Some(Job::Disconnected)));
        assert!(s.queue().jobs.is_empty());
    }

    #[tokio::test]
    async fn a_drained_queue_gives_its_memory_back_and_a_closed_one_drops_jobs() {
        let s = session();
        assert_eq!(s.queue().jobs.capacity(), 0, "an idle socket's queue allocates nothing");
        for _ in 0..3 {
            for _ in 0..10 {
                assert!(s.push(event(EventName::IceCandidate)).is_ok());
            }
            for _ in 0..10 {
                assert!(s.next_job().await.is_some());
            }
        }
        assert_eq!(s.queue().jobs.capacity(), 0);
        assert!(s.push(event(EventName::Offer)).is_ok());
        s.close_queue();
        assert!(s.push(event(EventName::Answer)).is_ok(), "dropped, not refused");
        assert!(s.next_job().await.is_none());
        assert!(s.queue().jobs.is_empty());
    }
}
