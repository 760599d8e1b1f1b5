// The client's shared plumbing: its options and events, the typed event emitter, the call
// state and its reducer dispatch, the token, and requests over the signaling socket. Every
// other part (REST, peers, media, quality, recording) works through one `ClientCore`.
import type { Socket, ManagerOptions, SocketOptions, io as defaultIo } from 'socket.io-client';
import type {
  AdmittedEvent,
  CallAnsweredEvent,
  CallEndedEvent,
  ConnectionQualityResult,
  ErrorEvent,
  IncomingCallEvent,
  JoinCallResult,
  ParticipantDisconnectedEvent,
  ParticipantJoinedEvent,
  ParticipantLeftEvent,
  ParticipantMediaUpdatedEvent,
  QualityMetrics,
  QualityWarningEvent,
  RecordingConsentRequestedEvent,
  RecordingStartedEvent,
  RecordingStoppedEvent,
  Reply,
  UserId,
  WaitingResult,
  WaitingRoomEvent,
  WaitingRoomMessageEvent,
  WaitingRoomStatusEvent,
} from './events.js';
import { isErrorReply } from './events.js';
import { callReducer, initialCallState, type CallAction, type CallState } from './state.js';
import { normalizeApiUrl, tokenSubject } from './util.js';
import { SignalingRequestError } from './errors.js';

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
  reconnected: (e: JoinCallResult | WaitingResult) => void;
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
  /** Our place in a call's waiting room, and whether a provider is there (also: we were sent back). */
  'waiting-room-status': (e: WaitingRoomStatusEvent) => void;
  /** A provider's message to the waiting room we sit in. */
  message: (e: WaitingRoomMessageEvent) => void;
  /** A provider let us in; the call's roster follows and the client connects as after a join. */
  admitted: (e: AdmittedEvent) => void;
  /** Providers: who waits in the waiting room of one of our calls (the whole queue, in order). */
  'waiting-room': (e: WaitingRoomEvent) => void;
  /** Our media reaches the recording peer (`connected: true`) or no longer does. */
  'recorder-connection': (e: { recordingId: string; connected: boolean; error?: string }) => void;
}

type Listener = (...args: any[]) => void;

/** What every part of the client shares; held once by `VytalcallClient`, not exported. */
export class ClientCore {
  readonly userId: UserId;
  readonly opts: VytalcallClientOptions;
  readonly apiUrl: string;
  token: string;
  /** The signaling socket (after `connect()`). */
  socket: Socket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  private _state: CallState = initialCallState;

  constructor(options: VytalcallClientOptions) {
    this.opts = options;
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
    const apiUrl = options.apiUrl ?? origin;
    if (!apiUrl) throw new Error('VytalcallClient: apiUrl is required outside a browser page');
    this.apiUrl = normalizeApiUrl(apiUrl);
    this.userId = tokenSubject(options.token);
    this.token = options.token;
  }

  /** See `VytalcallClient.setToken`. */
  setToken(token: string) {
    if (tokenSubject(token) !== this.userId) throw new Error('setToken: the token is for another user');
    this.token = token;
    if (this.socket) this.socket.auth = this.authPayload();
  }

  authPayload(): Record<string, string> {
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

  emit<E extends keyof VytalcallClientEvents>(event: E, ...args: Parameters<VytalcallClientEvents[E]>) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`vytalcall: listener of ${event} threw:`, err);
      }
    }
  }

  clearListeners() {
    this.listeners.clear();
  }

  // ---- call state ----------------------------------------------------------------------------

  get state(): CallState {
    return this._state;
  }

  dispatch(action: CallAction) {
    const next = callReducer(this._state, action);
    if (next !== this._state) {
      this._state = next;
      this.emit('state', next);
    }
  }

  /** Joined (or joining) a call that is not over. */
  isInCall(): boolean {
    const p = this._state.phase;
    return p === 'connected' || p === 'waiting' || p === 'reconnecting';
  }

  // ---- requests over the socket --------------------------------------------------------------

  request<T>(event: string, payload: unknown): Promise<T> {
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

  send(event: string, payload: unknown) {
    // Fire-and-forget with an ack so that a refusal is reported, never thrown.
    this.request(event, payload).catch((err: unknown) => {
      const e = err as { code?: string; message?: string };
      this.emit('signaling-error', { event, error: { code: e.code ?? 'internal', message: e.message ?? String(err) } });
    });
  }
}
