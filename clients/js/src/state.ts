/**
 * A small, pure reducer for the state of one call as the client sees it. The client feeds it
 * its own actions and the server's events; a UI renders from the result.
 */
import type { MediaState, PersonRef, QualityMetrics, QualitySuggestion, QualityWarning, UserId } from './events.js';

export type CallPhase =
  | 'idle' // no call
  | 'ringing' // an incoming call is waiting for accept/decline
  | 'joining' // join-call sent
  | 'waiting' // joined, nobody else connected yet
  | 'connected' // joined with at least one other participant
  | 'reconnecting' // our connection dropped; reconnect-call pending
  | 'ended'; // ended, cancelled, declined or left

export interface RemoteParticipant extends MediaState {
  userId: UserId;
  /** the participant's connection dropped; within the server's grace period */
  disconnected: boolean;
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
  | { type: 'participant-joined'; userId: UserId; name?: string | null; videoEnabled: boolean; audioEnabled: boolean }
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
        endReason: null,
        error: null,
      };
    }
    case 'joined': {
      // A late reply does not bring back a call that ended meanwhile.
      if (action.callId !== state.callId || state.phase === 'ended' || state.phase === 'idle') return state;
      const participants: Record<UserId, RemoteParticipant> = {};
      for (const id of action.participants) {
        if (id === action.self) continue;
        participants[id] = state.participants[id] ? { ...state.participants[id], disconnected: false } : remote(id);
      }
      return { ...state, participants, names: withNames(state.names, action.people ?? []), phase: anyoneConnected(participants) ? 'connected' : 'waiting', error: null };
    }
    case 'participant-joined': {
      if (state.phase === 'idle' || state.phase === 'ended' || state.phase === 'ringing') return state;
      const participants = { ...state.participants, [action.userId]: remote(action.userId, action) };
      const names = withNames(state.names, [{ userId: action.userId, name: action.name ?? null }]);
      return { ...state, participants, names, phase: state.phase === 'joining' || state.phase === 'reconnecting' ? state.phase : 'connected' };
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
      if (state.phase === 'connected' || state.phase === 'waiting' || state.phase === 'joining') {
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
      return { ...state, phase: 'ended', endReason: action.reason, participants: {}, recording: null, consentRequested: null };
    case 'error':
      return { ...state, error: action.message };
  }
}
