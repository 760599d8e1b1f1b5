// The signaling socket's events: what each server event does to the call state, the peer
// connections, our media and the recording link, and which client event it becomes.
import type { Socket } from 'socket.io-client';
import type {
  AdmittedEvent,
  CallAnsweredEvent,
  CallEndedEvent,
  ErrorEvent,
  IncomingCallEvent,
  ParticipantDisconnectedEvent,
  ParticipantJoinedEvent,
  ParticipantLeftEvent,
  ParticipantMediaUpdatedEvent,
  QualityWarningEvent,
  RecordingConsentRequestedEvent,
  RecordingStartedEvent,
  RecordingStoppedEvent,
  RoomParticipantsEvent,
  WaitingPerson,
  WaitingRoomEvent,
  WaitingRoomMessageEvent,
  WaitingRoomStatusEvent,
} from './events.js';
import type { ClientCore } from './core.js';
import type { Peers } from './peers.js';
import type { LocalMedia } from './media.js';
import type { QualityMonitor } from './quality.js';
import type { RecorderLink } from './recorder.js';

/** The call's lifecycle, which the client owns (see `VytalcallClient`). */
export interface CallLifecycle {
  /** After a drop: rejoin the call we were in. */
  resume(): Promise<void>;
  /** Release the call's connections and media. */
  teardown(): void;
  /** Note the end of a call (perhaps one whose id we do not know yet). */
  rememberEnded(e: CallEndedEvent): void;
  /** A provider sent us back to the waiting room: close the call's connections (media stays). */
  sentBack(): void;
  /** Admitted, the server joined us: start as after a join reply. */
  admittedJoin(e: RoomParticipantsEvent): void;
  /** A call's waiting-room queue as the server last sent it (providers). */
  queueChanged(callId: string, waiting: WaitingPerson[]): void;
}

/** Phases in which we are in a call's room (so a waiting-room status means we were sent back). */
const INSIDE = new Set(['waiting', 'connected', 'reconnecting']);

export interface ClientParts {
  core: ClientCore;
  peers: Peers;
  media: LocalMedia;
  quality: QualityMonitor;
  recorder: RecorderLink;
  calls: CallLifecycle;
}

/** Subscribe the client's parts to `socket`'s events (once, when the socket is made). */
export function wireSocket(socket: Socket, { core, peers, media, quality, recorder, calls }: ClientParts) {
  /** The socket dropped (not by us): on the next connect, the call resumes. */
  let wasDisconnected = false;
  socket.on('connect', () => {
    core.emit('connection', { connected: true });
    if (wasDisconnected) {
      wasDisconnected = false;
      void calls.resume();
    }
  });
  socket.on('disconnect', (reason: string) => {
    core.emit('connection', { connected: false, reason });
    if (reason === 'io client disconnect') return;
    wasDisconnected = true;
    core.dispatch({ type: 'connection-lost' });
  });
  socket.on('incoming-call', (e: IncomingCallEvent) => {
    core.dispatch({ type: 'incoming', callId: e.callId, callType: e.callType, from: e.from, fromName: e.fromName ?? null });
    core.emit('incoming-call', e);
  });
  socket.on('call-answered', (e: CallAnsweredEvent) => {
    // Another device of ours answered: stop ringing here.
    if (core.state.phase === 'ringing' && core.state.callId === e.callId && e.answeredBy === core.userId) {
      core.dispatch({ type: 'ended', reason: 'answered on another device' });
    }
    core.emit('call-answered', e);
  });
  const ended = (e: CallEndedEvent) => {
    calls.rememberEnded(e);
    if (e.callId !== core.state.callId) return;
    calls.teardown();
    core.dispatch({ type: 'ended', reason: e.reason });
    core.emit('call-ended', e);
  };
  socket.on('call-ended', ended);
  socket.on('call-cancelled', ended);
  socket.on('participant-joined', (e: ParticipantJoinedEvent) => {
    if (e.callId !== core.state.callId || e.userId === core.userId) return;
    if (core.state.phase === 'waiting-room') return; // not in the call (yet)
    core.dispatch({ type: 'participant-joined', userId: e.userId, name: e.name ?? null, role: e.role, videoEnabled: e.videoEnabled, audioEnabled: e.audioEnabled });
    const peer = peers.get(e.userId);
    if (peer && e.reconnected && peer.pc.connectionState !== 'closed') {
      // They resumed within the grace period. The resuming side drives: after a network drop
      // its connection restarts ICE, after a page reload its new connection offers (a new
      // DTLS fingerprint, see onDescription). Offering from here too would race an offer of
      // the old connection against the new page's and could pair it with the wrong one.
    } else {
      if (peer) peers.close(e.userId);
      peers.awaitOffer(e.userId);
    }
    core.emit('participant-joined', e);
  });
  socket.on('participant-left', (e: ParticipantLeftEvent) => {
    if (e.callId !== core.state.callId) return;
    peers.close(e.userId);
    core.dispatch({ type: 'participant-left', userId: e.userId });
    core.emit('participant-left', e);
  });
  socket.on('participant-disconnected', (e: ParticipantDisconnectedEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({ type: 'participant-disconnected', userId: e.userId });
    core.emit('participant-disconnected', e);
  });
  socket.on('participant-media-updated', (e: ParticipantMediaUpdatedEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({
      type: 'participant-media',
      userId: e.userId,
      videoEnabled: e.videoEnabled,
      audioEnabled: e.audioEnabled,
      screenShareEnabled: e.screenShareEnabled,
    });
    core.emit('participant-media', e);
  });
  socket.on('offer', (e) => void peers.onDescription(e.callId, e.fromUserId, e.offer));
  socket.on('answer', (e) => void peers.onDescription(e.callId, e.fromUserId, e.answer));
  socket.on('ice-candidate', (e) => void peers.onCandidate(e.callId, e.fromUserId, e.candidate));
  socket.on('quality-warning', (e: QualityWarningEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({ type: 'quality', metrics: e.metrics, warning: e.warning, suggestion: e.suggestion });
    if (e.suggestion === 'switch-to-audio-only' && !core.state.audioOnly) {
      if (core.opts.autoAudioOnly) void media.switchToAudioOnly();
      else core.emit('audio-only-suggested', e);
    }
  });
  socket.on('request-quality-stats', (e) => {
    if (e.callId === core.state.callId) void quality.report();
  });
  socket.on('recording-started', (e: RecordingStartedEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({ type: 'recording-started', recordingId: e.recordingId });
    core.emit('recording-started', e);
    void recorder.recordIfConsented(e.recordingId);
  });
  socket.on('recording-stopped', (e: RecordingStoppedEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({ type: 'recording-stopped' });
    recorder.close();
    core.emit('recording-stopped', e);
  });
  socket.on('recording-consent-requested', (e: RecordingConsentRequestedEvent) => {
    if (e.callId !== core.state.callId) return;
    core.dispatch({ type: 'consent-requested', recordingId: e.recordingId });
    core.emit('recording-consent-requested', e);
  });
  // ---- the waiting room ----
  socket.on('waiting-room-status', (e: WaitingRoomStatusEvent) => {
    if (e.callId !== core.state.callId) return;
    // A status while in the call: a provider sent us back; our part in the call is over.
    if (INSIDE.has(core.state.phase)) calls.sentBack();
    core.dispatch({ type: 'waiting-room-status', callId: e.callId, position: e.position, providerPresent: e.providerPresent, message: e.message ?? null });
    core.emit('waiting-room-status', e);
  });
  socket.on('message', (e: WaitingRoomMessageEvent) => {
    core.dispatch({ type: 'waiting-room-message', message: e });
    core.emit('message', e);
  });
  socket.on('admitted', (e: AdmittedEvent) => {
    if (e.callId !== core.state.callId || core.state.phase !== 'waiting-room') return;
    core.dispatch({ type: 'admitted', callId: e.callId });
    core.emit('admitted', e);
  });
  socket.on('room-participants', (e: RoomParticipantsEvent) => {
    // After `admitted` the server joins us and sends the roster: what a join reply gives. (After
    // our own join-call the reply carries the same roster, and is what we act on.)
    const s = core.state;
    if (e.callId !== s.callId || s.phase !== 'joining' || !s.waitingRoom?.admitted) return;
    calls.admittedJoin(e);
  });
  socket.on('waiting-room', (e: WaitingRoomEvent) => {
    calls.queueChanged(e.callId, e.waiting);
    core.emit('waiting-room', e);
  });
  socket.on('error', (e: ErrorEvent) => core.emit('signaling-error', e));
  socket.on('session-expired', () => core.emit('session-expired'));
}
