/**
 * A small, pure reducer for the state of one call as the client sees it. The client feeds it
 * its own actions and the server's events; a UI renders from the result.
 */
import type { MediaState, PersonRef, QualityMetrics, QualitySuggestion, QualityWarning, UserId, WaitingRoomMessageEvent } from './events.js';

export type CallPhase =
  | 'idle' // no call
  | 'ringing' // an incoming call is waiting for accept/decline
  | 'joining' // join-call sent
  | 'waiting' // joined, nobody else connected yet
  | 'waiting-room' // seated in the call's waiting room until a provider admits us (not in the call)
  | 'connected' // joined with at least one other participant
  | 'reconnecting' // our connection dropped; reconnect-call pending
  | 'ended'; // ended, cancelled, declined or left

export interface RemoteParticipant extends MediaState {
  userId: UserId;
  /** the participant's connection dropped; within the server's grace period */
  disconnected: boolean;
}

/** Where we wait while in a call's waiting room (docs/signaling.md, "Waiting room"). */
export interface WaitingRoomState {
  /** our place in the queue, from 1 */
  position: number;
  /** a provider of the call is in it now */
  providerPresent: boolean;
  /** the server's line for the waiting person (plain words), null before the first status */
  status: string | null;
  /** the providers' latest message to the waiting room, null before any */
  message: WaitingRoomMessageEvent | null;
  /** the providers' messages while we wait, oldest first (the latest 20) */
  messages: WaitingRoomMessageEvent[];
  /** a provider let us in: the call's roster is on its way (phase `joining`) */
  admitted: boolean;
}

export interface CallState {
  phase: CallPhase;
  callId: string | null;
  callType: string | null;
  /** who placed an incoming call */
  from: UserId | null;
  /** their display name (null: unknown; show their role instead) */
  fromName: string | null;
  /** display names of the people of this call the server named (PHI: show, never log) */
  names: Record<UserId, string>;
  /** roles of the people of this call, as the server named them */
  roles: Record<UserId, NonNullable<PersonRef['role']>>;
  /** while we wait in the call's waiting room (phase `waiting-room`, or `joining` once admitted); else null */
  waitingRoom: WaitingRoomState | null;
  local: MediaState;
  audioOnly: boolean;
  participants: Record<UserId, RemoteParticipant>;
  recording: { recordingId: string } | null;
  consentRequested: string | null;
  /** our own latest answer to recording consent in this call (null: not asked or not answered) */
  recordingConsent: boolean | null;
  quality: { metrics: QualityMetrics; warning: QualityWarning | null; suggestion: QualitySuggestion | null } | null;
  endReason: string | null;
  error: string | null;
}

export type CallAction =
  | { type: 'incoming'; callId: string; callType: string; from: UserId; fromName?: string | null }
  | { type: 'join'; callId: string; callType?: string; videoEnabled?: boolean; audioEnabled?: boolean }
  | { type: 'joined'; callId: string; participants: UserId[]; people?: PersonRef[]; self: UserId }
  | { type: 'participant-joined'; userId: UserId; name?: string | null; role?: PersonRef['role']; videoEnabled: boolean; audioEnabled: boolean }
  /** `join-call` (or `reconnect-call`) seated us in the waiting room */
  | { type: 'waiting'; callId: string; position: number }
  /** `waiting-room-status`: also how a device sent back to the waiting room learns it */
  | { type: 'waiting-room-status'; callId: string; position: number; providerPresent: boolean; message: string | null }
  | { type: 'waiting-room-message'; message: WaitingRoomMessageEvent }
  | { type: 'admitted'; callId: string }
  | { type: 'participant-left'; userId: UserId }
  | { type: 'participant-disconnected'; userId: UserId }
  | { type: 'participant-media'; userId: UserId; videoEnabled: boolean; audioEnabled: boolean; screenShareEnabled: boolean }
  | { type: 'local-media'; videoEnabled?: boolean; audioEnabled?: boolean; screenShareEnabled?: boolean }
  | { type: 'audio-only' }
  | { type: 'connection-lost' }
  | { type: 'quality'; metrics: QualityMetrics; warning?: QualityWarning | null; suggestion?: QualitySuggestion | null }
  | { type: 'recording-started'; recordingId: string }
  | { type: 'recording-stopped' }
  | { type: 'consent-requested'; recordingId: string }
  | { type: 'consent-given'; consented: boolean }
  /** `callId`: the end of a call we were not in yet (it ended before we joined it). */
  | { type: 'ended'; reason: string; callId?: string }
  | { type: 'error'; message: string }
  | { type: 'reset' };

export const initialCallState: CallState = Object.freeze({
  phase: 'idle',
  callId: null,
  callType: null,
  from: null,
  fromName: null,
  names: {},
  roles: {},
  waitingRoom: null,
  local: { videoEnabled: true, audioEnabled: true, screenShareEnabled: false },
  audioOnly: false,
  participants: {},
  recording: null,
  consentRequested: null,
  recordingConsent: null,
  quality: null,
  endReason: null,
  error: null,
}) as CallState;

const anyoneConnected = (p: Record<UserId, RemoteParticipant>) => Object.values(p).some((x) => !x.disconnected);
const withoutKey = <T>(rec: Record<string, T>, key: string): Record<string, T> => {
  const { [key]: _drop, ...rest } = rec;
  return rest;
};
/** `names` with the named among `people` added (an unnamed person keeps a name we had). */
const withNames = (names: Record<UserId, string>, people: { userId: UserId; name: string | null }[]): Record<UserId, string> => {
  const named = people.filter((p) => p.name);
  if (named.length === 0) return names;
  const next = { ...names };
  for (const p of named) next[p.userId] = p.name as string;
  return next;
};
/** `roles` with the roles among `people` added. */
const withRoles = (roles: CallState['roles'], people: { userId: UserId; role?: PersonRef['role'] }[]): CallState['roles'] => {
  const known = people.filter((p) => p.role);
  if (known.length === 0) return roles;
  const next = { ...roles };
  for (const p of known) next[p.userId] = p.role as NonNullable<PersonRef['role']>;
  return next;
};
const MAX_MESSAGES = 20;
/** Phases in which a call is ours: joining it, waiting in its waiting room, or in it. */
const OURS = new Set<CallPhase>(['joining', 'waiting-room', 'waiting', 'connected', 'reconnecting']);
const seated = (state: CallState, position: number, change: Partial<WaitingRoomState> = {}): CallState => ({
  ...state,
  phase: 'waiting-room',
  // Waiting is not being in the call: nobody inside is ours to see.
  participants: {},
  waitingRoom: {
    position,
    providerPresent: state.waitingRoom?.providerPresent ?? false,
    status: state.waitingRoom?.status ?? null,
    message: state.waitingRoom?.message ?? null,
    messages: state.waitingRoom?.messages ?? [],
    ...change,
    admitted: false,
  },
  error: null,
});

const remote = (userId: UserId, media?: Partial<MediaState>): RemoteParticipant => ({
  userId,
  videoEnabled: media?.videoEnabled ?? true,
  audioEnabled: media?.audioEnabled ?? true,
  screenShareEnabled: media?.screenShareEnabled ?? false,
  disconnected: false,
});

export function callReducer(state: CallState, action: CallAction): CallState {
  switch (action.type) {
    case 'reset':
      return initialCallState;
    case 'incoming':
      // A second incoming call does not replace a call in progress.
      if (state.phase !== 'idle' && state.phase !== 'ended') return state;
      return {
        ...initialCallState,
        phase: 'ringing',
        callId: action.callId,
        callType: action.callType,
        from: action.from,
        fromName: action.fromName ?? null,
        names: action.fromName ? { [action.from]: action.fromName } : {},
      };
    case 'join': {
      const audioOnly = action.callType === 'audio';
      return {
        ...(state.callId === action.callId ? state : initialCallState),
        phase: 'joining',
        callId: action.callId,
        callType: action.callType ?? (state.callId === action.callId ? state.callType : null),
        audioOnly,
        local: {
          videoEnabled: audioOnly ? false : (action.videoEnabled ?? true),
          audioEnabled: action.audioEnabled ?? true,
          screenShareEnabled: false,
        },
        waitingRoom: null,
        endReason: null,
        error: null,
      };
    }
    case 'waiting':
      if (action.callId !== state.callId || !OURS.has(state.phase)) return state;
      return seated(state, action.position);
    case 'waiting-room-status':
      // Also while in the call: a provider sent us back.
      if (action.callId !== state.callId || !OURS.has(state.phase)) return state;
      return seated(state, action.position, { providerPresent: action.providerPresent, status: action.message });
    case 'waiting-room-message': {
      const wr = state.waitingRoom;
      if (action.message.callId !== state.callId || !wr || state.phase !== 'waiting-room') return state;
      const messages = [...wr.messages, action.message].slice(-MAX_MESSAGES);
      return { ...state, waitingRoom: { ...wr, message: action.message, messages } };
    }
    case 'admitted':
      if (action.callId !== state.callId || state.phase !== 'waiting-room' || !state.waitingRoom) return state;
      return { ...state, phase: 'joining', waitingRoom: { ...state.waitingRoom, admitted: true } };
    case 'joined': {
      // A late reply does not bring back a call that ended meanwhile.
      if (action.callId !== state.callId || state.phase === 'ended' || state.phase === 'idle') return state;
      const participants: Record<UserId, RemoteParticipant> = {};
      for (const id of action.participants) {
        if (id === action.self) continue;
        participants[id] = state.participants[id] ? { ...state.participants[id], disconnected: false } : remote(id);
      }
      const people = action.people ?? [];
      return {
        ...state,
        participants,
        names: withNames(state.names, people),
        roles: withRoles(state.roles, people),
        waitingRoom: null,
        phase: anyoneConnected(participants) ? 'connected' : 'waiting',
        error: null,
      };
    }
    case 'participant-joined': {
      if (state.phase === 'idle' || state.phase === 'ended' || state.phase === 'ringing' || state.phase === 'waiting-room') return state;
      const { userId, name, role, videoEnabled, audioEnabled } = action;
      const participants = { ...state.participants, [userId]: remote(userId, { videoEnabled, audioEnabled }) };
      const names = withNames(state.names, [{ userId, name: name ?? null }]);
      const roles = withRoles(state.roles, [{ userId, role }]);
      return { ...state, participants, names, roles, phase: state.phase === 'joining' || state.phase === 'reconnecting' ? state.phase : 'connected' };
    }
    case 'participant-left': {
      if (!state.participants[action.userId]) return state;
      const participants = withoutKey(state.participants, action.userId);
      const phase = state.phase === 'connected' && !anyoneConnected(participants) ? 'waiting' : state.phase;
      return { ...state, participants, phase };
    }
    case 'participant-disconnected': {
      const p = state.participants[action.userId];
      if (!p) return state;
      const participants = { ...state.participants, [action.userId]: { ...p, disconnected: true } };
      const phase = state.phase === 'connected' && !anyoneConnected(participants) ? 'waiting' : state.phase;
      return { ...state, participants, phase };
    }
    case 'participant-media': {
      const p = state.participants[action.userId] ?? remote(action.userId);
      const { type: _t, ...media } = action;
      return { ...state, participants: { ...state.participants, [action.userId]: { ...p, ...media, disconnected: false } } };
    }
    case 'local-media': {
      const local = { ...state.local };
      if (action.videoEnabled !== undefined) local.videoEnabled = state.audioOnly ? false : action.videoEnabled;
      if (action.audioEnabled !== undefined) local.audioEnabled = action.audioEnabled;
      if (action.screenShareEnabled !== undefined) local.screenShareEnabled = action.screenShareEnabled;
      return { ...state, local };
    }
    case 'audio-only':
      return { ...state, audioOnly: true, local: { ...state.local, videoEnabled: false, screenShareEnabled: false } };
    case 'connection-lost':
      if (state.phase === 'connected' || state.phase === 'waiting' || state.phase === 'joining' || state.phase === 'waiting-room') {
        return { ...state, phase: 'reconnecting' };
      }
      return state;
    case 'quality':
      return {
        ...state,
        quality: { metrics: action.metrics, warning: action.warning ?? null, suggestion: action.suggestion ?? null },
      };
    case 'recording-started':
      return { ...state, recording: { recordingId: action.recordingId } };
    case 'recording-stopped':
      return { ...state, recording: null };
    case 'consent-requested':
      return { ...state, consentRequested: action.recordingId };
    case 'consent-given':
      return { ...state, consentRequested: null, recordingConsent: action.consented };
    case 'ended':
      if (action.callId !== undefined && action.callId !== state.callId) {
        // Another call than ours: it does not disturb a call in progress.
        if (state.phase !== 'idle' && state.phase !== 'ended') return state;
        return { ...initialCallState, phase: 'ended', callId: action.callId, endReason: action.reason };
      }
      if (state.phase === 'idle') return state;
      return { ...state, phase: 'ended', endReason: action.reason, participants: {}, recording: null, consentRequested: null, waitingRoom: null };
    case 'error':
      return { ...state, error: action.message };
  }
}
