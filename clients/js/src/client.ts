/**
 * `VytalcallClient`: one user's connection to vytalcall signaling plus the WebRTC side of a
 * call (one `RTCPeerConnection` per remote participant, perfect negotiation).
 */
import { io as defaultIo, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import type {
  Call,
  CallDetails,
  CallPage,
  CallAnsweredEvent,
  CallEndedEvent,
  ParticipantDisconnectedEvent,
  ParticipantJoinedEvent,
  ParticipantLeftEvent,
  ParticipantMediaUpdatedEvent,
  RecordingConsentRequestedEvent,
  RecordingStartedEvent,
  RecordingStoppedEvent,
  ErrorEvent,
  IceCandidatePayload,
  IceServersResponse,
  IncomingCallEvent,
  JoinCallResult,
  ConnectionQualityResult,
  QualityMetrics,
  QualityWarningEvent,
  Reply,
  UserId,
} from './events.js';
import { isErrorReply } from './events.js';
import { callReducer, initialCallState, type CallAction, type CallState } from './state.js';
import { parseStats, type StatLike, type StatsSnapshot } from './stats.js';
import { isPolite, normalizeApiUrl, safeErrorText, sdpFingerprint, tokenSubject } from './util.js';
import { RestError, SignalingRequestError } from './errors.js';
import { offerToRecorder, recorderConnection } from './recorder.js';
import type { Peer } from './peer.js';

export { RestError, SignalingRequestError };

export interface VytalcallClientOptions {
  /**
   * Base URL of the server, e.g. `https://calls.example.org` (REST under `/webrtc`).
   * Default: the page's own origin (`location.origin`), as when the SDK is served by vytalcall.
   */
  apiUrl?: string;
  /** A JWT accepted by the server (`sub`, `role`, `exp`). */
  token: string;
  /** Names this device in participant records and the audit trail. */
  deviceId?: string;
  /** Switch to audio-only by itself when the server suggests it (default: only emit `audio-only-suggested`). */
  autoAudioOnly?: boolean;
  /** Interval of `connection-quality` reports, ms (default 10 000). */
  qualityIntervalMs?: number;
  /** Time to wait for an acknowledgement, ms (default 10 000). */
  ackTimeoutMs?: number;
  /**
   * While the server records the call, send our media to its recording peer once our consent is
   * on record (default true). Without it the recording holds nobody's media from this device.
   */
  sendToRecorder?: boolean;
  /**
   * How long a participant already in the call waits for a newcomer's offer before offering
   * itself, ms (default 1 500; 0: offer at once, and let perfect negotiation settle the
   * crossing offers). Our newcomers always offer at once.
   */
  offerWaitMs?: number;
  /** Restart ICE when a connection is not up this long after negotiation completed, ms (default 6 000). */
  connectTimeoutMs?: number;
  /** Restart ICE when a connection stays `disconnected` this long, ms (default 4 000). */
  iceDisconnectedRestartMs?: number;
  /** Extra options for `io()`. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /** Injection points (tests, non-browser runtimes). */
  io?: typeof defaultIo;
  RTCPeerConnection?: typeof RTCPeerConnection;
  fetch?: typeof fetch;
  getUserMedia?: (c: MediaStreamConstraints) => Promise<MediaStream>;
  getDisplayMedia?: (c: DisplayMediaStreamOptions) => Promise<MediaStream>;
}

/** Events of the client (not the wire events: see `events.ts` for those). */
export interface VytalcallClientEvents {
  state: (state: CallState) => void;
  'incoming-call': (e: IncomingCallEvent) => void;
  'local-stream': (stream: MediaStream) => void;
  'remote-stream': (e: { userId: UserId; stream: MediaStream }) => void;
  'remote-stream-removed': (e: { userId: UserId }) => void;
  'audio-only-suggested': (e: QualityWarningEvent) => void;
  quality: (e: { metrics: QualityMetrics; result: ConnectionQualityResult | null }) => void;
  'call-ended': (e: CallEndedEvent) => void;
  'signaling-error': (e: ErrorEvent) => void;
  'session-expired': () => void;
  connection: (e: { connected: boolean; reason?: string }) => void;
  /** Our own participation resumed after a drop (`reconnect-call`, or `join-call` after the grace period). */
  reconnected: (e: JoinCallResult) => void;
  /** Another participant arrived (`reconnected: true` when they resumed within the grace period). */
  'participant-joined': (e: ParticipantJoinedEvent) => void;
  /** Another participant's connection dropped; they may come back within the grace period. */
  'participant-disconnected': (e: ParticipantDisconnectedEvent) => void;
  /** Another participant left (or did not come back within the grace period: reason `disconnected`). */
  'participant-left': (e: ParticipantLeftEvent) => void;
  /** Another participant changed microphone, camera or screen share. */
  'participant-media': (e: ParticipantMediaUpdatedEvent) => void;
  'call-answered': (e: CallAnsweredEvent) => void;
  'recording-started': (e: RecordingStartedEvent) => void;
  'recording-stopped': (e: RecordingStoppedEvent) => void;
  /** The server asks for our consent to the running recording: answer with `setRecordingConsent`. */
  'recording-consent-requested': (e: RecordingConsentRequestedEvent) => void;
  /** Our media reaches the recording peer (`connected: true`) or no longer does. */
  'recorder-connection': (e: { recordingId: string; connected: boolean; error?: string }) => void;
}

type Listener = (...args: any[]) => void;

export class VytalcallClient {
  readonly userId: UserId;
  private readonly opts: VytalcallClientOptions;
  private readonly apiUrl: string;
  private token: string;
  private recorder: { recordingId: string; pc: RTCPeerConnection } | null = null;
  private iceTimers = new Map<UserId, ReturnType<typeof setTimeout>>();
  private socket: Socket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  private peers = new Map<UserId, Peer>();
  private iceServers: RTCIceServer[] | null = null;
  private localStream: MediaStream | null = null;
  private cameraTrack: MediaStreamTrack | null = null;
  private screenTrack: MediaStreamTrack | null = null;
  private qualityTimer: ReturnType<typeof setInterval> | null = null;
  private statsSnapshot: StatsSnapshot | undefined;
  private wasDisconnected = false;
  private _state: CallState = initialCallState;
  /**
   * Ends of calls we did not know yet: a callee can decline before our `POST /webrtc/calls`
   * returns the call's id, and its `call-ended` then arrives first. Kept (the latest few) so
   * that joining that call reports the end instead of ringing forever.
   */
  private endedCalls = new Map<string, CallEndedEvent>();

  constructor(options: VytalcallClientOptions) {
    this.opts = options;
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
    const apiUrl = options.apiUrl ?? origin;
    if (!apiUrl) throw new Error('VytalcallClient: apiUrl is required outside a browser page');
    this.apiUrl = normalizeApiUrl(apiUrl);
    this.userId = tokenSubject(options.token);
    this.token = options.token;
  }

  /**
   * Replace the token (before it expires, or after `session-expired`). Used by later REST
   * requests and by the next (re)connection of the socket; it must name the same user.
   */
  setToken(token: string) {
    if (tokenSubject(token) !== this.userId) throw new Error('setToken: the token is for another user');
    this.token = token;
    if (this.socket) this.socket.auth = this.authPayload();
  }

  private authPayload(): Record<string, string> {
    const auth: Record<string, string> = { token: this.token };
    if (this.opts.deviceId) auth.deviceId = this.opts.deviceId;
    return auth;
  }

  // ---- small typed emitter -------------------------------------------------------------------

  on<E extends keyof VytalcallClientEvents>(event: E, fn: VytalcallClientEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener);
    return () => set!.delete(fn as Listener);
  }

  private emit<E extends keyof VytalcallClientEvents>(event: E, ...args: Parameters<VytalcallClientEvents[E]>) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`vytalcall: listener of ${event} threw:`, err);
      }
    }
  }

  get state(): CallState {
    return this._state;
  }

  private dispatch(action: CallAction) {
    const next = callReducer(this._state, action);
    if (next !== this._state) {
      this._state = next;
      this.emit('state', next);
    }
  }

  /** The raw Socket.IO socket (after `connect()`), for events this class does not cover. */
  get rawSocket(): Socket | null {
    return this.socket;
  }

  get local(): MediaStream | null {
    return this.localStream;
  }

  /** The peer connection with a participant (for `getStats()` and diagnostics). */
  peerConnection(userId: UserId): RTCPeerConnection | undefined {
    return this.peers.get(userId)?.pc;
  }

  // ---- connection ----------------------------------------------------------------------------

  /** Connect to `/webrtc`; resolves on the first connect, rejects with the server's reason. */
  connect(): Promise<void> {
    let socket = this.socket;
    if (!socket) {
      const io = this.opts.io ?? defaultIo;
      socket = io(`${this.apiUrl}/webrtc`, { ...this.opts.socketOptions, auth: this.authPayload() });
      this.socket = socket;
      this.wireSocket(socket);
      this.watchNetwork(true);
    } else if (socket.connected) {
      return Promise.resolve();
    } else if (!socket.active) {
      // Refused before (expired token) or disconnected by the server: try again, with the
      // token given to setToken since.
      socket.auth = this.authPayload();
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

  /** The device came back online (new network): look for a new path at once. */
  private readonly onOnline = () => {
    for (const peer of this.peers.values()) if (peer.pc.connectionState !== 'connected') peer.pc.restartIce();
  };

  private watchNetwork(on: boolean) {
    const w = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
    if (typeof w.addEventListener !== 'function' || typeof w.removeEventListener !== 'function') return;
    if (on) w.addEventListener('online', this.onOnline);
    else w.removeEventListener('online', this.onOnline);
  }

  /** `GET /webrtc/ice-servers` (cached for the client's lifetime unless `refresh`). */
  async fetchIceServers(refresh = false): Promise<RTCIceServer[]> {
    if (this.iceServers && !refresh) return this.iceServers;
    const f = this.opts.fetch ?? fetch;
    const res = await f(`${this.apiUrl}/webrtc/ice-servers`, {
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`ice-servers: HTTP ${res.status}`);
    const body = (await res.json()) as IceServersResponse;
    this.iceServers = body.iceServers.map((s) => ({ ...s }));
    return this.iceServers;
  }

  /** An authenticated JSON request to the REST API under `/webrtc`. */
  async rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const f = this.opts.fetch ?? fetch;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await f(`${this.apiUrl}/webrtc${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null; // not JSON (a proxy's error page): reported by status below
    }
    if (!res.ok) throw new RestError(method, `/webrtc${path}`, res.status, data);
    if (data === null && text) throw new RestError(method, `/webrtc${path}`, res.status, null, 'response is not JSON');
    return data as T;
  }

  /** `GET /webrtc/calls/:id`: the call with its participants (device records). */
  getCall(callId: string) {
    return this.rest<CallDetails>('GET', `/calls/${encodeURIComponent(callId)}`);
  }

  /** `POST /webrtc/calls/:id/recording-consent`: our own consent (or refusal) to recording. */
  async setRecordingConsent(callId: string, consented: boolean): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/recording-consent`, { consented });
    if (this._state.callId === callId) this.dispatch({ type: 'consent-given', consented });
    const rec = this._state.recording;
    if (consented && rec && this._state.callId === callId && this.isInCall()) void this.connectRecorder(rec.recordingId);
    if (!consented) this.closeRecorder();
  }

  /**
   * `POST /webrtc/calls/:id/record` with ourselves among `consentedParticipants` is our own
   * yes, so our media may then go to the recorder.
   */
  private noteOwnAttestation(callId: string, body: { consentedParticipants?: string[] }) {
    if (this._state.callId === callId && body.consentedParticipants?.includes(this.userId)) {
      this.dispatch({ type: 'consent-given', consented: true });
    }
  }

  /** `POST /webrtc/calls/:id/record` (providers): starts recording; every participant must have consented. */
  async startRecording(callId: string, body: { consentObtained: true; consentedParticipants?: string[]; consentMethod?: string } = { consentObtained: true }) {
    const started = await this.rest<{ id: string; status: string } & Record<string, unknown>>('POST', `/calls/${encodeURIComponent(callId)}/record`, body);
    this.noteOwnAttestation(callId, body);
    return started;
  }

  /** `POST /webrtc/calls/:id/recordings/:rid/stop` (providers). */
  stopRecording(callId: string, recordingId: string) {
    return this.rest<Record<string, unknown>>(
      'POST',
      `/calls/${encodeURIComponent(callId)}/recordings/${encodeURIComponent(recordingId)}/stop`,
      {},
    );
  }

  /** `POST /webrtc/calls`: an immediate call rings the other members. */
  createCall(body: { patientId?: string; providerId?: string; type?: 'video' | 'audio'; scheduledAt?: string; additionalProviderIds?: string[] }) {
    return this.rest<Call>('POST', '/calls', body);
  }

  /** `GET /webrtc/calls` (filters as query parameters). */
  listCalls(query: Record<string, string | number> = {}) {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    return this.rest<CallPage>('GET', `/calls${qs ? `?${qs}` : ''}`);
  }

  /** `POST /webrtc/calls/:id/cancel`: by the callee of a ringing call, this declines it. */
  async decline(callId: string): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/cancel`, {});
    if (this._state.callId === callId) this.dispatch({ type: 'ended', reason: 'declined' });
  }

  /** `POST /webrtc/calls/:id/end`: ends the call for everyone. */
  async endCall(callId = this._state.callId ?? ''): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/end`, {});
  }

  private request<T>(event: string, payload: unknown): Promise<T> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error(`${event}: not connected`));
    return new Promise((resolve, reject) => {
      socket.timeout(this.opts.ackTimeoutMs ?? 10_000).emit(event, payload, (err: Error | null, reply: Reply<T>) => {
        if (err) return reject(new Error(`${event}: no reply (${err.message})`));
        if (isErrorReply(reply)) return reject(new SignalingRequestError(event, reply.error.code, reply.error.message));
        resolve(reply as T);
      });
    });
  }

  private send(event: string, payload: unknown) {
    // Fire-and-forget with an ack so that a refusal is reported, never thrown.
    this.request(event, payload).catch((err: unknown) => {
      const e = err as { code?: string; message?: string };
      this.emit('signaling-error', { event, error: { code: e.code ?? 'internal', message: e.message ?? String(err) } });
    });
  }

  private wireSocket(socket: Socket) {
    socket.on('connect', () => {
      this.emit('connection', { connected: true });
      if (this.wasDisconnected) {
        this.wasDisconnected = false;
        void this.resume();
      }
    });
    socket.on('disconnect', (reason: string) => {
      this.emit('connection', { connected: false, reason });
      if (reason === 'io client disconnect') return;
      this.wasDisconnected = true;
      this.dispatch({ type: 'connection-lost' });
    });
    socket.on('incoming-call', (e: IncomingCallEvent) => {
      this.dispatch({ type: 'incoming', callId: e.callId, callType: e.callType, from: e.from });
      this.emit('incoming-call', e);
    });
    socket.on('call-answered', (e: CallAnsweredEvent) => {
      // Another device of ours answered: stop ringing here.
      if (this._state.phase === 'ringing' && this._state.callId === e.callId && e.answeredBy === this.userId) {
        this.dispatch({ type: 'ended', reason: 'answered on another device' });
      }
      this.emit('call-answered', e);
    });
    const ended = (e: CallEndedEvent) => {
      this.rememberEnded(e);
      if (e.callId !== this._state.callId) return;
      this.teardown();
      this.dispatch({ type: 'ended', reason: e.reason });
      this.emit('call-ended', e);
    };
    socket.on('call-ended', ended);
    socket.on('call-cancelled', ended);
    socket.on('participant-joined', (e: ParticipantJoinedEvent) => {
      if (e.callId !== this._state.callId || e.userId === this.userId) return;
      this.dispatch({ type: 'participant-joined', userId: e.userId, videoEnabled: e.videoEnabled, audioEnabled: e.audioEnabled });
      const peer = this.peers.get(e.userId);
      if (peer && e.reconnected && peer.pc.connectionState !== 'closed') {
        // They resumed within the grace period. The resuming side drives: after a network drop
        // its connection restarts ICE, after a page reload its new connection offers (a new
        // DTLS fingerprint, see onDescription). Offering from here too would race an offer of
        // the old connection against the new page's and could pair it with the wrong one.
      } else {
        if (peer) this.closePeer(e.userId);
        this.awaitOffer(e.userId);
      }
      this.emit('participant-joined', e);
    });
    socket.on('participant-left', (e: ParticipantLeftEvent) => {
      if (e.callId !== this._state.callId) return;
      this.closePeer(e.userId);
      this.dispatch({ type: 'participant-left', userId: e.userId });
      this.emit('participant-left', e);
    });
    socket.on('participant-disconnected', (e: ParticipantDisconnectedEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({ type: 'participant-disconnected', userId: e.userId });
      this.emit('participant-disconnected', e);
    });
    socket.on('participant-media-updated', (e: ParticipantMediaUpdatedEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({
        type: 'participant-media',
        userId: e.userId,
        videoEnabled: e.videoEnabled,
        audioEnabled: e.audioEnabled,
        screenShareEnabled: e.screenShareEnabled,
      });
      this.emit('participant-media', e);
    });
    socket.on('offer', (e) => void this.onDescription(e.callId, e.fromUserId, e.offer));
    socket.on('answer', (e) => void this.onDescription(e.callId, e.fromUserId, e.answer));
    socket.on('ice-candidate', (e) => void this.onCandidate(e.callId, e.fromUserId, e.candidate));
    socket.on('quality-warning', (e: QualityWarningEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({ type: 'quality', metrics: e.metrics, warning: e.warning, suggestion: e.suggestion });
      if (e.suggestion === 'switch-to-audio-only' && !this._state.audioOnly) {
        if (this.opts.autoAudioOnly) void this.switchToAudioOnly();
        else this.emit('audio-only-suggested', e);
      }
    });
    socket.on('request-quality-stats', (e) => {
      if (e.callId === this._state.callId) void this.reportQuality();
    });
    socket.on('recording-started', (e: RecordingStartedEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({ type: 'recording-started', recordingId: e.recordingId });
      this.emit('recording-started', e);
      void this.recordIfConsented(e.recordingId);
    });
    socket.on('recording-stopped', (e: RecordingStoppedEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({ type: 'recording-stopped' });
      this.closeRecorder();
      this.emit('recording-stopped', e);
    });
    socket.on('recording-consent-requested', (e: RecordingConsentRequestedEvent) => {
      if (e.callId !== this._state.callId) return;
      this.dispatch({ type: 'consent-requested', recordingId: e.recordingId });
      this.emit('recording-consent-requested', e);
    });
    socket.on('error', (e: ErrorEvent) => this.emit('signaling-error', e));
    socket.on('session-expired', () => this.emit('session-expired'));
  }

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
    if (this._state.callId !== callId || this._state.phase !== 'ended') {
      this.dispatch({ type: 'ended', reason: e.reason, callId });
      this.emit('call-ended', e);
    }
    throw new SignalingRequestError('join-call', 'call-ended', `the call has ended (${e.reason})`);
  }

  // ---- media ---------------------------------------------------------------------------------

  /** Use this stream as local media (otherwise `join` asks for camera and microphone). */
  setLocalStream(stream: MediaStream) {
    this.localStream = stream;
    this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    this.emit('local-stream', stream);
  }

  private async ensureLocalMedia(video: boolean, audio: boolean) {
    if (this.localStream) return;
    const gum = this.opts.getUserMedia ?? ((c) => navigator.mediaDevices.getUserMedia(c));
    this.setLocalStream(await gum({ video, audio }));
  }

  // ---- calls ---------------------------------------------------------------------------------

  /** Join a call (also answers a ringing call). `callType: 'audio'` joins without video. */
  async join(callId: string, o: { callType?: string; videoEnabled?: boolean; audioEnabled?: boolean } = {}): Promise<JoinCallResult> {
    const current = this._state;
    if (current.callId && current.callId !== callId && current.phase !== 'ended' && current.phase !== 'idle' && current.phase !== 'ringing') {
      await this.leave('joined another call');
    }
    const audioOnly = o.callType === 'audio' || (o.callType === undefined && this._state.callId === callId && this._state.callType === 'audio');
    const videoEnabled = audioOnly ? false : (o.videoEnabled ?? true);
    const audioEnabled = o.audioEnabled ?? true;
    // A call that ended before we knew its id (declined while createCall was under way).
    this.throwIfEnded(callId);
    this.dispatch({ type: 'join', callId, callType: o.callType ?? (audioOnly ? 'audio' : undefined), videoEnabled, audioEnabled });
    try {
      await this.fetchIceServers();
      this.throwIfEnded(callId);
      await this.ensureLocalMedia(!audioOnly, true);
      this.throwIfEnded(callId);
      this.applyTrackEnabled(videoEnabled, audioEnabled);
      let reply: JoinCallResult;
      try {
        reply = await this.request<JoinCallResult>('join-call', { callId, videoEnabled, audioEnabled });
      } catch (err) {
        this.throwIfEnded(callId); // refused because it ended meanwhile: say that
        throw err;
      }
      this.throwIfEnded(callId);
      this.afterJoin(reply);
      return reply;
    } catch (err) {
      // Ended while joining: the state already holds the server's reason.
      if (err instanceof SignalingRequestError && err.code === 'call-ended') throw err;
      // Not in the call after all: release the camera and microphone we just took.
      this.dispatch({ type: 'error', message: (err as Error).message });
      this.teardown();
      this.dispatch({ type: 'ended', reason: err instanceof SignalingRequestError ? err.code : 'join failed' });
      throw err;
    }
  }

  private afterJoin(reply: JoinCallResult) {
    this.dispatch({ type: 'joined', callId: reply.callId, participants: reply.participants, self: this.userId });
    // Whoever is no longer in the call (gone while we were away) loses their connection here.
    for (const id of [...this.peers.keys()]) if (!reply.participants.includes(id)) this.closePeer(id);
    for (const id of reply.participants) {
      if (id !== this.userId && !this.peers.has(id)) this.createPeer(id);
    }
    this.startQualityMonitoring();
    const rec = this._state.recording;
    if (rec && !this.recorder) void this.recordIfConsented(rec.recordingId);
  }

  /** Joined (or joining) a call that is not over. */
  private isInCall(): boolean {
    const p = this._state.phase;
    return p === 'connected' || p === 'waiting' || p === 'reconnecting';
  }

  /** Leave the current call and release media. */
  async leave(reason?: string): Promise<void> {
    const callId = this._state.callId;
    this.teardown();
    if (callId && this.socket?.connected) {
      await this.request('leave-call', reason ? { callId, reason } : { callId }).catch(() => undefined);
    }
    this.dispatch({ type: 'ended', reason: reason ?? 'left' });
  }

  /** After a drop: `reconnect-call` (or `join-call` when the grace period is over), then ICE restart. */
  private async resume() {
    const { callId, phase } = this._state;
    if (!callId || phase !== 'reconnecting') return;
    try {
      let reply: JoinCallResult;
      try {
        reply = await this.request<JoinCallResult>('reconnect-call', { callId });
      } catch (err) {
        if (!(err instanceof SignalingRequestError) || err.code !== 'not-in-call') throw err;
        for (const id of [...this.peers.keys()]) this.closePeer(id);
        reply = await this.request<JoinCallResult>('join-call', {
          callId,
          videoEnabled: this._state.local.videoEnabled,
          audioEnabled: this._state.local.audioEnabled,
        });
      }
      // reconnect-call resumes with video and audio on: restate our media.
      const { videoEnabled, audioEnabled, screenShareEnabled } = this._state.local;
      if (!videoEnabled || !audioEnabled || screenShareEnabled) {
        this.send('update-media', { callId, videoEnabled, audioEnabled, screenShareEnabled });
      }
      for (const peer of this.peers.values()) peer.pc.restartIce();
      this.afterJoin(reply);
      this.emit('reconnected', reply);
    } catch (err) {
      const e = err as Error;
      this.dispatch({ type: 'error', message: e.message });
      if (err instanceof SignalingRequestError && (err.code === 'call-not-joinable' || err.code === 'call-not-found')) {
        this.teardown();
        this.dispatch({ type: 'ended', reason: err.code });
      }
    }
  }

  // ---- perfect negotiation -------------------------------------------------------------------

  /**
   * Connect to a newcomer, who offers to everyone in the call as soon as it has joined (see
   * afterJoin). We create our connection at once (its candidate pool starts gathering) but
   * hold our own offer for up to `offerWaitMs` and answer theirs: one offer, no collision,
   * and measured no slower than crossing offers (docs/benchmarks/browser-setup.md). If no
   * offer comes (a client that waits to be offered to, as in the seed's example), we offer.
   */
  private awaitOffer(userId: UserId) {
    const wait = this.opts.offerWaitMs ?? 1_500;
    const peer = this.createPeer(userId, { holdOffer: wait > 0 });
    if (wait > 0) peer.holdTimer = setTimeout(() => this.releaseOffer(peer), wait);
  }

  /** Stop holding our offer; make it now if negotiation is (still) needed. */
  private releaseOffer(peer: Peer) {
    if (peer.holdTimer) clearTimeout(peer.holdTimer);
    peer.holdTimer = null;
    if (!peer.holdOffer) return;
    peer.holdOffer = false;
    if (!peer.negotiationPending || this.peers.get(peer.userId) !== peer) return;
    peer.negotiationPending = false;
    // Negotiation is still needed if a sender of ours is not in the agreed session yet.
    const unsent = peer.pc.getTransceivers().some((t) => !t.mid && t.sender.track);
    if (!peer.pc.remoteDescription || unsent) void this.negotiate(peer);
  }

  /** Make and send an offer (perfect negotiation: `makingOffer` marks the window of a collision). */
  private async negotiate(peer: Peer) {
    const pc = peer.pc;
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      const d = pc.localDescription;
      if (!d || this.peers.get(peer.userId) !== peer) return;
      this.send('offer', { callId: this._state.callId, offer: { type: d.type, sdp: d.sdp }, targetUserId: peer.userId });
    } catch (err) {
      console.warn(`vytalcall: negotiation failed: ${safeErrorText(err)}`);
    } finally {
      peer.makingOffer = false;
    }
  }

  private createPeer(userId: UserId, options: { holdOffer?: boolean } = {}): Peer {
    const Ctor = this.opts.RTCPeerConnection ?? RTCPeerConnection;
    // A candidate pool: gathering starts now, not at the first local description, so a side
    // that waits for an offer answers with candidates ready.
    const pc = new Ctor({ iceServers: this.iceServers ?? [], iceCandidatePoolSize: 1 });
    const peer: Peer = {
      userId,
      pc,
      polite: isPolite(this.userId, userId),
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswerPending: false,
      remoteFingerprint: null,
      pendingCandidates: [],
      connectTimer: null,
      connectAttempts: 0,
      holdOffer: options.holdOffer ?? false,
      holdTimer: null,
      negotiationPending: false,
      stream: null,
    };
    this.peers.set(userId, peer);
    const callId = this._state.callId;

    pc.onnegotiationneeded = () => {
      if (peer.holdOffer) {
        peer.negotiationPending = true;
        return;
      }
      void this.negotiate(peer);
    };
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate) return;
      const c: IceCandidatePayload = {
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid,
        sdpMLineIndex: candidate.sdpMLineIndex,
      };
      if (candidate.usernameFragment) c.usernameFragment = candidate.usernameFragment;
      this.send('ice-candidate', { callId, candidate: c, targetUserId: userId });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] ?? peer.stream ?? new MediaStream();
      if (!streams[0] && !stream.getTracks().includes(track)) stream.addTrack(track);
      if (peer.stream !== stream) {
        peer.stream = stream;
      }
      this.emit('remote-stream', { userId, stream });
    };
    pc.onsignalingstatechange = () => {
      // Negotiation done: the connection should come up within seconds. If it does not (a
      // lost candidate, a path that never worked), restart ICE rather than stay dark.
      if (pc.signalingState !== 'stable' || !pc.remoteDescription) return;
      if (peer.connectTimer) clearTimeout(peer.connectTimer);
      peer.connectTimer = setTimeout(() => {
        peer.connectTimer = null;
        const c = pc.connectionState;
        if (this.peers.get(userId) !== peer || c === 'connected' || c === 'closed' || !this.socket?.connected) return;
        peer.connectAttempts += 1;
        if (peer.connectAttempts === 1) {
          pc.restartIce();
        } else {
          // Still dark after an ICE restart: start over with a fresh connection. Its offer
          // carries a new DTLS fingerprint, so the other side replaces its connection too.
          this.closePeer(userId);
          this.createPeer(userId);
        }
        // The impolite side acts first; the polite one only if that did not help (both at
        // once would make their offers cross).
      }, (this.opts.connectTimeoutMs ?? 6_000) * (peer.polite ? 2 : 1));
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') peer.connectAttempts = 0;
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      const timer = this.iceTimers.get(userId);
      if (timer) clearTimeout(timer);
      this.iceTimers.delete(userId);
      if (state === 'failed') {
        pc.restartIce();
      } else if (state === 'disconnected') {
        // A network change: the path may come back by itself; if not soon, look for a new one
        // (long before the browser would declare it failed).
        const t = setTimeout(() => {
          this.iceTimers.delete(userId);
          if (pc.iceConnectionState === 'disconnected' && this.socket?.connected) pc.restartIce();
        }, this.opts.iceDisconnectedRestartMs ?? 4_000);
        this.iceTimers.set(userId, t);
      }
    };

    const stream = this.localStream;
    if (stream) {
      for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
      const video = this.screenTrack ?? (this._state.audioOnly ? null : this.cameraTrack);
      if (video) pc.addTrack(video, stream);
    }
    return peer;
  }

  private closePeer(userId: UserId) {
    const peer = this.peers.get(userId);
    if (!peer) return;
    if (peer.holdTimer) clearTimeout(peer.holdTimer);
    this.peers.delete(userId);
    const timer = this.iceTimers.get(userId);
    if (timer) clearTimeout(timer);
    this.iceTimers.delete(userId);
    if (peer.connectTimer) clearTimeout(peer.connectTimer);
    peer.pc.onnegotiationneeded = null;
    peer.pc.oniceconnectionstatechange = null;
    peer.pc.onsignalingstatechange = null;
    peer.pc.onconnectionstatechange = null;
    peer.pc.onicecandidate = null;
    peer.pc.ontrack = null;
    peer.pc.close();
    this.emit('remote-stream-removed', { userId });
  }

  private async onDescription(callId: string, from: UserId, description: RTCSessionDescriptionInit) {
    if (callId !== this._state.callId || from === this.userId) return;
    const isOffer = description.type === 'offer';
    let peer = this.peers.get(from);
    if (!peer) {
      if (!isOffer) return; // an answer to a connection we no longer have
      peer = this.createPeer(from, { holdOffer: true }); // answer first, offer later if needed
    }
    // A description from a different DTLS identity is a new peer connection on the other side
    // (a reloaded page): start over with a fresh one here too.
    const fp = sdpFingerprint(description.sdp);
    if (peer.remoteFingerprint && fp && fp !== peer.remoteFingerprint) {
      this.closePeer(from);
      if (!isOffer) {
        this.createPeer(from); // our fresh connection offers by itself
        return;
      }
      peer = this.createPeer(from, { holdOffer: true });
    }
    let pc = peer.pc;
    try {
      const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswerPending);
      const collision = isOffer && !readyForOffer;
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) return;
      if (collision && !pc.remoteDescription) {
        // Polite, and our first offer crossed theirs. Rather than rolling our offer back (after
        // which Chrome now and then never finishes gathering and the call stays dark), drop
        // this connection, which has carried nothing yet, and answer on a fresh one.
        this.closePeer(from);
        peer = this.createPeer(from, { holdOffer: true });
        pc = peer.pc;
      }
      peer.settingRemoteAnswerPending = description.type === 'answer';
      await pc.setRemoteDescription(description); // rolls back our own offer when polite
      peer.settingRemoteAnswerPending = false;
      if (fp) peer.remoteFingerprint = fp;
      await this.flushCandidates(peer);
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        const d = pc.localDescription!;
        this.send('answer', { callId, answer: { type: d.type, sdp: d.sdp }, targetUserId: from });
        if (peer.holdOffer) this.releaseOffer(peer);
      }
    } catch (err) {
      peer.settingRemoteAnswerPending = false;
      console.warn(`vytalcall: could not apply remote description: ${safeErrorText(err)}`);
    }
  }

  private async onCandidate(callId: string, from: UserId, candidate: IceCandidatePayload) {
    if (callId !== this._state.callId) return;
    const peer = this.peers.get(from);
    if (!peer) return;
    if (!peer.pc.remoteDescription) {
      // Typically the polite side's candidates for the offer it then rolled back while we (the
      // impolite side) ignored that offer. Its answer to our offer may reuse the same ICE
      // transport, so these candidates are then the only ones it ever sends: keep them until
      // a remote description arrives instead of dropping them (see flushCandidates).
      if (peer.pendingCandidates.length < 200) peer.pendingCandidates.push(candidate);
      return;
    }
    try {
      await peer.pc.addIceCandidate(candidate as RTCIceCandidateInit);
    } catch (err) {
      if (!peer.ignoreOffer) console.warn(`vytalcall: could not add ICE candidate: ${safeErrorText(err)}`);
    }
  }

  /** Add the candidates kept while there was no remote description; stale ones fail quietly. */
  private async flushCandidates(peer: Peer) {
    const pending = peer.pendingCandidates;
    peer.pendingCandidates = [];
    for (const c of pending) {
      try {
        await peer.pc.addIceCandidate(c as RTCIceCandidateInit);
      } catch {
        /* a candidate of a description that was rolled back or replaced (other ICE ufrag) */
      }
    }
  }

  // ---- media controls ------------------------------------------------------------------------

  private applyTrackEnabled(video?: boolean, audio?: boolean) {
    if (!this.localStream) return;
    if (audio !== undefined) for (const t of this.localStream.getAudioTracks()) t.enabled = audio;
    if (video !== undefined && this.cameraTrack) this.cameraTrack.enabled = video;
  }

  private updateMedia(change: { videoEnabled?: boolean; audioEnabled?: boolean; screenShareEnabled?: boolean }) {
    this.dispatch({ type: 'local-media', ...change });
    const callId = this._state.callId;
    if (callId && this._state.phase !== 'ended') this.send('update-media', { callId, ...change });
  }

  /** Mute or unmute the microphone; the others learn it through `update-media`. */
  setMuted(muted: boolean) {
    this.applyTrackEnabled(undefined, !muted);
    this.updateMedia({ audioEnabled: !muted });
  }

  /** Turn the camera off or on (the track keeps its sender; frames go black). */
  setCameraEnabled(enabled: boolean) {
    if (this._state.audioOnly && enabled) return;
    this.applyTrackEnabled(enabled, undefined);
    this.updateMedia({ videoEnabled: enabled });
  }

  /** Every connection that sends our media: one per participant, plus the recording peer. */
  private connections(): RTCPeerConnection[] {
    const out = [...this.peers.values()].map((p) => p.pc);
    if (this.recorder) out.push(this.recorder.pc);
    return out;
  }

  private videoSenders(): RTCRtpSender[] {
    const out: RTCRtpSender[] = [];
    for (const pc of this.connections()) {
      for (const s of pc.getSenders()) if (s.track?.kind === 'video') out.push(s);
    }
    return out;
  }

  /** Share the screen in place of the camera (same sender: no renegotiation). */
  async startScreenShare(): Promise<void> {
    if (this.screenTrack || this._state.audioOnly) return;
    const gdm = this.opts.getDisplayMedia ?? ((c) => navigator.mediaDevices.getDisplayMedia(c));
    const display = await gdm({ video: true, audio: false });
    const track = display.getVideoTracks()[0];
    if (!track) throw new Error('screen share: no video track');
    this.screenTrack = track;
    track.addEventListener('ended', () => void this.stopScreenShare());
    await Promise.all(this.videoSenders().map((s) => s.replaceTrack(track)));
    this.updateMedia({ screenShareEnabled: true });
  }

  /** Back to the camera. */
  async stopScreenShare(): Promise<void> {
    const track = this.screenTrack;
    if (!track) return;
    this.screenTrack = null;
    const camera = this._state.audioOnly ? null : this.cameraTrack;
    await Promise.all(
      this.connections().flatMap((pc) => pc.getSenders().filter((s) => s.track === track).map((s) => s.replaceTrack(camera))),
    );
    track.stop();
    this.updateMedia({ screenShareEnabled: false });
  }

  /** Drop video for the rest of the call (camera released; audio stays). */
  async switchToAudioOnly(): Promise<void> {
    if (this._state.audioOnly) return;
    await this.stopScreenShare();
    await Promise.all(this.videoSenders().map((s) => s.replaceTrack(null)));
    const camera = this.cameraTrack;
    if (camera) {
      camera.stop();
      this.localStream?.removeTrack(camera);
      this.cameraTrack = null;
    }
    this.dispatch({ type: 'audio-only' });
    const callId = this._state.callId;
    if (callId) this.send('update-media', { callId, videoEnabled: false, screenShareEnabled: false });
  }

  // ---- quality -------------------------------------------------------------------------------

  private startQualityMonitoring() {
    if (this.qualityTimer) return;
    this.qualityTimer = setInterval(() => void this.reportQuality(), this.opts.qualityIntervalMs ?? 10_000);
  }

  /** Measure now (all peer connections' `getStats()`) and send `connection-quality`. */
  async reportQuality(): Promise<QualityMetrics | null> {
    const callId = this._state.callId;
    if (!callId || !this.socket?.connected) return null;
    // Before any connection is up the figures mean nothing (bandwidth 0 would read as "low
    // bandwidth" and soon as a suggestion to drop video): report only with media flowing.
    if (![...this.peers.values()].some((p) => p.pc.connectionState === 'connected')) return null;
    const all: StatLike[] = [];
    for (const peer of this.peers.values()) {
      const report = await peer.pc.getStats();
      report.forEach((s: StatLike) => all.push(s));
    }
    const { metrics, snapshot } = parseStats(all, this.statsSnapshot);
    this.statsSnapshot = snapshot;
    let result: ConnectionQualityResult | null = null;
    try {
      result = await this.request<ConnectionQualityResult>('connection-quality', { callId, metrics });
    } catch (err) {
      this.emit('signaling-error', {
        event: 'connection-quality',
        error: { code: (err as SignalingRequestError).code ?? 'internal', message: (err as Error).message },
      });
    }
    this.dispatch({ type: 'quality', metrics, warning: result?.warning ?? null, suggestion: result?.suggestion ?? null });
    this.emit('quality', { metrics, result });
    return metrics;
  }

  // ---- recording peer ------------------------------------------------------------------------

  /**
   * Our own latest word on recording in this call: what we answered here, or else what the
   * call's consent history holds in our own name (a provider's attestation about us is not
   * our word). `null`: we have not said.
   */
  private async ownConsent(callId: string): Promise<boolean | null> {
    if (this._state.recordingConsent !== null) return this._state.recordingConsent;
    try {
      const call = await this.getCall(callId);
      const own = (call.consents ?? [])
        .filter((c) => c.userId === this.userId && c.recordedBy === this.userId)
        .sort((a, b) => String(a.recordedAt).localeCompare(String(b.recordedAt)));
      return own.length ? own[own.length - 1].consented : null;
    } catch {
      return null;
    }
  }

  /**
   * A recording runs: our media goes to it only on our own yes. Without our word the
   * application is asked (`consent-requested`, shown as a question); after our no nothing
   * is sent, and `setRecordingConsent(callId, true)` changes that.
   */
  private async recordIfConsented(recordingId: string): Promise<void> {
    const callId = this._state.callId;
    if (!callId || !this.isInCall() || this.opts.sendToRecorder === false) return;
    const own = await this.ownConsent(callId);
    if (this._state.callId !== callId || this._state.recording?.recordingId !== recordingId) return;
    if (own === true) {
      if (this._state.recordingConsent === null) this.dispatch({ type: 'consent-given', consented: true });
      if (this.isInCall()) void this.connectRecorder(recordingId);
    } else if (own === false) {
      if (this._state.recordingConsent === null) this.dispatch({ type: 'consent-given', consented: false });
    } else if (this._state.consentRequested !== recordingId) {
      this.dispatch({ type: 'consent-requested', recordingId });
      this.emit('recording-consent-requested', { callId, recordingId });
    }
  }

  /**
   * Send our media to the server's recording peer (ICE-lite, one host candidate, no trickle):
   * gather our candidates, POST the complete offer, apply the answer. Called only after our
   * own yes ([`recordIfConsented`]); a 409 means the server has no consent of ours on record
   * and asks through `recording-consent-requested`.
   */
  private async connectRecorder(recordingId: string): Promise<void> {
    if (this.opts.sendToRecorder === false) return;
    if (this.recorder?.recordingId === recordingId) return;
    this.closeRecorder();
    const callId = this._state.callId;
    const stream = this.localStream;
    if (!callId || !stream) return;
    const video = this.screenTrack ?? (this._state.audioOnly ? null : this.cameraTrack);
    const pc = recorderConnection(this.opts.RTCPeerConnection ?? RTCPeerConnection, stream, video, this._state.audioOnly);
    this.recorder = { recordingId, pc };
    pc.onconnectionstatechange = () => {
      if (this.recorder?.pc !== pc) return;
      if (pc.connectionState === 'connected') this.emit('recorder-connection', { recordingId, connected: true });
      if (pc.connectionState === 'failed') this.emit('recorder-connection', { recordingId, connected: false, error: 'connection failed' });
    };
    try {
      await offerToRecorder(
        pc,
        (offer) =>
          this.rest<RTCSessionDescriptionInit>(
            'POST',
            `/calls/${encodeURIComponent(callId)}/recordings/${encodeURIComponent(recordingId)}/offer`,
            offer,
          ),
        () => this.recorder?.pc === pc,
      );
    } catch (err) {
      if (this.recorder?.pc === pc) this.closeRecorder();
      const consent = err instanceof RestError && err.status === 409;
      this.emit('recorder-connection', { recordingId, connected: false, error: consent ? 'consent-required' : (err as Error).message });
    }
  }

  private closeRecorder() {
    const rec = this.recorder;
    if (!rec) return;
    this.recorder = null;
    rec.pc.onconnectionstatechange = null;
    rec.pc.close();
    this.emit('recorder-connection', { recordingId: rec.recordingId, connected: false });
  }

  // ---- teardown ------------------------------------------------------------------------------

  private teardown() {
    this.closeRecorder();
    if (this.qualityTimer) clearInterval(this.qualityTimer);
    this.qualityTimer = null;
    this.statsSnapshot = undefined;
    for (const id of [...this.peers.keys()]) this.closePeer(id);
    this.screenTrack?.stop();
    this.screenTrack = null;
    for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.localStream = null;
    this.cameraTrack = null;
  }

  /** Leave any call, release media and close the socket. */
  async close(): Promise<void> {
    if (this._state.callId && this._state.phase !== 'ended' && this._state.phase !== 'ringing') await this.leave();
    this.teardown();
    this.socket?.disconnect();
    this.socket = null;
    this.watchNetwork(false);
    this.listeners.clear();
  }
}
