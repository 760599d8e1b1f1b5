/**
 * Typed events and payloads of vytalcall's signaling contract (Socket.IO namespace `/webrtc`).
 * See docs/signaling.md in the server repository for every rule behind these shapes.
 */

/** A user id: the `sub` claim of the user's token. */
export type UserId = string;
/** ISO 8601 UTC timestamp with milliseconds. */
export type Timestamp = string;

export type CallType = 'video' | 'audio' | (string & {});

/** Error codes an event can be refused with. */
export type SignalingErrorCode =
  | 'invalid-payload'
  | 'payload-too-large'
  | 'rate-limited'
  | 'unknown-event'
  | 'call-not-found'
  | 'forbidden'
  | 'call-not-joinable'
  | 'not-joined'
  | 'not-admitted'
  | 'not-waiting'
  | 'call-full'
  | 'target-not-in-call'
  | 'not-in-call'
  | 'busy'
  | 'unavailable'
  | 'internal'
  | 'token-expired'
  | (string & {});

export interface SignalingError {
  code: SignalingErrorCode;
  message: string;
}

/** Failure reply of an acknowledged event. */
export interface ErrorReply {
  error: SignalingError;
}

/** Success reply of an acknowledged event: `{ ok: true, ...T }`. */
export type OkReply<T> = { ok: true } & T;
export type Reply<T> = OkReply<T> | ErrorReply;

export function isErrorReply<T>(reply: Reply<T>): reply is ErrorReply {
  return typeof reply === 'object' && reply !== null && 'error' in reply;
}

// ---- payload pieces --------------------------------------------------------------------------

export interface SessionDescription<K extends string> {
  type: K;
  sdp: string;
}

export interface IceCandidatePayload {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** Metrics of a `connection-quality` report (units as in the seed design). */
export interface QualityMetrics {
  /** kbps, 0..10,000,000 */
  bandwidth: number;
  /** round-trip time, ms */
  latency: number;
  /** percent, 0..100 */
  packetLoss: number;
  /** ms */
  jitter: number;
  /** `WIDTHxHEIGHT` */
  videoResolution?: string;
}

export type QualityWarning = 'high-packet-loss' | 'low-bandwidth' | 'high-latency' | 'high-jitter' | (string & {});
export type QualitySuggestion = 'reduce-video-quality' | 'switch-to-audio-only' | 'check-network' | (string & {});

export interface MediaState {
  videoEnabled: boolean;
  audioEnabled: boolean;
  screenShareEnabled: boolean;
}

// ---- client -> server ------------------------------------------------------------------------

export interface JoinCallPayload {
  callId: string;
  videoEnabled?: boolean;
  audioEnabled?: boolean;
}
export interface JoinCallResult {
  callId: string;
  /** absent when `alreadyJoined` */
  roomId?: string;
  /** absent when `alreadyJoined` */
  status?: string;
  /** every user connected to the call, ourselves included */
  participants: UserId[];
  /** the same people as `participants`, in order, with role and display name */
  people: PersonRef[];
  /** absent when `alreadyJoined` */
  resumed?: boolean;
  /** this connection had joined the call before: nothing changed */
  alreadyJoined?: boolean;
}
export interface LeaveCallPayload {
  callId: string;
  reason?: string;
}
export interface OfferPayload {
  callId: string;
  offer: SessionDescription<'offer'>;
  targetUserId?: UserId;
}
export interface AnswerPayload {
  callId: string;
  answer: SessionDescription<'answer' | 'pranswer'>;
  targetUserId?: UserId;
}
export interface IceCandidateOutPayload {
  callId: string;
  candidate: IceCandidatePayload;
  targetUserId?: UserId;
}
export interface UpdateMediaPayload {
  callId: string;
  videoEnabled?: boolean;
  audioEnabled?: boolean;
  screenShareEnabled?: boolean;
}
export interface ConnectionQualityPayload {
  callId: string;
  metrics: QualityMetrics;
}
export interface ConnectionQualityResult {
  callId: string;
  stored: boolean;
  warning: QualityWarning | null;
  suggestion: QualitySuggestion | null;
}
export interface ReconnectCallPayload {
  callId: string;
}
export interface CallIdResult {
  callId: string;
}

// ---- waiting room (docs/signaling.md, "Waiting room") ----------------------------------------

/** The reply of a `join-call` that seated the device in the call's waiting room. */
export interface WaitingResult {
  callId: string;
  status: CallStatus;
  waiting: true;
  /** 1-based place in the queue */
  position: number;
}

/** Whether a `join-call` (or `reconnect-call`) reply seated us in the waiting room instead of joining. */
export function isWaitingResult(reply: JoinCallResult | WaitingResult): reply is WaitingResult {
  return typeof reply === 'object' && reply !== null && (reply as WaitingResult).waiting === true;
}
export type CheckResult = 'ok' | 'failed' | 'unavailable';
export interface DeviceCheckPayload {
  callId: string;
  camera: CheckResult;
  microphone: CheckResult;
  speaker: CheckResult;
  network: CheckResult | { result: CheckResult; rttMs?: number | null; turn?: boolean | null };
}
export interface DeviceCheck {
  camera: CheckResult;
  microphone: CheckResult;
  speaker: CheckResult;
  network: { result: CheckResult; rttMs: number | null; turn: boolean | null };
}
export interface DoorPayload {
  callId: string;
  userId: UserId;
}
export interface DoorResult {
  callId: string;
  userId: UserId;
}
export interface WaitingRoomMessagePayload {
  callId: string;
  /** at most 280 characters */
  text: string;
}

type Ack<T> = (reply: Reply<T>) => void;

/** Events the client emits, with their acknowledgement reply types. */
export interface ClientToServerEvents {
  'join-call': (payload: JoinCallPayload, ack?: Ack<JoinCallResult | WaitingResult>) => void;
  'leave-call': (payload: LeaveCallPayload, ack?: Ack<CallIdResult>) => void;
  offer: (payload: OfferPayload, ack?: Ack<CallIdResult>) => void;
  answer: (payload: AnswerPayload, ack?: Ack<CallIdResult>) => void;
  'ice-candidate': (payload: IceCandidateOutPayload, ack?: Ack<CallIdResult>) => void;
  'update-media': (payload: UpdateMediaPayload, ack?: Ack<CallIdResult & Partial<MediaState>>) => void;
  'connection-quality': (payload: ConnectionQualityPayload, ack?: Ack<ConnectionQualityResult>) => void;
  'reconnect-call': (payload: ReconnectCallPayload, ack?: Ack<JoinCallResult | WaitingResult>) => void;
  'device-check': (payload: DeviceCheckPayload, ack?: Ack<CallIdResult>) => void;
  'admit-participant': (payload: DoorPayload, ack?: Ack<DoorResult>) => void;
  'return-to-waiting-room': (payload: DoorPayload, ack?: Ack<DoorResult>) => void;
  'waiting-room-message': (payload: WaitingRoomMessagePayload, ack?: Ack<CallIdResult>) => void;
}

// ---- server -> client ------------------------------------------------------------------------

/** A person in a participant list; `role` and `name` are null when the server does not know them. */
export interface PersonRef {
  userId: UserId;
  role: 'patient' | 'provider' | 'admin' | null;
  /** the display name of their latest token (PHI: show it, never log it) */
  name: string | null;
}
export interface IncomingCallEvent {
  callId: string;
  callType: CallType;
  from: UserId;
  /** the caller's display name, null when unknown */
  fromName: string | null;
  roomId: string;
  scheduledAt: Timestamp | null;
}
export interface CallAnsweredEvent {
  callId: string;
  answeredBy: UserId;
  timestamp: Timestamp;
}
export interface CallEndedEvent {
  callId: string;
  reason: string;
  timestamp: Timestamp;
}
export type CallCancelledEvent = CallEndedEvent;
export interface ParticipantJoinedEvent {
  callId: string;
  userId: UserId;
  /** the joiner's display name, null when unknown */
  name: string | null;
  role: 'patient' | 'provider' | 'admin';
  videoEnabled: boolean;
  audioEnabled: boolean;
  reconnected: boolean;
}
export interface ParticipantLeftEvent {
  callId: string;
  userId: UserId;
  reason: string;
}
export interface ParticipantDisconnectedEvent {
  callId: string;
  userId: UserId;
  timestamp: Timestamp;
}
export interface RoomParticipantsEvent {
  callId: string;
  participants: UserId[];
  /** the same people as `participants`, in order, with role and display name */
  people: PersonRef[];
}
export interface OfferEvent {
  callId: string;
  offer: SessionDescription<'offer'>;
  fromUserId: UserId;
}
export interface AnswerEvent {
  callId: string;
  answer: SessionDescription<'answer' | 'pranswer'>;
  fromUserId: UserId;
}
export interface IceCandidateEvent {
  callId: string;
  candidate: IceCandidatePayload;
  fromUserId: UserId;
}
export interface ParticipantMediaUpdatedEvent extends MediaState {
  callId: string;
  userId: UserId;
}
export interface QualityWarningEvent {
  callId: string;
  warning: QualityWarning;
  suggestion: QualitySuggestion;
  metrics: QualityMetrics;
}
export interface RequestQualityStatsEvent {
  callId: string;
}
export interface RecordingStartedEvent {
  callId: string;
  recordingId: string;
  startedBy: UserId;
  timestamp: Timestamp;
}
export interface RecordingStoppedEvent {
  callId: string;
  recordingId: string;
  stoppedBy: UserId;
  timestamp: Timestamp;
}
export interface RecordingConsentRequestedEvent {
  callId: string;
  recordingId: string;
}
export interface WaitingRoomStatusEvent {
  callId: string;
  position: number;
  /** a line to show the waiting person */
  message: string;
  providerPresent: boolean;
}
export interface WaitingPerson {
  userId: UserId;
  /** display name (PHI: show it, never log it); null when unknown */
  name: string | null;
  role: 'patient' | 'guest';
  since: Timestamp;
  deviceCheck: DeviceCheck | null;
}
export interface WaitingRoomEvent {
  callId: string;
  waiting: WaitingPerson[];
}
export interface AdmittedEvent {
  callId: string;
  admittedBy: UserId;
  timestamp: Timestamp;
}
export interface WaitingRoomMessageEvent {
  callId: string;
  text: string;
  fromUserId: UserId;
  timestamp: Timestamp;
}
export interface ErrorEvent {
  event?: string;
  error: SignalingError;
}

/** Events the server emits. */
export interface ServerToClientEvents {
  'incoming-call': (e: IncomingCallEvent) => void;
  'call-answered': (e: CallAnsweredEvent) => void;
  'call-ended': (e: CallEndedEvent) => void;
  'call-cancelled': (e: CallCancelledEvent) => void;
  'participant-joined': (e: ParticipantJoinedEvent) => void;
  'participant-left': (e: ParticipantLeftEvent) => void;
  'participant-disconnected': (e: ParticipantDisconnectedEvent) => void;
  'room-participants': (e: RoomParticipantsEvent) => void;
  offer: (e: OfferEvent) => void;
  answer: (e: AnswerEvent) => void;
  'ice-candidate': (e: IceCandidateEvent) => void;
  'participant-media-updated': (e: ParticipantMediaUpdatedEvent) => void;
  'quality-warning': (e: QualityWarningEvent) => void;
  'request-quality-stats': (e: RequestQualityStatsEvent) => void;
  'recording-started': (e: RecordingStartedEvent) => void;
  'recording-stopped': (e: RecordingStoppedEvent) => void;
  'recording-consent-requested': (e: RecordingConsentRequestedEvent) => void;
  'session-expired': (e?: unknown) => void;
  'waiting-room-status': (e: WaitingRoomStatusEvent) => void;
  'waiting-room': (e: WaitingRoomEvent) => void;
  admitted: (e: AdmittedEvent) => void;
  message: (e: WaitingRoomMessageEvent) => void;
  error: (e: ErrorEvent) => void;
}

/** Names of every server → client event of the contract. */
export const SERVER_EVENTS = [
  'incoming-call',
  'call-answered',
  'call-ended',
  'call-cancelled',
  'participant-joined',
  'participant-left',
  'participant-disconnected',
  'room-participants',
  'offer',
  'answer',
  'ice-candidate',
  'participant-media-updated',
  'quality-warning',
  'request-quality-stats',
  'recording-started',
  'recording-stopped',
  'recording-consent-requested',
  'session-expired',
  'waiting-room-status',
  'waiting-room',
  'admitted',
  'message',
  'error',
] as const satisfies readonly (keyof ServerToClientEvents)[];

/** Names of every client → server event of the contract. */
export const CLIENT_EVENTS = [
  'join-call',
  'leave-call',
  'offer',
  'answer',
  'ice-candidate',
  'update-media',
  'connection-quality',
  'reconnect-call',
  'device-check',
  'admit-participant',
  'return-to-waiting-room',
  'waiting-room-message',
] as const satisfies readonly (keyof ClientToServerEvents)[];

/** Response of `GET /webrtc/ice-servers`. */
export interface IceServersResponse {
  iceServers: { urls: string[]; username?: string; credential?: string }[];
  expiresAt?: string;
}

// ---- REST bodies -----------------------------------------------------------------------------

export type CallStatus = 'scheduled' | 'ringing' | 'active' | 'ended' | 'cancelled' | 'missed' | 'failed' | (string & {});

/** A call as the REST API returns it (`POST /webrtc/calls`, `GET /webrtc/calls`). */
export interface Call {
  id: string;
  roomId: string;
  patientId: string;
  /** the patient's display name, null when unknown */
  patientName: string | null;
  providerId: string;
  /** the display name of `providerId`, null when unknown */
  providerName: string | null;
  providerIds: UserId[];
  initiatedBy: UserId;
  type: CallType;
  status: CallStatus;
  scheduledAt: Timestamp | null;
  appointmentId: string | null;
  recordingEnabled: boolean;
  /** the patient waits in a waiting room until a provider admits them (docs/signaling.md) */
  waitingRoom: boolean;
  createdAt: Timestamp;
  ringingAt: Timestamp | null;
  answeredAt: Timestamp | null;
  endedAt: Timestamp | null;
  endReason: string | null;
  durationSeconds: number | null;
}

/** `GET /webrtc/calls/:id`: the call with its device records, transitions and consents. */
export interface CallDetails extends Call {
  participants: {
    userId: UserId;
    name: string | null;
    role: string;
    deviceId: string | null;
    joinedAt: Timestamp;
    leftAt: Timestamp | null;
    leaveReason: string | null;
    videoEnabled: boolean;
    audioEnabled: boolean;
    screenShareEnabled: boolean;
  }[];
  transitions: { from: string | null; to: string; at: Timestamp; actorId: string | null; actorRole: string | null; reason: string | null }[];
  consents: { userId: UserId; consented: boolean; method: string; recordedBy: UserId; recordedAt: Timestamp }[];
}

/** `GET /webrtc/patients/recent`: whom a provider can call, most recent first. */
export interface RecentPatients {
  patients: { id: UserId; name: string | null; lastCallAt: Timestamp; calls: number }[];
}

/** `GET /webrtc/people/:id`: someone the server has met. */
export interface Person {
  id: UserId;
  role: 'patient' | 'provider' | 'admin';
  name: string | null;
}

/** `GET /webrtc/calls`: one page. */
export interface CallPage {
  calls: Call[];
  total: number;
  limit: number;
  offset: number;
}
