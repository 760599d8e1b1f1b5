// `VytalcallClient`, the SDK's public class: one user's connection to vytalcall signaling
// plus the WebRTC side of a call (one `RTCPeerConnection` per remote participant, perfect
// negotiation). It owns the call's lifecycle (connect, join, resume, leave, close) and hands
// everything else to its parts, each in its own file:
//   core.ts      options, events, the emitter, the call state, socket requests
//   rest.ts      the REST API (calls, recordings, ICE servers)
//   signaling.ts what each server event does
//   peers.ts     the participants' connections and perfect negotiation
//   media.ts     local media: mute, camera, screen share, audio-only
//   quality.ts   connection-quality reports
//   recorder.ts  recording consent and our media to the recording peer
import { io as defaultIo, type Socket } from 'socket.io-client';
import type {
  Call,
  CallDetails,
  CallPage,
  CallEndedEvent,
  DeviceCheckPayload,
  DoorResult,
  JoinCallResult,
  Person,
  QualityMetrics,
  RecentPatients,
  RoomParticipantsEvent,
  UserId,
  WaitingPerson,
  WaitingResult,
} from './events.js';
import { isWaitingResult } from './events.js';
import type { CallState } from './state.js';
import type { EncounterSearch, FhirBundle, FhirEncounter, InteractiveTimeReport } from './integrations.js';
import { RestError, SignalingRequestError } from './errors.js';
import { ClientCore, type VytalcallClientEvents, type VytalcallClientOptions } from './core.js';
import { RestApi } from './rest.js';
import { Peers } from './peers.js';
import { LocalMedia } from './media.js';
import { QualityMonitor } from './quality.js';
import { RecorderLink } from './recorder.js';
import { wireSocket, type ClientParts } from './signaling.js';

export { RestError, SignalingRequestError };
export type { VytalcallClientEvents, VytalcallClientOptions };

export class VytalcallClient {
  readonly userId: UserId;
  private readonly core: ClientCore;
  private readonly api: RestApi;
  private readonly peers: Peers;
  private readonly media: LocalMedia;
  private readonly quality: QualityMonitor;
  private readonly recorder: RecorderLink;
  /**
   * Ends of calls we did not know yet: a callee can decline before our `POST /webrtc/calls`
   * returns the call's id, and its `call-ended` then arrives first. Kept (the latest few) so
   * that joining that call reports the end instead of ringing forever.
   */
  private endedCalls = new Map<string, CallEndedEvent>();
  /** Who waits in the waiting room of each call we host (from `waiting-room`; empty rooms left out). */
  private queues = new Map<string, WaitingPerson[]>();
  /** The media a waiting device was seated with: the server joins it with these when admitted. */
  private seatMedia: { videoEnabled: boolean; audioEnabled: boolean } | null = null;

  constructor(options: VytalcallClientOptions) {
    this.core = new ClientCore(options);
    this.userId = this.core.userId;
    this.api = new RestApi(this.core);
    // Every connection that sends our media: one per participant, plus the recording peer.
    const sending = () => {
      const out = this.peers.connections();
      const rec = this.recorder.connection;
      if (rec) out.push(rec);
      return out;
    };
    this.media = new LocalMedia(this.core, sending);
    this.peers = new Peers(this.core, () => this.api.knownIceServers, this.media);
    this.quality = new QualityMonitor(this.core, () => this.peers.connections());
    this.recorder = new RecorderLink(this.core, this.api, this.media);
  }

  private parts(): ClientParts {
    return {
      core: this.core,
      peers: this.peers,
      media: this.media,
      quality: this.quality,
      recorder: this.recorder,
      calls: {
        resume: () => this.resume(),
        teardown: () => this.teardown(),
        rememberEnded: (e) => this.rememberEnded(e),
        sentBack: () => this.sentBack(),
        admittedJoin: (e) => this.admittedJoin(e),
        queueChanged: (callId, waiting) => {
          if (waiting.length) this.queues.set(callId, waiting);
          else this.queues.delete(callId);
        },
      },
    };
  }

  /**
   * Replace the token (before it expires, or after `session-expired`). Used by later REST
   * requests and by the next (re)connection of the socket; it must name the same user.
   */
  setToken(token: string) {
    this.core.setToken(token);
  }

  on<E extends keyof VytalcallClientEvents>(event: E, fn: VytalcallClientEvents[E]): () => void {
    return this.core.on(event, fn);
  }

  get state(): CallState {
    return this.core.state;
  }

  /** The raw Socket.IO socket (after `connect()`), for events this class does not cover. */
  get rawSocket(): Socket | null {
    return this.core.socket;
  }

  get local(): MediaStream | null {
    return this.media.stream;
  }

  /**
   * Who waits in the waiting rooms of the calls we host (providers, admins), by call id, in
   * queue order, as the server last told us (`waiting-room`). Calls where nobody waits are absent.
   */
  get waitingRooms(): ReadonlyMap<string, readonly WaitingPerson[]> {
    return this.queues;
  }

  /** The peer connection with a participant (for `getStats()` and diagnostics). */
  peerConnection(userId: UserId): RTCPeerConnection | undefined {
    return this.peers.get(userId)?.pc;
  }

  // ---- connection ----------------------------------------------------------------------------

  /** Connect to `/webrtc`; resolves on the first connect, rejects with the server's reason. */
  connect(): Promise<void> {
    let socket = this.core.socket;
    if (!socket) {
      const io = this.core.opts.io ?? defaultIo;
      socket = io(`${this.core.apiUrl}/webrtc`, { ...this.core.opts.socketOptions, auth: this.core.authPayload() });
      this.core.socket = socket;
      wireSocket(socket, this.parts());
      this.peers.watchNetwork(true);
    } else if (socket.connected) {
      return Promise.resolve();
    } else if (!socket.active) {
      // Refused before (expired token) or disconnected by the server: try again, with the
      // token given to setToken since.
      socket.auth = this.core.authPayload();
      socket.connect();
    }
    const s = socket;
    return new Promise((resolve, reject) => {
      const ok = () => {
        s.off('connect_error', bad);
        resolve();
      };
      const bad = (err: Error) => {
        s.off('connect', ok);
        if (err.message.startsWith('unauthorized')) s.disconnect();
        reject(err);
      };
      s.once('connect', ok);
      s.once('connect_error', bad);
    });
  }

  // ---- REST (see rest.ts) --------------------------------------------------------------------

  /** `GET /webrtc/ice-servers` (cached for the client's lifetime unless `refresh`). */
  fetchIceServers(refresh = false): Promise<RTCIceServer[]> {
    return this.api.fetchIceServers(refresh);
  }

  /** An authenticated JSON request to the REST API under `/webrtc`. */
  rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return this.api.rest<T>(method, path, body);
  }

  /** `GET /webrtc/calls/:id`: the call with its participants (device records). */
  getCall(callId: string): Promise<CallDetails> {
    return this.api.getCall(callId);
  }

  /** `POST /webrtc/calls`: an immediate call rings the other members. */
  createCall(body: Parameters<RestApi['createCall']>[0]): Promise<Call> {
    return this.api.createCall(body);
  }

  /** `GET /webrtc/calls` (filters as query parameters). */
  listCalls(query: Record<string, string | number> = {}): Promise<CallPage> {
    return this.api.listCalls(query);
  }

  /** `GET /webrtc/patients/recent` (providers and admins): patients to call by name, most recent first. */
  recentPatients(limit = 20): Promise<RecentPatients> {
    return this.api.recentPatients(limit);
  }

  /** `GET /webrtc/people/:id`: someone the server has met, or `null` for an id it has never seen. */
  findPerson(id: string): Promise<Person | null> {
    return this.api.findPerson(id);
  }

  /** `GET /webrtc/reports/interactive-time?month=YYYY-MM`: each patient's minutes with a provider and the CPT codes reached. */
  interactiveTime(month: string): Promise<InteractiveTimeReport> {
    return this.api.interactiveTime(month);
  }

  /** `GET /fhir/Encounter/:id`: the call as a FHIR R4 Encounter. */
  fhirEncounter(callId: string): Promise<FhirEncounter> {
    return this.api.fhirEncounter(callId);
  }

  /** `GET /fhir/Encounter?subject=Patient/…&date=…`: a FHIR searchset Bundle of Encounters. */
  fhirEncounters(search: EncounterSearch): Promise<FhirBundle<FhirEncounter>> {
    return this.api.fhirEncounters(search);
  }

  /** `POST /webrtc/calls/:id/cancel`: by the callee of a ringing call, this declines it. */
  decline(callId: string): Promise<void> {
    return this.api.decline(callId);
  }

  /** `POST /webrtc/calls/:id/end`: ends the call for everyone. */
  endCall(callId = this.core.state.callId ?? ''): Promise<void> {
    return this.api.endCall(callId);
  }

  /** `POST /webrtc/calls/:id/record` (providers): starts recording; every participant must have consented. */
  startRecording(callId: string, body?: Parameters<RestApi['startRecording']>[1]) {
    return this.api.startRecording(callId, body);
  }

  /** `POST /webrtc/calls/:id/recordings/:rid/stop` (providers). */
  stopRecording(callId: string, recordingId: string) {
    return this.api.stopRecording(callId, recordingId);
  }

  /** `POST /webrtc/calls/:id/recording-consent`: our own consent (or refusal) to recording. */
  setRecordingConsent(callId: string, consented: boolean): Promise<void> {
    return this.recorder.setConsent(callId, consented);
  }

  // ---- media (see media.ts) ------------------------------------------------------------------

  /** Use this stream as local media (otherwise `join` asks for camera and microphone). */
  setLocalStream(stream: MediaStream) {
    this.media.setStream(stream);
  }

  /** Mute or unmute the microphone; the others learn it through `update-media`. */
  setMuted(muted: boolean) {
    this.media.setMuted(muted);
  }

  /** Turn the camera off or on (the track keeps its sender; frames go black). */
  setCameraEnabled(enabled: boolean) {
    this.media.setCameraEnabled(enabled);
  }

  /** Share the screen in place of the camera (same sender: no renegotiation). */
  startScreenShare(): Promise<void> {
    return this.media.startScreenShare();
  }

  /** Back to the camera. */
  stopScreenShare(): Promise<void> {
    return this.media.stopScreenShare();
  }

  /** Drop video for the rest of the call (camera released; audio stays). */
  switchToAudioOnly(): Promise<void> {
    return this.media.switchToAudioOnly();
  }

  /** Measure now (all peer connections' `getStats()`) and send `connection-quality`. */
  reportQuality(): Promise<QualityMetrics | null> {
    return this.quality.report();
  }

  // ---- the call's lifecycle ------------------------------------------------------------------

  /**
   * Join a call (also answers a ringing call). `callType: 'audio'` joins without video.
   * In a call with a waiting room a patient is seated instead: the reply is a `WaitingResult`,
   * the state's phase `waiting-room` (no connection is made) until a provider admits us.
   */
  async join(callId: string, o: { callType?: string; videoEnabled?: boolean; audioEnabled?: boolean } = {}): Promise<JoinCallResult | WaitingResult> {
    const current = this.core.state;
    if (current.callId && current.callId !== callId && current.phase !== 'ended' && current.phase !== 'idle' && current.phase !== 'ringing') {
      await this.leave('joined another call');
    }
    const audioOnly = o.callType === 'audio' || (o.callType === undefined && this.core.state.callId === callId && this.core.state.callType === 'audio');
    const videoEnabled = audioOnly ? false : (o.videoEnabled ?? true);
    const audioEnabled = o.audioEnabled ?? true;
    // A call that ended before we knew its id (declined while createCall was under way).
    this.throwIfEnded(callId);
    this.core.dispatch({ type: 'join', callId, callType: o.callType ?? (audioOnly ? 'audio' : undefined), videoEnabled, audioEnabled });
    try {
      await this.api.fetchIceServers();
      this.throwIfEnded(callId);
      await this.media.ensure(!audioOnly, true);
      this.throwIfEnded(callId);
      this.media.applyTrackEnabled(videoEnabled, audioEnabled);
      let reply: JoinCallResult | WaitingResult;
      try {
        reply = await this.core.request<JoinCallResult | WaitingResult>('join-call', { callId, videoEnabled, audioEnabled });
      } catch (err) {
        this.throwIfEnded(callId); // refused because it ended meanwhile: say that
        throw err;
      }
      this.throwIfEnded(callId);
      if (isWaitingResult(reply)) this.afterSeated(reply, { videoEnabled, audioEnabled });
      else this.afterJoin(reply);
      return reply;
    } catch (err) {
      // Ended while joining: the state already holds the server's reason.
      if (err instanceof SignalingRequestError && err.code === 'call-ended') throw err;
      // Not in the call after all: release the camera and microphone we just took.
      this.core.dispatch({ type: 'error', message: (err as Error).message });
      this.teardown();
      this.core.dispatch({ type: 'ended', reason: err instanceof SignalingRequestError ? err.code : 'join failed' });
      throw err;
    }
  }

  /** Seated in the waiting room: no connection, no reports, until a provider admits us. */
  private afterSeated(reply: WaitingResult, media: { videoEnabled: boolean; audioEnabled: boolean }) {
    this.seatMedia = media;
    this.core.dispatch({ type: 'waiting', callId: reply.callId, position: reply.position });
  }

  /** A provider admitted us and the server joined us: what a join reply would have started. */
  private admittedJoin(e: RoomParticipantsEvent) {
    this.afterJoin({ callId: e.callId, participants: e.participants, people: e.people });
    // The server joined us with the media we were seated with: restate any change since.
    const seat = this.seatMedia;
    this.seatMedia = null;
    const { videoEnabled, audioEnabled, screenShareEnabled } = this.core.state.local;
    if (seat && (seat.videoEnabled !== videoEnabled || seat.audioEnabled !== audioEnabled)) {
      this.core.send('update-media', { callId: e.callId, videoEnabled, audioEnabled, screenShareEnabled });
    }
  }

  /**
   * A provider sent us back to the waiting room (the state already says so): our part in the
   * call is over, so its connections close; our camera and microphone stay for when we are
   * admitted again.
   */
  private sentBack() {
    const { videoEnabled, audioEnabled } = this.core.state.local;
    this.seatMedia = { videoEnabled, audioEnabled };
    this.recorder.close();
    this.quality.stop();
    this.peers.closeAll();
  }

  private afterJoin(reply: JoinCallResult) {
    this.core.dispatch({ type: 'joined', callId: reply.callId, participants: reply.participants, people: reply.people, self: this.core.userId });
    this.peers.reconcile(reply.participants);
    this.quality.start();
    const rec = this.core.state.recording;
    if (rec && !this.recorder.connection) void this.recorder.recordIfConsented(rec.recordingId);
  }

  /** Leave the current call and release media. */
  async leave(reason?: string): Promise<void> {
    const callId = this.core.state.callId;
    this.teardown();
    if (callId && this.core.socket?.connected) {
      await this.core.request('leave-call', reason ? { callId, reason } : { callId }).catch(() => undefined);
    }
    this.core.dispatch({ type: 'ended', reason: reason ?? 'left' });
  }

  /** After a drop: `reconnect-call` (or `join-call` when the grace period is over), then ICE restart. */
  private async resume() {
    const { callId, phase } = this.core.state;
    if (!callId || phase !== 'reconnecting') return;
    try {
      let reply: JoinCallResult | WaitingResult;
      try {
        reply = await this.core.request<JoinCallResult | WaitingResult>('reconnect-call', { callId });
      } catch (err) {
        if (!(err instanceof SignalingRequestError) || err.code !== 'not-in-call') throw err;
        this.peers.closeAll();
        reply = await this.core.request<JoinCallResult | WaitingResult>('join-call', {
          callId,
          videoEnabled: this.core.state.local.videoEnabled,
          audioEnabled: this.core.state.local.audioEnabled,
        });
      }
      if (isWaitingResult(reply)) {
        // Back in the waiting room (where we were, or where a call with one puts us).
        this.sentBack();
        this.afterSeated(reply, { ...this.seatMedia! });
        this.core.emit('reconnected', reply);
        return;
      }
      // reconnect-call resumes with video and audio on: restate our media.
      const { videoEnabled, audioEnabled, screenShareEnabled } = this.core.state.local;
      if (!videoEnabled || !audioEnabled || screenShareEnabled) {
        this.core.send('update-media', { callId, videoEnabled, audioEnabled, screenShareEnabled });
      }
      this.peers.restartIce();
      this.afterJoin(reply);
      this.core.emit('reconnected', reply);
    } catch (err) {
      const e = err as Error;
      this.core.dispatch({ type: 'error', message: e.message });
      if (err instanceof SignalingRequestError && (err.code === 'call-not-joinable' || err.code === 'call-not-found')) {
        this.teardown();
        this.core.dispatch({ type: 'ended', reason: err.code });
      }
    }
  }

  // ---- the waiting room (docs/signaling.md, "Waiting room") ---------------------------------

  /** The call a waiting-room action is about: the one given, else ours. */
  private doorCall(callId: string | undefined, action: string): string {
    const id = callId ?? this.core.state.callId;
    if (!id) throw new Error(`${action}: no call (pass its id)`);
    return id;
  }

  /** `admit-participant` (providers of the call, admins): let `userId` in from the waiting room. */
  async admit(userId: UserId, callId?: string): Promise<DoorResult> {
    return this.core.request<DoorResult>('admit-participant', { callId: this.doorCall(callId, 'admit'), userId });
  }

  /** `return-to-waiting-room` (providers of the call, admins): send `userId` back to wait. */
  async sendBack(userId: UserId, callId?: string): Promise<DoorResult> {
    return this.core.request<DoorResult>('return-to-waiting-room', { callId: this.doorCall(callId, 'sendBack'), userId });
  }

  /** `waiting-room-message` (providers of the call, admins): a line (≤ 280 characters) for everyone waiting. */
  async messageWaitingRoom(text: string, callId?: string): Promise<void> {
    await this.core.request('waiting-room-message', { callId: this.doorCall(callId, 'messageWaitingRoom'), text });
  }

  /** `device-check` while we wait: the result of our pre-call check, shown to the providers. */
  async deviceCheck(check: Omit<DeviceCheckPayload, 'callId'>, callId?: string): Promise<void> {
    const { camera, microphone, speaker, network } = check;
    await this.core.request('device-check', { callId: this.doorCall(callId, 'deviceCheck'), camera, microphone, speaker, network });
  }

  /** Keep the end of a call (the latest few), for `throwIfEnded`. */
  private rememberEnded(e: CallEndedEvent) {
    this.endedCalls.delete(e.callId);
    this.endedCalls.set(e.callId, e);
    while (this.endedCalls.size > 32) this.endedCalls.delete(this.endedCalls.keys().next().value!);
  }

  /**
   * While joining `callId`: if the call ended meanwhile (or before we knew its id), make the
   * state say so with the server's reason, emit the `call-ended` we held back, and throw
   * `SignalingRequestError` code `call-ended`.
   */
  private throwIfEnded(callId: string) {
    const e = this.endedCalls.get(callId);
    if (!e) return;
    this.teardown();
    if (this.core.state.callId !== callId || this.core.state.phase !== 'ended') {
      this.core.dispatch({ type: 'ended', reason: e.reason, callId });
      this.core.emit('call-ended', e);
    }
    throw new SignalingRequestError('join-call', 'call-ended', `the call has ended (${e.reason})`);
  }

  /** Release the call's connections (recorder, participants) and our media. */
  private teardown() {
    this.recorder.close();
    this.quality.stop();
    this.peers.closeAll();
    this.media.release();
    this.seatMedia = null;
  }

  /** Leave any call, release media and close the socket. */
  async close(): Promise<void> {
    if (this.core.state.callId && this.core.state.phase !== 'ended' && this.core.state.phase !== 'ringing') await this.leave();
    this.teardown();
    this.core.socket?.disconnect();
    this.core.socket = null;
    this.peers.watchNetwork(false);
    this.core.clearListeners();
  }
}
